package handlers

import "time"

// Observer receives the kit's metrics events. Implementations must be safe
// for concurrent use and fast: they run on the request path. Package
// metrics has a Prometheus implementation.
type Observer interface {
	// Minted reports a handoff code minted, and how long the upstream call
	// took. A code minted again because the first came back too
	// short-lived counts twice: BlueNexus minted two.
	Minted(latency time.Duration)
	// Outcome reports how a request to a route ("manage" or "return") ended.
	Outcome(route string, outcome Outcome)
	// UpstreamError reports a failed upstream call by class: "timeout",
	// "connection", "server", "rate_limited", "unauthorized", "forbidden",
	// "client_criteria", "refused" (another 4xx), "bad_response",
	// "circuit_open" or "other". A call the browser abandoned is not one.
	UpstreamError(class string)
	// GuardPressure reports a return refused as expired because the
	// in-memory replay guard was full and had to drop the entries that
	// expire first: under pressure the effective TTL shrinks.
	GuardPressure()
	// TokenEvent reports what the token source (Config.Tokens) did for a
	// request: "cached" (a fresh token served without a refresh),
	// "refreshed" (a new pair obtained and saved), "reauth" (the user must
	// sign in again) or "failed" (a refresh failed otherwise). Never a token.
	TokenEvent(event string)
}

type nopObserver struct{}

func (nopObserver) Minted(time.Duration)    {}
func (nopObserver) Outcome(string, Outcome) {}
func (nopObserver) UpstreamError(string)    {}
func (nopObserver) GuardPressure()          {}
func (nopObserver) TokenEvent(string)       {}
