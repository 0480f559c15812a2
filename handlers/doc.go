// Package handlers provides the two http.Handlers of the Manage Connections
// flow: [Kit.ManageConnections] mints a BlueNexus handoff code and sends the
// browser to the white-label page, and [Kit.Return] verifies the return trip
// and runs the app's refresh hook.
//
// Build them with [New] from a [Config] (the white-label and return URLs,
// the cookie keys, the signed-in user, and the user's token source) and
// options. Both are plain
// http.Handlers: mount them on chi, http.ServeMux or anything else, after
// the app's own authentication middleware (which tells Config.User who the
// user is) and after [middleware.ClientIP] (which derives the end user's IP
// behind the app's trusted proxies, so BlueNexus's IP fingerprint matches
// the browser).
//
// Every failure is one [*Error], classified where it happened, with the
// [Outcome], the status, a truthful message for the user and the
// Retry-After to give; it goes through one error handler
// ([WithErrorHandler], default [DefaultErrorHandler]).
//
// Security stance:
//   - No client IP, no signed-in user, a bad `next`, a query that does not
//     parse, or a redirect choice outside the allowlist: the request fails
//     before any upstream call.
//   - The state carries the flow, sealed (encrypted and authenticated) with
//     the cookie keys and bound to the signed-in user: single use, short-
//     lived (package session); /return without a valid state sealed for the
//     user signed in fires no hook and calls no upstream. Nothing is stored
//     per flow, so concurrent flows never overwrite each other.
//   - Every response of both routes carries Cache-Control: no-store,
//     Pragma: no-cache and Referrer-Policy: no-referrer; a successful return
//     ends in a 303 to a clean local URL.
//   - Errors render locally through one error handler ([WithErrorHandler]); no
//     internal error text reaches the user, and no code, state, token or
//     cookie reaches the logs.
package handlers
