// Package metrics records the kit's events as Prometheus metrics. It
// implements [handlers.Observer]; pass it to the kit with
// [handlers.WithObserver], and its [Metrics.BreakerStateChange] to the
// BlueNexus client's breaker settings:
//
//	reg := prometheus.NewRegistry()
//	m, err := metrics.New(reg)
//	...
//	client, err := bluenexus.NewClient(bluenexus.WithBreaker(bluenexus.BreakerSettings{OnStateChange: m.BreakerStateChange}))
//	kit, err := handlers.New(cfg, handlers.WithClient(client), handlers.WithObserver(m))
//	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// It exports:
//
//	handoffkit_handoffs_minted_total                 counter: handoff codes minted
//	handoffkit_mint_duration_seconds                 histogram: upstream time per minted code
//	handoffkit_outcomes_total{route, outcome}        counter: how requests to the kit's routes ended
//	handoffkit_upstream_errors_total{class}          counter: failed upstream calls by class
//	handoffkit_breaker_state                         gauge: 0 closed, 1 half-open, 2 open
//	handoffkit_replay_guard_pressure_total           counter: returns refused by a full in-memory replay guard
//	handoffkit_token_events_total{event}             counter: token source: cached, refreshed, reauth, refused, failed
//
// Label values come only from fixed sets: route is "manage" or "return",
// outcome one of the values [handlers.Outcome] lists, class one of the classes
// [handlers.Observer.UpstreamError] documents. Anything else is counted
// under "other", so no request can create a new time series. No label ever
// carries a code, state, token, user or URL.
//
// To run several kits in one process, register each one's metrics through
// [prometheus.WrapRegistererWith] with the same label name and a different
// value, such as {kit="billing"} and {kit="crm"}: Prometheus requires every
// series of one metric to carry the same label names.
//
// This package is a module of its own, so that an app without Prometheus
// does not require it: go get github.com/handoffkit/handoffkit/metrics.
package metrics
