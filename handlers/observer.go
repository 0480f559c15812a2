package handlers

import "time"

// Observer receives the kit's metrics events. Implementations must be safe
// for concurrent use and fast: they run on the request path. Package
// metrics has a Prometheus implementation.
type Observer interface {
	// Minted reports a handoff code minted, and how long the upstream call took.
	Minted(latency time.Duration)
	// Outcome reports how a request to a route ("manage" or "return") ended.
	Outcome(route string, outcome Outcome)
	// UpstreamError reports a failed upstream call by class: "timeout",
	// "connection", "server", "rate_limited", "unauthorized", "forbidden",
	// "client_criteria", "bad_response", "circuit_open" or "other".
	UpstreamError(class string)
}

type nopObserver struct{}

func (nopObserver) Minted(time.Duration)    {}
func (nopObserver) Outcome(string, Outcome) {}
func (nopObserver) UpstreamError(string)    {}
