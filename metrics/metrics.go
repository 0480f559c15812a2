package metrics

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/handoffkit/handoffkit/handlers"
)

// mintBuckets are the mint duration histogram's upper bounds in
// seconds, from 10 ms to 10 s: a healthy handoff init takes tens to
// hundreds of milliseconds, and the client's whole-call budget defaults to
// 5 s (at most 15 s).
var mintBuckets = []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// Label values for anything outside the fixed sets.
const other = "other"

// routes, outcomes and classes are the only label values the metrics use.
var (
	routes   = []string{"manage", "return"}
	outcomes = []handlers.Outcome{
		handlers.OutcomeMinted, handlers.OutcomePrefetch, handlers.OutcomeUnauthenticated,
		handlers.OutcomeReauthRequired, handlers.OutcomeTokenExpired, handlers.OutcomeBadRequest,
		handlers.OutcomeNoClientIP, handlers.OutcomeClientCriteria, handlers.OutcomeForbidden,
		handlers.OutcomeUnavailable, handlers.OutcomeUpstreamError, handlers.OutcomeBadResponse,
		handlers.OutcomeSuccess, handlers.OutcomeBlueNexusError, handlers.OutcomeHookFailed,
		handlers.OutcomeMalformed, handlers.OutcomeUnknownState, handlers.OutcomeWrongUser,
		handlers.OutcomeNoFlow, handlers.OutcomeReplayed, handlers.OutcomeExpired,
		handlers.OutcomeStateUnavailable, handlers.OutcomeClientGone, handlers.OutcomeInternal,
	}
	classes = []string{
		"timeout", "connection", "server", "rate_limited", "unauthorized", "forbidden",
		"client_criteria", "refused", "bad_response", "circuit_open", other,
	}
	tokenEvents = []string{"cached", "refreshed", "reauth", "refused", "failed"}
	// breakerStates maps the bluenexus breaker's state names to gauge values.
	breakerStates = map[string]float64{"closed": 0, "half-open": 1, "open": 2}
)

// Metrics is a [handlers.Observer] that records Prometheus metrics. Create
// it with [New]; it is safe for concurrent use.
type Metrics struct {
	minted         prometheus.Counter
	mintDuration   prometheus.Histogram
	outcomes       *prometheus.CounterVec
	upstreamErrors *prometheus.CounterVec
	breakerState   prometheus.Gauge
	guardPressure  prometheus.Counter
	tokenEvents    *prometheus.CounterVec
}

var _ handlers.Observer = (*Metrics)(nil)

// New creates the metrics and registers them with reg. It fails when reg is
// nil or a metric of the same name is already
// registered (one kit per registerer; see the package doc for several); on
// failure nothing stays registered.
//
// The upstream error counter starts with every class at zero, so rates are
// defined before the first failure. The breaker gauge starts at 0 (closed).
func New(reg prometheus.Registerer) (*Metrics, error) {
	if reg == nil {
		return nil, errors.New("metrics: New: nil prometheus.Registerer")
	}

	m := &Metrics{
		minted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "handoffkit_handoffs_minted_total",
			Help: "Handoff codes minted by BlueNexus for the kit.",
		}),
		mintDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "handoffkit_mint_duration_seconds",
			Help:    "Time the handoff init call took, per minted code.",
			Buckets: mintBuckets,
		}),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "handoffkit_outcomes_total",
			Help: "Requests to the kit's routes by route (manage, return) and outcome.",
		}, []string{"route", "outcome"}),
		upstreamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "handoffkit_upstream_errors_total",
			Help: "Failed BlueNexus calls by class.",
		}, []string{"class"}),
		breakerState: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "handoffkit_breaker_state",
			Help: "State of the BlueNexus circuit breaker: 0 closed, 1 half-open, 2 open.",
		}),
		tokenEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "handoffkit_token_events_total",
			Help: "What the token source did per request: cached, refreshed, reauth, refused or failed.",
		}, []string{"event"}),
		guardPressure: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "handoffkit_replay_guard_pressure_total",
			Help: "Returns refused as expired because the in-memory replay guard was full (the effective TTL shrank).",
		}),
	}
	for _, c := range classes {
		m.upstreamErrors.WithLabelValues(c)
	}
	for _, e := range tokenEvents {
		m.tokenEvents.WithLabelValues(e)
	}

	collectors := []prometheus.Collector{m.minted, m.mintDuration, m.outcomes, m.upstreamErrors, m.breakerState, m.guardPressure, m.tokenEvents}
	for i, c := range collectors {
		if err := reg.Register(c); err != nil {
			for _, done := range collectors[:i] {
				reg.Unregister(done)
			}
			return nil, fmt.Errorf("metrics: New: %w", err)
		}
	}
	return m, nil
}

// Minted counts a minted handoff code and observes how long its upstream
// call took. It implements [handlers.Observer].
func (m *Metrics) Minted(latency time.Duration) {
	m.minted.Inc()
	m.mintDuration.Observe(latency.Seconds())
}

// Outcome counts a request to route ("manage" or "return") that ended with
// outcome. A route or outcome outside the kit's fixed sets counts as
// "other". It implements [handlers.Observer].
func (m *Metrics) Outcome(route string, outcome handlers.Outcome) {
	r, o := other, other
	if slices.Contains(routes, route) {
		r = route
	}
	if slices.Contains(outcomes, outcome) {
		o = string(outcome)
	}
	m.outcomes.WithLabelValues(r, o).Inc()
}

// UpstreamError counts a failed upstream call by class ("timeout",
// "server", ...; see [handlers.Observer]). An unknown class counts as
// "other". It implements [handlers.Observer].
func (m *Metrics) UpstreamError(class string) {
	if !slices.Contains(classes, class) {
		class = other
	}
	m.upstreamErrors.WithLabelValues(class).Inc()
}

// TokenEvent counts what the token source did for a request ("cached",
// "refreshed", "reauth", "refused" or "failed"; anything else counts as
// "other"). It
// implements [handlers.Observer].
func (m *Metrics) TokenEvent(event string) {
	if !slices.Contains(tokenEvents, event) {
		event = other
	}
	m.tokenEvents.WithLabelValues(event).Inc()
}

// GuardPressure counts a return refused as expired by a full in-memory
// replay guard. It implements [handlers.Observer].
func (m *Metrics) GuardPressure() { m.guardPressure.Inc() }

// BreakerStateChange sets the breaker gauge to the new state: 0 for
// "closed", 1 for "half-open", 2 for "open"; an unknown name leaves it
// unchanged. Its signature fits bluenexus.BreakerSettings.OnStateChange. It is
// quick and never calls the client, as that option requires.
func (m *Metrics) BreakerStateChange(from, to string) {
	if v, ok := breakerStates[to]; ok {
		m.breakerState.Set(v)
	}
}
