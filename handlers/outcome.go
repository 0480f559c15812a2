package handlers

// Outcome names how a request to one of the kit's routes ended. It is what
// the logs, the metrics, the error handler's JSON body ("error") and the
// flash cookie ([Kit.TakeOutcome]) carry: never a secret. The values, with
// the default error handler's status and the log level:
//
// /manage-connections:
//
//	minted            302/200  Info   a code was minted and the user sent on
//	prefetch          503      Info   a prefetch (Sec-Purpose or Purpose: prefetch): nothing minted or written, no upstream call
//	unauthenticated   401      Info   no signed-in user or access token for the request
//	reauth_required   401      Info   the token source cannot refresh: the user must sign in again (Error when a 2xx answer the kit could not use spent the refresh token)
//	token_expired     401      Info   BlueNexus refused the access token (401) and there is no token source to renew it
//	bad_request       400/405  Info   a bad or repeated query parameter, or a method the route does not serve
//	no_client_ip      400      Warn   the client IP could not be derived (see docs/client-ip.md)
//	client_criteria   502      Warn   BlueNexus could not verify the user's network (the forwarded IP)
//	forbidden         502      Error  BlueNexus refused the app: a token not from a white-label client, or the token endpoint refused its client ([bluenexus.ErrClientConfig])
//	unavailable       503      Warn   BlueNexus rate limited (429) or unavailable (503), or the circuit breaker is open; Retry-After
//	upstream_error    502/504  Warn   BlueNexus could not be reached, did not answer in time, or failed (5xx, another 4xx, a token endpoint 4xx that is neither invalid_grant nor a client error)
//	bad_response      502      Warn   BlueNexus answered something the kit cannot use (bad JSON, a code too short-lived or too long)
//
// /return:
//
//	success           303/200  Info   the state matched; the hook, if any, succeeded
//	bluenexus_error   303/200  Info   the state matched and BlueNexus sent the user back with an error
//	hook_failed       500/303  Warn   the state matched but the on-return hook failed or timed out
//	malformed         400      Info   a missing, repeated, oversize or non-base64url state, a bad query or body
//	unauthenticated   401      Info   no signed-in user for the request
//	unknown_state     403      Info   the state does not open with the cookie keys (forged, altered, or sealed with a removed key)
//	wrong_user        403      Info   the flow was started by another user than the one signed in now
//	no_flow           403      Info   with a fixed redirectUri: no readable flow cookie
//	replayed          403      Info   the state was already used
//	expired           410      Info   the flow was older than its TTL (or than what a full replay guard still holds)
//	state_unavailable 503      Warn   the flow state or the token pair could not be checked (a shared guard or store is down)
//
// Both routes:
//
//	client_gone       499      Info   the browser left before the answer; nothing is written and it is not a server error
//	internal          500      Error  a failure the kit does not recognise
type Outcome string

// The outcomes of /manage-connections.
const (
	OutcomeMinted          Outcome = "minted"
	OutcomePrefetch        Outcome = "prefetch"
	OutcomeUnauthenticated Outcome = "unauthenticated" // both routes
	OutcomeReauthRequired  Outcome = "reauth_required"
	OutcomeTokenExpired    Outcome = "token_expired"
	OutcomeBadRequest      Outcome = "bad_request"
	OutcomeNoClientIP      Outcome = "no_client_ip"
	OutcomeClientCriteria  Outcome = "client_criteria"
	OutcomeForbidden       Outcome = "forbidden"
	OutcomeUnavailable     Outcome = "unavailable"
	OutcomeUpstreamError   Outcome = "upstream_error"
	OutcomeBadResponse     Outcome = "bad_response"
)

// The outcomes of /return.
const (
	OutcomeSuccess          Outcome = "success"
	OutcomeBlueNexusError   Outcome = "bluenexus_error"
	OutcomeHookFailed       Outcome = "hook_failed"
	OutcomeMalformed        Outcome = "malformed"
	OutcomeUnknownState     Outcome = "unknown_state"
	OutcomeWrongUser        Outcome = "wrong_user"
	OutcomeNoFlow           Outcome = "no_flow"
	OutcomeReplayed         Outcome = "replayed"
	OutcomeExpired          Outcome = "expired"
	OutcomeStateUnavailable Outcome = "state_unavailable"
)

// The outcomes of both routes.
const (
	OutcomeClientGone Outcome = "client_gone"
	OutcomeInternal   Outcome = "internal"
)
