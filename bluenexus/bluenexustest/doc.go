// Package bluenexustest is an emulator of the BlueNexus contract that the
// Manage Connections flow depends on, for tests, demos and local
// development. [NewServer] starts a real [net/http.Server] on 127.0.0.1 with
// a random port; point a client at [Server.URL] and send browsers to
// [Server.WhiteLabelURL].
//
// # What it emulates
//
//   - POST /api/v1/auth/handoff/init: Authorization: Bearer <user token>,
//     JSON body {"redirectUri", "intent"}; answers 200
//     {"code": "...", "expiresAt": "<RFC 3339>"}.
//   - GET /api/v1/connections?page&limit&sortBy&sortOrder&filter: answers
//     {"data": [...], "pagination": {...}} in either published pagination
//     shape ([WithPaginationShape], [Server.SetPaginationShape]). Defaults:
//     page 1, limit 20 (1 to 100), sortBy createdAt (or updatedAt,
//     providerId), sortOrder desc (or asc); filter is URL-encoded JSON with
//     the keys status and providerId, such as {"status":"active"}. Anything
//     else is a 400 with a field error.
//   - GET /api/v1/connections/{id} and PUT /api/v1/connections/{id}/refresh:
//     answer the connection object itself.
//   - GET /white-label?code=C: the white-label Manage Connections page,
//     where a user lists, connects (simulated google, notion, slack, github)
//     and removes connections, then chooses Done to go back to the app.
//
// Errors use the documented body {"error": "BadRequestError", "message":
// "...", "statusCode": 400} ([bluenexus.ErrorBody]); 400 validation errors add
// "errors": [{"field", "message", "value"}].
//
// # What it enforces
//
//   - Tokens: every API call needs the bearer token of a known user
//     ([Server.AddUser], [WithUser], [WithUserToken]); otherwise 401
//     UnauthorizedError. A connection of another user is 404 NotFoundError.
//   - Handoff init: a JSON body (415 otherwise, 413 over 64 KiB), intent
//     "connections", and a redirectUri that is absolute https, http only to a
//     loopback host (127.0.0.0/8, ::1, localhost), or a custom app scheme in
//     hierarchical form (yourapp://connections). javascript:, data:, file:
//     and similar schemes, user information, fragments, backslashes,
//     whitespace and control characters are rejected with a 400 naming the
//     field.
//   - IP fingerprint: the init call's client IP is the last entry of the
//     client-IP header ([WithClientIPHeader], default X-Forwarded-For, every
//     instance merged) when present, else the TCP peer. A present header whose
//     last entry is not exactly one IP answers 400 with
//     [bluenexus.ClientCriteriaMessage]. The browser that opens the
//     white-label page must come from that IP (its TCP peer; headers are not
//     read there). All loopback addresses count as the same machine, so local
//     development works whether the browser uses 127.0.0.1 or ::1.
//   - Codes: 32 random bytes, base64url; they expire [WithCodeTTL] (default
//     30s) after issue by the [WithClock] clock, work once, and only for the
//     intent they were issued for. Any presentation of a known code consumes
//     it, including one refused for the wrong IP.
//   - The white-label page answers a bad or unknown code with 400, an
//     expired or used one with 410, and a wrong IP with 403, each as an HTML
//     error page. On success it sets its own session cookie (HttpOnly,
//     SameSite=Lax, Path=/white-label) and redirects (303) to
//     /white-label/session, so the code leaves the address bar. Each
//     handoff opens its own session and the cookie lists the browser's live
//     ones (at most 5), so several tabs can sit on the page at once; the
//     page shows the newest, and each form's per-session CSRF token names
//     the session it belongs to. Done redirects (303) to the redirectUri
//     exactly as given at init, deep links included; it adds error and
//     error_description only after [Server.ReturnWithError]. Every page
//     response sends Cache-Control: no-store and Referrer-Policy: no-referrer.
//
// # Fault injection
//
// [Server.Inject] queues faults per exact URL path, played one per request
// before normal behaviour resumes ("fail twice, then succeed");
// [Server.InjectAlways] sets a fault for every later request; [Server.ClearFaults]
// removes them. Faults cover latency, error statuses with Retry-After,
// malformed, oversized and non-JSON bodies, redirects and connection resets;
// see [Fault]. [Server.Hits] counts every request per path, faulted or not.
//
// # Limits
//
// The emulator follows the published contract; where BlueNexus does not
// publish a behaviour it picks the likeliest one. It has no rate limiting
// (inject a 429 with [RetryAfter] instead), no token expiry or refresh, no
// 403 for tokens of non-white-label clients (inject one with [Status]), no real
// provider OAuth (connecting is instant), no TLS (its cookie is therefore not
// Secure), and keeps all state in memory. It logs nothing.
package bluenexustest
