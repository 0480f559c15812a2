package metrics_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/handoffkit/handoffkit/handlers"
	"github.com/handoffkit/handoffkit/metrics"
)

func newMetrics(t *testing.T) (*metrics.Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	m, err := metrics.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	return m, reg
}

func TestMintedCountsAndObserves(t *testing.T) {
	m, reg := newMetrics(t)
	m.Minted(30 * time.Millisecond)
	m.Minted(2 * time.Second)
	want := `
# HELP handoffkit_handoffs_minted_total Handoff codes minted by BlueNexus for the kit.
# TYPE handoffkit_handoffs_minted_total counter
handoffkit_handoffs_minted_total 2
# HELP handoffkit_mint_duration_seconds Time the handoff init call took, per minted code.
# TYPE handoffkit_mint_duration_seconds histogram
handoffkit_mint_duration_seconds_bucket{le="0.01"} 0
handoffkit_mint_duration_seconds_bucket{le="0.025"} 0
handoffkit_mint_duration_seconds_bucket{le="0.05"} 1
handoffkit_mint_duration_seconds_bucket{le="0.1"} 1
handoffkit_mint_duration_seconds_bucket{le="0.25"} 1
handoffkit_mint_duration_seconds_bucket{le="0.5"} 1
handoffkit_mint_duration_seconds_bucket{le="1"} 1
handoffkit_mint_duration_seconds_bucket{le="2.5"} 2
handoffkit_mint_duration_seconds_bucket{le="5"} 2
handoffkit_mint_duration_seconds_bucket{le="10"} 2
handoffkit_mint_duration_seconds_bucket{le="+Inf"} 2
handoffkit_mint_duration_seconds_sum 2.03
handoffkit_mint_duration_seconds_count 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"handoffkit_handoffs_minted_total", "handoffkit_mint_duration_seconds"); err != nil {
		t.Fatal(err)
	}
}

// TestLabelsAreBounded pins the rule that label values come only from the
// kit's fixed sets: whatever a caller passes, no new series beyond "other".
func TestLabelsAreBounded(t *testing.T) {
	m, reg := newMetrics(t)
	m.Outcome("manage", handlers.Outcome("minted"))
	m.Outcome("return", handlers.Outcome("success"))
	m.Outcome("return", handlers.Outcome("replayed"))
	m.Outcome("/connections/return?state=secret", handlers.Outcome("code=secret"))
	m.Outcome("manage", handlers.Outcome("Bearer tok"))
	m.UpstreamError("server")
	m.UpstreamError("client_criteria")
	m.UpstreamError("https://evil.example/?token=x")

	want := `
# HELP handoffkit_outcomes_total Requests to the kit's routes by route (manage, return) and outcome.
# TYPE handoffkit_outcomes_total counter
handoffkit_outcomes_total{outcome="minted",route="manage"} 1
handoffkit_outcomes_total{outcome="other",route="manage"} 1
handoffkit_outcomes_total{outcome="other",route="other"} 1
handoffkit_outcomes_total{outcome="replayed",route="return"} 1
handoffkit_outcomes_total{outcome="success",route="return"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "handoffkit_outcomes_total"); err != nil {
		t.Fatal(err)
	}
	// Every class exists from the start (rates are defined), and nothing else.
	want = `
# HELP handoffkit_upstream_errors_total Failed BlueNexus calls by class.
# TYPE handoffkit_upstream_errors_total counter
handoffkit_upstream_errors_total{class="bad_response"} 0
handoffkit_upstream_errors_total{class="circuit_open"} 0
handoffkit_upstream_errors_total{class="client_criteria"} 1
handoffkit_upstream_errors_total{class="connection"} 0
handoffkit_upstream_errors_total{class="forbidden"} 0
handoffkit_upstream_errors_total{class="other"} 1
handoffkit_upstream_errors_total{class="rate_limited"} 0
handoffkit_upstream_errors_total{class="refused"} 0
handoffkit_upstream_errors_total{class="server"} 1
handoffkit_upstream_errors_total{class="timeout"} 0
handoffkit_upstream_errors_total{class="unauthorized"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "handoffkit_upstream_errors_total"); err != nil {
		t.Fatal(err)
	}
}

func TestBreakerStateChange(t *testing.T) {
	m, reg := newMetrics(t)
	gauge := func() float64 {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "handoffkit_breaker_state" {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		t.Fatal("no breaker gauge")
		return 0
	}
	if g := gauge(); g != 0 {
		t.Fatalf("initial gauge = %v, want 0 (closed)", g)
	}
	steps := []struct {
		from, to string
		want     float64
	}{
		{"closed", "open", 2},
		{"open", "half-open", 1},
		{"half-open", "open", 2},
		{"open", "half-open", 1},
		{"half-open", "closed", 0},
		{"closed", "unknown", 0}, // ignored
	}
	for _, s := range steps {
		m.BreakerStateChange(s.from, s.to)
		if g := gauge(); g != s.want {
			t.Errorf("after %s->%s gauge = %v, want %v", s.from, s.to, g, s.want)
		}
	}
}

func TestNewRejects(t *testing.T) {
	tests := []struct {
		name string
		reg  prometheus.Registerer
	}{
		{"nil registerer", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := metrics.New(tc.reg)
			if err == nil || m != nil {
				t.Fatalf("New = %v, %v; want an error", m, err)
			}
			if !strings.HasPrefix(err.Error(), "metrics: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

// TestNewTwiceOnOneRegistry: the second kit on one registerer fails with
// prometheus.AlreadyRegisteredError and leaves the first one's metrics
// intact.
func TestNewTwiceOnOneRegistry(t *testing.T) {
	m1, reg := newMetrics(t)
	_, err := metrics.New(reg)
	if _, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); !ok {
		t.Fatalf("second New: %v, want an AlreadyRegisteredError", err)
	}
	m1.Minted(time.Millisecond)
	if got := mintedTotal(t, reg); got != 1 {
		t.Errorf("minted = %v, want 1", got)
	}
}

// TestSeveralKitsWrapped: kits registered through WrapRegistererWith with
// the same label name and different values share one registry.
func TestSeveralKitsWrapped(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	for _, kit := range []string{"a", "b"} {
		m, err := metrics.New(prometheus.WrapRegistererWith(prometheus.Labels{"kit": kit}, reg))
		if err != nil {
			t.Fatalf("kit %s: %v", kit, err)
		}
		m.Minted(time.Millisecond)
	}
	if n, err := testutil.GatherAndCount(reg, "handoffkit_handoffs_minted_total"); err != nil || n != 2 {
		t.Errorf("minted series = %d (%v), want 2", n, err)
	}
}

// TestFailedNewLeavesNothingRegistered: when registration fails part way,
// the metrics registered before the failure are unregistered again.
func TestFailedNewLeavesNothingRegistered(t *testing.T) {
	reg := prometheus.NewRegistry()
	// Take a later metric's name so the first ones register, then fail.
	reg.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "handoffkit_breaker_state", Help: "taken"}))
	if _, err := metrics.New(reg); err == nil {
		t.Fatal("New succeeded over a taken name")
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "handoffkit_breaker_state" {
			t.Errorf("%s stayed registered after a failed New", mf.GetName())
		}
	}
}

// mintedTotal reads handoffkit_handoffs_minted_total back from reg.
func mintedTotal(t *testing.T, reg prometheus.Gatherer) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "handoffkit_handoffs_minted_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatal("no minted counter")
	return 0
}

// TestTokenRefusedCounted: a refresh token BlueNexus refused is counted
// as its own event, not as "other".
func TestTokenRefusedCounted(t *testing.T) {
	m, reg := newMetrics(t)
	m.TokenEvent("refused")
	m.TokenEvent("refreshed")
	want := `
# HELP handoffkit_token_events_total What the token source did per request: cached, refreshed, reauth, refused or failed.
# TYPE handoffkit_token_events_total counter
handoffkit_token_events_total{event="cached"} 0
handoffkit_token_events_total{event="failed"} 0
handoffkit_token_events_total{event="reauth"} 0
handoffkit_token_events_total{event="refreshed"} 1
handoffkit_token_events_total{event="refused"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "handoffkit_token_events_total"); err != nil {
		t.Fatal(err)
	}
}
