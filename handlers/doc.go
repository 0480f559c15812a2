// Package handlers provides the two http.Handlers of the Manage Connections
// flow: [Kit.ManageConnections] mints a BlueNexus handoff code and sends the
// browser to the white-label page, and [Kit.Return] verifies the return trip
// and runs the app's refresh hook.
//
// Both are plain http.Handlers: mount them on chi, http.ServeMux or anything
// else, after the app's own authentication middleware (which puts the user's
// BlueNexus access token where [WithAccessToken] reads it) and after
// [middleware.ClientIP] (which derives the end user's IP behind the app's
// trusted proxies, so BlueNexus's IP fingerprint matches the browser).
//
// Security stance:
//   - No client IP, no access token, a bad `next`, or a redirect choice outside
//     the allowlist: the request fails before any upstream call.
//   - The state is bound to the browser's flow cookie, single use and
//     short-lived (package session); /return without a matching state fires
//     no hook and calls no upstream.
//   - Every response of both routes carries Cache-Control: no-store,
//     Pragma: no-cache and Referrer-Policy: no-referrer; a successful return
//     ends in a 303 to a clean local URL.
//   - Errors render locally through one error handler ([WithErrorHandler]); no
//     internal error text reaches the user, and no code, state, token or
//     cookie reaches the logs.
package handlers
