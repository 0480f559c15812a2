package handlers

// Outcome names how a request to one of the kit's routes ended. It is what
// the logs, the metrics, the error handler's JSON body and the flash cookie
// ([Kit.TakeOutcome]) carry: never a secret.
type Outcome string

// Outcomes of /return.
const (
	// OutcomeSuccess: the state matched, the hook ran without error.
	OutcomeSuccess Outcome = "success"
	// OutcomeBlueNexusError: the state matched and BlueNexus sent the user
	// back with an `error` parameter. The flow is consumed; the hook does not run.
	OutcomeBlueNexusError Outcome = "bluenexus_error"
	// OutcomeHookFailed: the state matched but the on-return hook failed or
	// timed out.
	OutcomeHookFailed Outcome = "hook_failed"
	// OutcomeExpired: the flow was older than its TTL.
	OutcomeExpired Outcome = "expired"
	// OutcomeReplayed: the state was already used.
	OutcomeReplayed Outcome = "replayed"
	// OutcomeUnknownState: this browser has no flow with that state.
	OutcomeUnknownState Outcome = "unknown_state"
	// OutcomeSuperseded: newer flows in this browser displaced the flow.
	OutcomeSuperseded Outcome = "superseded"
	// OutcomeNoFlow: the request carried no readable flow cookie.
	OutcomeNoFlow Outcome = "no_flow"
	// OutcomeStateUnavailable: the flow state could not be checked right
	// now (a shared replay guard or server-side store is down, or the
	// in-memory guard is full). Fails closed; a retry may succeed.
	OutcomeStateUnavailable Outcome = "state_unavailable"
	// OutcomeMalformed: the request's parameters were malformed (a missing,
	// duplicated, oversize or non-base64url state, a bad body).
	OutcomeMalformed Outcome = "malformed"
)

// Outcomes of /manage-connections.
const (
	// OutcomeMinted: a code was minted and the user sent on.
	OutcomeMinted Outcome = "minted"
	// OutcomeUnauthenticated: no access token for the request.
	OutcomeUnauthenticated Outcome = "unauthenticated"
	// OutcomeNoClientIP: the client IP could not be derived.
	OutcomeNoClientIP Outcome = "no_client_ip"
	// OutcomeBadRequest: a bad `next` or `redirect` parameter, or a method
	// the route does not serve.
	OutcomeBadRequest Outcome = "bad_request"
	// OutcomeUpstreamError: BlueNexus failed or refused the handoff.
	OutcomeUpstreamError Outcome = "upstream_error"
	// OutcomeUnavailable: the circuit breaker is open: BlueNexus is failing.
	OutcomeUnavailable Outcome = "unavailable"
	// OutcomeInternal: the kit could not save the flow.
	OutcomeInternal Outcome = "internal"
)

var flashOutcomes = map[string]Outcome{
	string(OutcomeSuccess):        OutcomeSuccess,
	string(OutcomeBlueNexusError): OutcomeBlueNexusError,
	string(OutcomeHookFailed):     OutcomeHookFailed,
}
