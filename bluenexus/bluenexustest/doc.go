// Package bluenexustest is an emulator of the BlueNexus contract that the
// Manage Connections flow depends on, for tests, demos and local
// development. [NewServer] starts a real [net/http.Server] on 127.0.0.1 with
// a random port; point a client at [Server.URL] and send browsers to
// [Server.WhiteLabelURL]. The bluenexus-emulator command serves it
// standalone, with a control API for tests in other languages
// (docs/emulator.md).
//
// It is a stand-in written from BlueNexus's published documentation
// (docs/BLUENEXUS.md), not BlueNexus: where the documentation is silent it
// picks the likeliest behaviour, and says so below. A test that passes
// against it shows that an app keeps the published contract, not that it
// works with the real service.
//
// # What it emulates
//
//   - POST /api/v1/auth/handoff/init: Authorization: Bearer <user token>,
//     JSON body {"redirectUri", "intent"}; answers 200
//     {"code": "...", "expiresAt": "<RFC 3339>"}.
//   - POST /api/v1/auth/token, form-encoded grant_type=refresh_token and
//     refresh_token, with client authentication; answers 200
//     {"token_type": "Bearer", "access_token", "expires_in",
//     "refresh_token", "refresh_expires_in", "scope"}. See Tokens below.
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
//     where a user lists, connects (simulated google, notion, slack, github),
//     reconnects and removes connections, then chooses Done to go back to
//     the app. Its forms are listed under "The white-label page" below.
//   - GET /healthz ([PathHealth]) answers 200 "ok"; with [WithControlAPI],
//     the control API lives under /_emulator/. Neither is a BlueNexus path:
//     they are never counted, faulted or rate limited.
//
// Errors use the documented body {"error": "BadRequestError", "message":
// "...", "statusCode": 400}; 400 validation errors add
// "errors": [{"field", "message", "value"}]. The token endpoint's errors
// carry the OAuth code instead ({"error": "invalid_grant", "message",
// "error_description", "statusCode": 400}), readable in both shapes.
//
// # Tokens
//
// Every API call needs a live bearer token of a known user; otherwise 401
// UnauthorizedError (message "Missing access token", "Invalid or expired
// access token", "Access token expired" or "Access token revoked"). A
// connection of another user is 404 NotFoundError. There are two kinds of
// token:
//
//   - [Server.SignIn] signs a user in: a new auth session and its first
//     pair, as BlueNexus issues them (BLUENEXUS.md section 6). The access
//     token expires [WithTokenTTL] after issue (default 900s), the refresh
//     token [WithRefreshTTL] after issue (default 7 days), on the
//     [WithClock] clock. The token endpoint trades a refresh token for a new
//     pair in the same session. Refresh tokens are single use: presenting a
//     used one again is replay (RFC 9700 section 4.14.2), which revokes the
//     whole session (every access and refresh token of it) and answers 400
//     invalid_grant; [Server.RefreshReplays] counts replays, so tests can
//     assert none happened. An unknown, expired or revoked refresh token is
//     400 invalid_grant too. The access tokens of earlier pairs keep working
//     until they expire, as JWTs do. [TokenVariants] make the token
//     endpoint give other answers RFC 6749 allows: no rotation, no
//     expires_in, a lower-case token type, form-encoded errors, a
//     misconfigured client, a reuse grace.
//   - [Server.AddUser] (and [WithUser], [WithUserToken]) gives a user one
//     static token that never expires and has no refresh token, for apps
//     that hold a fixed token, such as the demo. This departs from
//     BlueNexus on purpose.
//
// [Server.RevokeSessions] revokes every session of a user, static token
// included. The token endpoint authenticates the app's auth client
// ([WithClientCredentials], read back with [Server.ClientCredentials]) by
// HTTP Basic or by client_id and client_secret in the form, never both
// (400 invalid_request); a wrong or missing one is 401 invalid_client. A
// client with an empty secret is public and sends client_id alone. Access
// tokens are opaque (TokenPrefix and 32 random bytes), not the RS256 JWTs
// BlueNexus issues; the emulator serves no /.well-known/jwks.json and no
// DELETE /api/v1/auth-sessions/{id}/revoke.
//
// # What else it enforces
//
//   - Handoff init: a JSON body (415 otherwise, 413 over 64 KiB), intent
//     "connections", and a redirectUri that is absolute https, http only to a
//     loopback host (127.0.0.0/8, ::1, localhost), or a custom app scheme in
//     hierarchical form (yourapp://connections). javascript:, data:, file:
//     and similar schemes, user information, fragments, backslashes,
//     whitespace and control characters are rejected with a 400 naming the
//     field.
//   - Allowed domains: the redirectUri's host must be one of the white-label
//     client's allowed domains ([WithAllowedDomains]; default localhost,
//     127.0.0.0/8, ::1, app.example.com and app.example, and any custom app
//     scheme), else 400 naming redirectUri. BlueNexus's setup page asks for
//     "allowed domains for this client" but does not publish the rule; this
//     is the likeliest reading.
//   - IP fingerprint: the init call's client IP is the last entry of the
//     client-IP header ([WithClientIPHeader], default X-Forwarded-For, every
//     instance merged) when present, else the TCP peer. A present header whose
//     last entry is not exactly one IP answers 400 with
//     BlueNexus's "Unable to determine client criterias for secure
//     handoff". The browser that opens the white-label page must come from
//     that IP (its TCP peer; headers are not read there unless
//     [WithPageIPHeader]). All loopback addresses count as the same
//     machine, so local development works whether the browser uses
//     127.0.0.1 or ::1.
//   - Codes: 32 random bytes, base64url; they expire [WithCodeTTL] (default
//     30s) after issue by the [WithClock] clock, work once, and only for the
//     intent they were issued for. Every answer's Date header is on the
//     same clock, so a client can read expiresAt against it. Any presentation of a known code consumes
//     it, including one refused for the wrong IP.
//   - Rate limits, with [WithRateLimits] only: 10 requests a minute on the
//     token endpoint and 100 on the rest of /api/, per client IP, then 429
//     TooManyRequestsError with Retry-After.
//
// [Server.AdvanceClock] moves the clock forward on top of [WithClock], so
// that code, token and session lifetimes pass without sleeping;
// [Server.Reset] forgets everything but the start-up users.
//
// # The white-label page
//
// The page is plain HTML forms, so that tests can drive it with any HTTP
// client as well as a browser:
//
//   - GET /white-label?code=C exchanges the code: a bad or unknown code is
//     400, an expired or used one 410, a wrong IP 403, each as an HTML error
//     page. On success it sets the session cookie [SessionCookie]
//     (HttpOnly, SameSite=Lax, Path=/white-label) and redirects (303) to
//     GET /white-label/session, so the code leaves the address bar.
//   - GET /white-label/session shows the newest of the browser's sessions.
//     Every form on it posts application/x-www-form-urlencoded with the
//     field csrf_token, copied from the page's hidden input; a missing or
//     wrong one is 403, no session 401. Successful posts redirect (303)
//     back to the session page with a status message.
//   - POST /white-label/connect with provider (google, notion, slack or
//     github) and optional account: absent or empty connects the user's
//     primary account of the provider, "new" an account not connected yet,
//     a number (1, 2, ...) that account. Connecting an account that is
//     already connected reconnects it (active again, new expiry, updatedAt
//     now) instead of adding a second connection; each account has its own
//     providerUserId and email (alice+google@example.com,
//     alice+google2@example.com, ...). The page's Connect button sends no
//     account, "Add another account" sends account=new, and each
//     connection's Reconnect button sends its provider and account.
//   - POST /white-label/remove with id, a connection id of the user.
//   - POST /white-label/done ends the session and redirects (303) to the
//     redirectUri exactly as given at init, deep links included; it adds
//     error and error_description only after [Server.ReturnWithError].
//
// Each handoff opens its own session and the cookie lists the browser's
// live ones (at most 5, for 30 minutes), so several tabs can sit on the
// page at once; each form's CSRF token names the session it belongs to.
// Every page response sends Cache-Control: no-store and Referrer-Policy:
// no-referrer.
//
// Go tests need not scrape the page: [NewUser] is an end user who follows
// the app's answer to /manage-connections to the page, connects and
// removes providers, and chooses Done (or leaves), handing back the app's
// answer on the return; [NewBrowser] is a cookie-keeping client that
// trusts the app's httptest TLS server, and [FromIP] presents another
// client IP. docs/testing.md walks through a first integration test.
//
// # Fault injection and observation
//
// [Server.Inject] queues faults per exact URL path, played one per request
// before normal behaviour resumes ("fail twice, then succeed");
// [Server.InjectAlways] sets a fault for every later request; [Server.ClearFaults]
// removes them. Faults cover latency, error statuses with Retry-After,
// malformed, oversized and non-JSON bodies, redirects and connection resets;
// see [Fault]. [Server.Hits] counts every request per path, faulted or not.
// [WithRequestLog] reports each request's method, path, status and latency,
// never its query, headers or body.
//
// # Limits
//
// It is not BlueNexus: no real provider OAuth (connecting is instant), no
// SIWE sign-in (SignIn stands for it), no JWTs, no 403 for tokens of
// non-white-label clients (inject one with [Status]), no TLS (its cookie is
// therefore not Secure), no persistence (all state is in memory) and no
// authentication of the control API: serve it on loopback only.
package bluenexustest
