package metrics_test

import (
	"bufio"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/bluenexus/bluenexustest"
	"github.com/handoffkit/handoffkit/handlers"
	"github.com/handoffkit/handoffkit/metrics"
	"github.com/handoffkit/handoffkit/session"
)

// Example wires the metrics into the BlueNexus client (breaker state) and
// the kit (observer), serves them with promhttp, and scrapes them after one
// handoff, against the BlueNexus emulator.
func Example() {
	emu := bluenexustest.NewServer(bluenexustest.WithUser("alice"))
	defer emu.Close()
	token := emu.AddUser("alice")

	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg)
	if err != nil {
		panic(err)
	}
	client, err := bluenexus.NewClient(bluenexus.WithBaseURL(emu.URL()),
		bluenexus.WithBreaker(bluenexus.BreakerSettings{OnStateChange: m.BreakerStateChange}))
	if err != nil {
		panic(err)
	}
	kit, err := handlers.New(handlers.Config{
		WhiteLabelURL: emu.WhiteLabelURL(),
		ReturnURL:     "https://app.example.com/connections/return",
		CookieKeys: []session.KeyPair{{
			Hash:  []byte("an-example-hash-key-of-32-bytes!"),
			Block: []byte("an-example-block-key-of-32-byte!"),
		}},
		User:        func(*http.Request) (string, bool) { return "alice", true },
		AccessToken: func(*http.Request) (bluenexus.AccessToken, bool) { return token, true },
	},
		handlers.WithClient(client),
		handlers.WithClientIP(func(*http.Request) (netip.Addr, bool) { return netip.MustParseAddr("203.0.113.7"), true }),
		handlers.WithObserver(m),
	)
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /manage-connections", kit.ManageConnections())
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))

	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/manage-connections", nil))
	fmt.Println("manage-connections:", rec.Code)

	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "handoffkit_handoffs_minted_total") ||
			strings.HasPrefix(line, "handoffkit_outcomes_total") ||
			strings.HasPrefix(line, "handoffkit_mint_duration_seconds_count") ||
			strings.HasPrefix(line, "handoffkit_breaker_state") {
			fmt.Println(line)
		}
	}
	// Output:
	// manage-connections: 302
	// handoffkit_breaker_state 0
	// handoffkit_handoffs_minted_total 1
	// handoffkit_mint_duration_seconds_count 1
	// handoffkit_outcomes_total{outcome="minted",route="manage"} 1
}

// ExampleMetrics_BreakerStateChange shows the gauge following the breaker:
// the client calls it on every state change.
func ExampleMetrics_BreakerStateChange() {
	reg := prometheus.NewRegistry()
	m, _ := metrics.New(reg)
	for _, to := range []string{"open", "half-open", "closed"} {
		m.BreakerStateChange("", to)
		mfs, _ := reg.Gather()
		for _, mf := range mfs {
			if mf.GetName() == "handoffkit_breaker_state" {
				fmt.Println(to, mf.GetMetric()[0].GetGauge().GetValue())
			}
		}
	}
	// Output:
	// open 2
	// half-open 1
	// closed 0
}

// ExampleMetrics_Minted records one code minted in 120 ms.
func ExampleMetrics_Minted() {
	reg := prometheus.NewRegistry()
	m, _ := metrics.New(reg)
	m.Minted(120 * time.Millisecond)
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "handoffkit_mint_duration_seconds" {
			h := mf.GetMetric()[0].GetHistogram()
			fmt.Println(h.GetSampleCount(), h.GetSampleSum())
		}
	}
	// Output:
	// 1 0.12
}
