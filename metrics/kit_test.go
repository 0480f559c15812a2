package metrics_test

// The Prometheus observer and breaker gauge through the kit's handlers,
// moved here from handlers/upstream_test.go so that the root module does not
// require this one. The browser and the user on the white-label page are
// bluenexustest's.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/bluenexus/bluenexustest"
	"github.com/handoffkit/handoffkit/handlers"
	"github.com/handoffkit/handoffkit/internal/testkit"
	"github.com/handoffkit/handoffkit/metrics"
	"github.com/handoffkit/handoffkit/middleware"
	"github.com/handoffkit/handoffkit/session"
)

// TestD5_BreakerThroughHandlers: after three consecutive upstream failures
// /manage-connections fails fast with 503 and Retry-After and no upstream
// call; once the open period ends one probe goes through, succeeds and
// closes the breaker. The metrics gauge follows every change.
//
// gobreaker reads the real clock, so the fast-fail phase runs on a breaker
// open for an hour (nothing can race its end), and the recovery on another
// open for 100 ms, polled for its end with a generous bound.
func TestD5_BreakerThroughHandlers(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m, err := metrics.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var changes []string
	breakerRig := func(openFor time.Duration) *rig {
		mu.Lock()
		changes = nil
		mu.Unlock()
		r := newRig(t, rigConfig{clientOpts: []bluenexus.Option{
			bluenexus.WithBreaker(bluenexus.BreakerSettings{ConsecutiveFailures: 3, OpenTimeout: openFor,
				OnStateChange: func(from, to string) {
					mu.Lock()
					changes = append(changes, from+"->"+to)
					mu.Unlock()
					m.BreakerStateChange(from, to)
				}}),
		}})
		r.emu.InjectAlways(bluenexustest.PathHandoffInit, bluenexustest.Status(500))
		for i := range 3 {
			if resp, body, _ := r.manage(); resp.StatusCode != http.StatusBadGateway {
				t.Fatalf("failure %d: status %d, want 502: %s", i+1, resp.StatusCode, body)
			}
		}
		return r
	}
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
		return -1
	}

	r := breakerRig(time.Hour)
	if g := gauge(); g != 2 {
		t.Errorf("breaker gauge = %v after the failures, want 2 (open)", g)
	}
	for i := range 3 {
		resp, body, _ := r.manage("Accept", "application/json")
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("open breaker, request %d: status %d, want 503: %s", i+1, resp.StatusCode, body)
		}
		if ra := resp.Header.Get("Retry-After"); ra != "60" {
			t.Errorf("Retry-After = %q, want 60 (the breaker's hour, capped)", ra)
		}
		if !strings.Contains(body, `"error":"unavailable"`) {
			t.Errorf("body %s, want the unavailable outcome", body)
		}
		if !errors.Is(r.errs.last(), bluenexus.ErrCircuitOpen) {
			t.Errorf("error handler got %v, want ErrCircuitOpen", r.errs.last())
		}
	}
	if n := r.hits(); n != 3 {
		t.Fatalf("upstream hits = %d while open, want 3", n)
	}
	classes := r.obs.seen()
	if want := []string{"server", "server", "server", "circuit_open", "circuit_open", "circuit_open"}; !slices.Equal(classes, want) {
		t.Errorf("upstream error classes %v, want %v", classes, want)
	}
	if evs := r.logged("handoff.failed"); len(evs) != 6 || evs[5]["outcome"] != "unavailable" || evs[5]["upstream_error"] != "circuit_open" {
		t.Errorf("failure log events %v, want 6 ending with outcome unavailable", evs)
	}

	// BlueNexus recovers; after the open period one probe closes the breaker.
	r = breakerRig(100 * time.Millisecond)
	r.emu.ClearFaults()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, body, _ := r.manage()
		if resp.StatusCode == http.StatusFound {
			break
		}
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("while waiting for half-open: status %d: %s", resp.StatusCode, body)
		}
		if time.Now().After(deadline) {
			t.Fatal("the breaker never let a probe through")
		}
		time.Sleep(20 * time.Millisecond) // polling the breaker's real clock
	}
	if n := r.hits(); n != 4 {
		t.Errorf("upstream hits = %d, want 4 (3 failures, 1 probe)", n)
	}
	mu.Lock()
	got := slices.Clone(changes)
	mu.Unlock()
	if want := []string{"closed->open", "open->half-open", "half-open->closed"}; !slices.Equal(got, want) {
		t.Errorf("breaker changes %v, want %v", got, want)
	}
	if g := gauge(); g != 0 {
		t.Errorf("breaker gauge = %v after recovery, want 0 (closed)", g)
	}
	// Closed again: a normal call reaches BlueNexus.
	if resp, _, _ := r.manage(); resp.StatusCode != http.StatusFound || r.hits() != 5 {
		t.Errorf("after recovery: status %d, hits %d; want 302, 5", resp.StatusCode, r.hits())
	}
}

// TestMetricsThroughHandlers: the Prometheus observer counts what the kit
// reports: mints, outcomes and upstream error classes.
func TestMetricsThroughHandlers(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m, err := metrics.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	r := newRig(t, rigConfig{kitOpts: []handlers.Option{handlers.WithObserver(m)}})
	if resp := r.flow(); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("return: status %d", resp.StatusCode)
	}
	r.emu.Inject(bluenexustest.PathHandoffInit, bluenexustest.Status(500))
	if resp, _, _ := r.manage(); resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("status %d, want 502", resp.StatusCode)
	}
	want := `
# HELP handoffkit_handoffs_minted_total Handoff codes minted by BlueNexus for the kit.
# TYPE handoffkit_handoffs_minted_total counter
handoffkit_handoffs_minted_total 1
# HELP handoffkit_outcomes_total Requests to the kit's routes by route (manage, return) and outcome.
# TYPE handoffkit_outcomes_total counter
handoffkit_outcomes_total{outcome="minted",route="manage"} 1
handoffkit_outcomes_total{outcome="success",route="return"} 1
handoffkit_outcomes_total{outcome="upstream_error",route="manage"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"handoffkit_handoffs_minted_total", "handoffkit_outcomes_total"); err != nil {
		t.Error(err)
	}
	if n, _ := testutil.GatherAndCount(reg, "handoffkit_mint_duration_seconds"); n != 1 {
		t.Errorf("mint duration series = %d, want 1", n)
	}
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "handoffkit_upstream_errors_total" {
			continue
		}
		for _, s := range mf.GetMetric() {
			want := 0.0
			if s.GetLabel()[0].GetValue() == "server" {
				want = 1
			}
			if s.GetCounter().GetValue() != want {
				t.Errorf("upstream_errors_total{class=%q} = %v, want %v", s.GetLabel()[0].GetValue(), s.GetCounter().GetValue(), want)
			}
		}
	}
}

// rig is an app with the kit on http.ServeMux behind middleware.ClientIP, on
// an httptest TLS server, against the emulator, for alice: every failure
// the error handler sees, every upstream error class and every kit log line
// is recorded.
type rig struct {
	t       *testing.T
	emu     *bluenexustest.Server
	app     *httptest.Server
	browser *http.Client
	obs     *rigObserver
	log     *testkit.SyncBuffer // the kit's log (WithLogger)
	errs    *rigErrors
}

type rigConfig struct {
	clientOpts []bluenexus.Option
	kitOpts    []handlers.Option
}

func newRig(t *testing.T, rc rigConfig) *rig {
	t.Helper()
	r := &rig{t: t, obs: &rigObserver{}, log: &testkit.SyncBuffer{}, errs: &rigErrors{}}
	r.emu = bluenexustest.NewServer(bluenexustest.WithUser("alice"))
	t.Cleanup(r.emu.Close)
	token := r.emu.AddUser("alice")
	client, err := bluenexus.NewClient(append([]bluenexus.Option{bluenexus.WithBaseURL(r.emu.URL())}, rc.clientOpts...)...)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	r.app = httptest.NewTLSServer(middleware.ClientIP(middleware.RemoteAddrStrategy())(mux))
	t.Cleanup(r.app.Close)
	kit, err := handlers.New(handlers.Config{
		WhiteLabelURL: r.emu.WhiteLabelURL(),
		ReturnURL:     r.app.URL + "/connections/return",
		CookieKeys:    []session.KeyPair{{Hash: []byte("0123456789abcdef0123456789abcdef"), Block: []byte("fedcba9876543210fedcba9876543210")}},
		User:          func(*http.Request) (string, bool) { return "alice", true },
		AccessToken:   func(*http.Request) (bluenexus.AccessToken, bool) { return token, true },
	}, append([]handlers.Option{
		handlers.WithClient(client),
		handlers.WithOnReturn(func(context.Context, handlers.ReturnEvent) error { return nil }),
		handlers.WithObserver(r.obs),
		handlers.WithLogger(zerolog.New(r.log).Level(zerolog.DebugLevel)),
		handlers.WithErrorHandler(func(w http.ResponseWriter, req *http.Request, err error) {
			r.errs.add(err)
			handlers.DefaultErrorHandler(w, req, err)
		}),
	}, rc.kitOpts...)...)
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("GET /manage-connections", kit.ManageConnections())
	mux.Handle("/connections/return", kit.Return())
	r.browser = bluenexustest.NewBrowser(r.app)
	return r
}

// manage calls /manage-connections and reports how long it took; the
// response's body is read.
func (r *rig) manage(header ...string) (*http.Response, string, time.Duration) {
	r.t.Helper()
	req, err := http.NewRequest(http.MethodGet, r.app.URL+"/manage-connections", nil)
	if err != nil {
		r.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	start := time.Now()
	resp, err := r.browser.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b), time.Since(start)
}

// flow runs a whole flow, the user pressing Done on the white-label page,
// and returns the app's answer to the return.
func (r *rig) flow() *http.Response {
	r.t.Helper()
	start, err := r.browser.Get(r.app.URL + "/manage-connections")
	if err != nil {
		r.t.Fatal(err)
	}
	back, err := bluenexustest.NewUser(r.emu, r.browser).Done(r.t.Context(), start)
	if err != nil {
		r.t.Fatal(err)
	}
	return back.Response
}

// hits is the emulator's count of handoff init calls.
func (r *rig) hits() int { return r.emu.Hits(bluenexustest.PathHandoffInit) }

// logged returns the kit's log lines with the given event name, decoded.
func (r *rig) logged(name string) []map[string]any {
	r.t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(r.log.String()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			r.t.Fatalf("log line is not JSON: %q", sc.Text())
		}
		if m["event"] == name {
			out = append(out, m)
		}
	}
	return out
}

// rigObserver records the upstream error classes the kit reports.
type rigObserver struct {
	mu      sync.Mutex
	classes []string
}

func (o *rigObserver) Minted(time.Duration)             {}
func (o *rigObserver) Outcome(string, handlers.Outcome) {}
func (o *rigObserver) GuardPressure()                   {}
func (o *rigObserver) TokenEvent(string)                {}

func (o *rigObserver) UpstreamError(class string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.classes = append(o.classes, class)
}

func (o *rigObserver) seen() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.classes)
}

// rigErrors keeps the last error the error handler received.
type rigErrors struct {
	mu    sync.Mutex
	final error
}

func (e *rigErrors) add(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.final = err
}

func (e *rigErrors) last() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.final
}
