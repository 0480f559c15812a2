package metrics_test

// The Prometheus observer and breaker gauge through the kit's handlers,
// moved here from handlers/upstream_test.go with the part of that package's
// test rig they use, so that the root module does not require this one.

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
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
// gobreaker reads the real clock and the emulator is a real network server
// (which a synctest bubble cannot hold), so the test uses a short open
// period and polls for its end with a generous bound.
func TestD5_BreakerThroughHandlers(t *testing.T) {
	const openFor = 1500 * time.Millisecond
	reg := prometheus.NewPedanticRegistry()
	m, err := metrics.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var changes []string
	r := newRig(t, rigConfig{clientOpts: []bluenexus.Option{
		bluenexus.WithBreaker(bluenexus.BreakerSettings{ConsecutiveFailures: 3, OpenTimeout: openFor,
			OnStateChange: func(from, to string) {
				mu.Lock()
				changes = append(changes, from+"->"+to)
				mu.Unlock()
				m.BreakerStateChange(from, to)
			}}),
	}})
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

	r.emu.InjectAlways(bluenexustest.PathHandoffInit, bluenexustest.Status(500))
	for i := range 3 {
		if resp, body, _ := r.manage(); resp.StatusCode != http.StatusBadGateway {
			t.Fatalf("failure %d: status %d, want 502: %s", i+1, resp.StatusCode, body)
		}
	}
	tripped := time.Now()
	if g := gauge(); g != 2 {
		t.Errorf("breaker gauge = %v after the failures, want 2 (open)", g)
	}
	for i := range 3 {
		resp, body, elapsed := r.manage("Accept", "application/json")
		if time.Since(tripped) >= openFor {
			t.Skip("the machine is too slow for the open period")
		}
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("open breaker, request %d: status %d, want 503: %s", i+1, resp.StatusCode, body)
		}
		if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 2 {
			t.Errorf("Retry-After = %q, want 1 or 2 seconds", resp.Header.Get("Retry-After"))
		}
		if !strings.Contains(body, `"error":"unavailable"`) {
			t.Errorf("body %s, want the unavailable outcome", body)
		}
		if !errors.Is(r.errs.last(), bluenexus.ErrCircuitOpen) {
			t.Errorf("error handler got %v, want ErrCircuitOpen", r.errs.last())
		}
		if elapsed > time.Second {
			t.Errorf("fail-fast answer took %v", elapsed)
		}
	}
	if n := r.hits(); n != 3 {
		t.Fatalf("upstream hits = %d while open, want 3", n)
	}
	_, _, classes := r.obs.snapshot()
	if want := []string{"server", "server", "server", "circuit_open", "circuit_open", "circuit_open"}; !slices.Equal(classes, want) {
		t.Errorf("upstream error classes %v, want %v", classes, want)
	}
	if evs := r.logged("handoff.failed"); len(evs) != 6 || evs[5]["outcome"] != "unavailable" || evs[5]["upstream_error"] != "circuit_open" {
		t.Errorf("failure log events %v, want 6 ending with outcome unavailable", evs)
	}

	// BlueNexus recovers; after the open period one probe closes the breaker.
	r.emu.ClearFaults()
	deadline := time.Now().Add(openFor + 10*time.Second)
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
		time.Sleep(50 * time.Millisecond) // polling the breaker's real clock
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
	back := r.complete(r.startFlow(""))
	if resp, _ := r.get(back); resp.StatusCode != http.StatusSeeOther {
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

// testKeys are fixed cookie keys for tests.
var testKeys = session.KeyPair{
	Hash:  []byte("0123456789abcdef0123456789abcdef"),
	Block: []byte("fedcba9876543210fedcba9876543210"),
}

// rig is an app with the kit mounted behind a test auth middleware and
// middleware.ClientIP, on an httptest TLS server, against the emulator:
// every failure the error handler sees, every observer event and every kit
// log line is recorded; browser is a cookie-jar client that does not follow
// redirects. (A cut-down copy of handlers' test rig.)
type rig struct {
	t       testing.TB
	emu     *bluenexustest.Server
	app     *httptest.Server
	token   bluenexus.AccessToken
	browser *http.Client
	obs     *rigObserver
	log     *testkit.SyncBuffer // the kit's log (WithLogger)
	errs    *rigErrors
}

type rigConfig struct {
	clientOpts []bluenexus.Option
	kitOpts    []handlers.Option
}

type userKey struct{}

func newRig(t *testing.T, rc rigConfig) *rig {
	t.Helper()
	r := &rig{t: t, obs: &rigObserver{}, log: &testkit.SyncBuffer{}, errs: &rigErrors{}}
	r.emu = bluenexustest.NewServer(bluenexustest.WithUser("alice"))
	t.Cleanup(r.emu.Close)
	r.token = r.emu.AddUser("alice")

	client, err := bluenexus.NewClient(append([]bluenexus.Option{bluenexus.WithBaseURL(r.emu.URL())}, rc.clientOpts...)...)
	if err != nil {
		t.Fatal(err)
	}
	store, err := session.NewCookieStore(testKeys)
	if err != nil {
		t.Fatal(err)
	}
	flows, err := session.New(store)
	if err != nil {
		t.Fatal(err)
	}
	r.app = httptest.NewUnstartedServer(nil)
	cfg := handlers.Config{
		WhiteLabelURL: r.emu.WhiteLabelURL(),
		ReturnURL:     "https://" + r.app.Listener.Addr().String() + "/connections/return",
		AccessToken: func(req *http.Request) (bluenexus.AccessToken, bool) {
			tok, ok := req.Context().Value(userKey{}).(bluenexus.AccessToken)
			return tok, ok
		},
	}
	opts := append([]handlers.Option{
		handlers.WithClient(client),
		handlers.WithFlows(flows),
		handlers.WithClientIP(func(req *http.Request) (netip.Addr, bool) { return middleware.GetClientIP(req.Context()) }),
		handlers.WithOnReturn(func(context.Context, handlers.ReturnEvent) error { return nil }),
		handlers.WithObserver(r.obs),
		handlers.WithLogger(zerolog.New(r.log).Level(zerolog.DebugLevel).With().Str("logger", "kit").Logger()),
		handlers.WithErrorHandler(func(w http.ResponseWriter, req *http.Request, err error) {
			r.errs.add(err)
			handlers.DefaultErrorHandler(w, req, err)
		}),
	}, rc.kitOpts...)
	kit, err := handlers.New(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /manage-connections", r.auth(kit.ManageConnections()))
	mux.Handle("/connections/return", r.auth(kit.Return()))
	r.app.Config.Handler = middleware.ClientIP(middleware.RemoteAddrStrategy())(mux)
	r.app.StartTLS()
	t.Cleanup(r.app.Close)

	jar, _ := cookiejar.New(nil)
	tr := r.app.Client().Transport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: r.app.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
	r.browser = &http.Client{Jar: jar, Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	t.Cleanup(tr.CloseIdleConnections)
	u, _ := url.Parse(r.app.URL)
	r.browser.Jar.SetCookies(u, []*http.Cookie{{Name: "user", Value: "alice", Path: "/"}})
	return r
}

// auth is the app's own auth middleware: a "user" cookie names the user.
func (r *rig) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		c, err := req.Cookie("user")
		if err != nil || c.Value != "alice" {
			http.Error(w, "sign in", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, req.WithContext(context.WithValue(req.Context(), userKey{}, r.token)))
	})
}

// get fetches a URL with the browser, returning the response with its body read.
func (r *rig) get(rawURL string, header ...string) (*http.Response, string) {
	r.t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		r.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return r.do(req)
}

func (r *rig) do(req *http.Request) (*http.Response, string) {
	r.t.Helper()
	resp, err := r.browser.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (r *rig) postForm(rawURL string, form url.Values) (*http.Response, string) {
	r.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, rawURL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r.do(req)
}

// startFlow calls /manage-connections and returns the white-label URL.
func (r *rig) startFlow(query string) string {
	r.t.Helper()
	resp, _ := r.get(r.app.URL + "/manage-connections" + query)
	if resp.StatusCode != http.StatusFound {
		r.t.Fatalf("manage-connections: status %d, want 302", resp.StatusCode)
	}
	return resp.Header.Get("Location")
}

var csrfField = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// complete runs the white-label page with no provider, then Done; it
// returns the redirect to the app's return URL.
func (r *rig) complete(wl string) string {
	r.t.Helper()
	resp, body := r.get(wl)
	for resp.StatusCode == http.StatusSeeOther || resp.StatusCode == http.StatusFound {
		next, _ := resp.Location()
		resp, body = r.get(next.String())
	}
	m := csrfField.FindStringSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil {
		r.t.Fatalf("white-label page: status %d, no csrf field: %s", resp.StatusCode, body)
	}
	resp, body = r.postForm(r.emu.WhiteLabelURL()+"/done", url.Values{"csrf_token": {m[1]}})
	if resp.StatusCode != http.StatusSeeOther {
		r.t.Fatalf("done: status %d, want 303: %s", resp.StatusCode, body)
	}
	return resp.Header.Get("Location")
}

// manage calls /manage-connections and reports how long it took.
func (r *rig) manage(header ...string) (*http.Response, string, time.Duration) {
	r.t.Helper()
	start := time.Now()
	resp, body := r.get(r.app.URL+"/manage-connections", header...)
	return resp, body, time.Since(start)
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

// rigObserver records the kit's observer events the tests read.
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

func (o *rigObserver) snapshot() (minted int, outcomes, classes []string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return 0, nil, slices.Clone(o.classes)
}

// rigErrors keeps every error the error handler received.
type rigErrors struct {
	mu   sync.Mutex
	errs []error
}

func (e *rigErrors) add(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.errs = append(e.errs, err)
}

func (e *rigErrors) last() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.errs) == 0 {
		return nil
	}
	return e.errs[len(e.errs)-1]
}
