// Package bluenexus is a typed client for the parts of the BlueNexus API that
// the Manage Connections flow needs: the authentication handoff
// ([Client.InitHandoff], POST /api/v1/auth/handoff/init), the refresh of the
// user's access token ([Client.Refresh], POST /api/v1/auth/token) and the
// Connections API ([Client.AllConnections], [Client.Connection],
// [Client.RefreshConnection]).
//
// Create one [Client] with [NewClient] and share it. The client forwards the
// end user's IP address on the handoff call in a configurable header
// ([WithClientIPHeader]), so that BlueNexus's IP fingerprint matches the
// browser that opens the white-label page even though the app's server
// makes the call.
//
// Secret values ([AccessToken], [RefreshToken] and [Code]) are distinct
// types that print, format and marshal as [REDACTED]; read the value with
// their Reveal method only where it must go on the wire or into storage.
//
// # Failure
//
// A handoff code lives 30 seconds, so every call has a whole-call time
// budget (5 s by default, [WithTimeout]) on top of the caller's context.
// Redirects from the API are never followed, so the bearer token reaches
// only the configured base URL. Response bodies are capped at 1 MiB.
// Handoff init and GETs are resent at most twice, and only when the request
// provably never left (a dial error) or BlueNexus answered 429/503 with a
// Retry-After that fits in the remaining budget; a refresh is resent only
// after a dial error. A circuit breaker (github.com/sony/gobreaker/v2,
// [WithBreaker]) fails calls fast with [ErrCircuitOpen] while BlueNexus
// keeps timing out or failing.
//
// Each failure is classified once, where it happens:
//
//   - BlueNexus answered with an error status: an [*APIError]; read its
//     StatusCode (401 expired token, 403 not a white-label client, 429 rate
//     limited, 5xx) and RetryAfter with [errors.As]. It matches
//     [ErrClientCriteria] when BlueNexus could not fingerprint the caller,
//     [ErrReauthRequired] when the token endpoint refused the refresh
//     token (invalid_grant), so the user must sign in again, and
//     [ErrClientConfig] when it refused the app's client credentials.
//   - [ErrTimeout]: the client's budget, the caller's deadline or a
//     transport timeout ran out first.
//   - [ErrConnection]: the request failed in transport.
//   - [ErrBadResponse]: a 2xx or 3xx answer the client cannot use. A 2xx
//     to [Client.Refresh] spent the refresh token, so it also matches
//     [ErrReauthRequired].
//   - [ErrCircuitOpen]: no request was sent, the breaker is open.
//   - The caller cancelled its context (the browser left): the error wraps
//     [context.Canceled] and matches none of the above.
//   - A bad argument: an error starting "bluenexus: <Method>: ", before any
//     I/O.
//
// No error text carries a token, a code, the client secret or a response
// body; APIError's message is BlueNexus's own, quoted, scrubbed of secrets
// and meant for logs rather than end users.
package bluenexus
