// Package bluenexus is a typed client for the parts of the BlueNexus API that
// the Manage Connections flow needs: the authentication handoff
// (POST /api/v1/auth/handoff/init) and the Connections API.
//
// The client forwards the end user's IP address on the handoff call in a
// configurable header, so that BlueNexus's IP fingerprint matches the browser
// that opens the white-label page even though the app's server makes the call.
//
// Secret values (access tokens and handoff codes) are distinct types that
// print, format and marshal as [REDACTED]; read the value with their Reveal
// method only where it must go on the wire.
//
// # Failure
//
// A handoff code lives 30 seconds, so every call has a whole-call time
// budget (5 s by default, [WithTimeout]) on top of the caller's context.
// Redirects from the API are never followed, so the bearer token reaches
// only the configured base URL. Response bodies are size-capped. Handoff
// init and GETs are resent at most twice, and only when the request
// provably never left (a dial error) or BlueNexus answered 429/503 with a
// Retry-After that fits in the remaining budget. A circuit breaker
// (github.com/sony/gobreaker/v2, [WithBreaker]) fails calls fast with
// [ErrCircuitOpen] while BlueNexus keeps timing out or failing.
//
// Errors match the package sentinels with [errors.Is]: [ErrUnauthorized],
// [ErrForbidden], [ErrRateLimited], [ErrClientCriteria], [ErrServer] for
// BlueNexus's answers (an [*APIError] carrying the HTTP status), and
// [ErrTimeout], [ErrConnection], [ErrBadResponse], [ErrCircuitOpen] and
// [ErrInvalidRequest] for everything else. [RetryAfter] tells how long to
// wait when BlueNexus or the breaker said so. No error text carries the
// token, the code or a response body; APIError's message is BlueNexus's
// own, quoted, and meant for logs rather than end users.
package bluenexus
