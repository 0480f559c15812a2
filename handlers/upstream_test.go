package handlers_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
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

// rig is a harness whose BlueNexus client, logging and error handler the
// test controls: the kit is mounted on chi behind the harness's auth
// middleware and middleware.ClientIP, and every failure the error handler
// sees, every observer event and every kit log line is recorded.
type rig struct {
	*harness
	client *bluenexus.Client
	obs    *rigObserver
	log    *testkit.SyncBuffer // the kit's log (WithLogger) and whatever wrap logs
	errs   *rigErrors
	// responses holds every response of the app the browser received, when
	// rigConfig.record is set.
	responses *rigResponses
}

type rigConfig struct {
	clientOpts  []bluenexus.Option
	kitOpts     []handlers.Option
	sessionOpts []session.Option
	emuOpts     []bluenexustest.Option
	// token, when set, is alice's access token at the emulator (otherwise a
	// random one).
	token bluenexus.AccessToken
	// hook runs as the on-return hook; nil succeeds.
	hook func(context.Context, handlers.ReturnEvent) error
	// wrap, when set, wraps the whole app (outermost), for logging
	// middleware that writes to log (rig.log).
	wrap func(log io.Writer, app http.Handler) http.Handler
	// logger is the kit's WithLogger logger; default: a debug-level JSON
	// logger writing to rig.log.
	logger func(io.Writer) zerolog.Logger
	// record keeps every app response the browser receives.
	record bool
}

// Test-only request headers: the rig's access-token and client-IP functions
// find nothing when they are set, to reach the kit's own failure paths.
const (
	hdrNoToken = "X-Test-No-Token"
	hdrNoIP    = "X-Test-No-Client-Ip"
)

func newRig(t *testing.T, rc rigConfig) *rig {
	t.Helper()
	h := &harness{t: t, events: make(chan handlers.ReturnEvent, 16)}
	r := &rig{harness: h, obs: &rigObserver{}, log: &testkit.SyncBuffer{}, errs: &rigErrors{}, responses: &rigResponses{}}

	emuOpts := []bluenexustest.Option{bluenexustest.WithUser("alice")}
	if rc.token != "" {
		emuOpts = []bluenexustest.Option{bluenexustest.WithUserToken("alice", rc.token)}
	}
	h.emu = bluenexustest.NewServer(append(emuOpts, rc.emuOpts...)...)
	t.Cleanup(h.emu.Close)
	h.token = h.emu.AddUser("alice")

	var err error
	r.client, err = bluenexus.NewClient(append([]bluenexus.Option{bluenexus.WithBaseURL(h.emu.URL())}, rc.clientOpts...)...)
	if err != nil {
		t.Fatal(err)
	}
	store, err := session.NewCookieStore(testKeys)
	if err != nil {
		t.Fatal(err)
	}
	flows, err := session.New(store, rc.sessionOpts...)
	if err != nil {
		t.Fatal(err)
	}
	h.app = httptest.NewUnstartedServer(nil)

	newLogger := rc.logger
	if newLogger == nil {
		newLogger = func(w io.Writer) zerolog.Logger {
			return zerolog.New(w).Level(zerolog.DebugLevel).With().Str("logger", "kit").Logger()
		}
	}
	hook := rc.hook
	opts := append([]handlers.Option{
		handlers.WithWhiteLabelURL(h.emu.WhiteLabelURL()),
		handlers.WithReturnURL("https://" + h.app.Listener.Addr().String() + "/connections/return"),
		handlers.WithAccessToken(func(req *http.Request) (bluenexus.AccessToken, bool) {
			if req.Header.Get(hdrNoToken) != "" {
				return "", false
			}
			tok, ok := req.Context().Value(userKey{}).(bluenexus.AccessToken)
			return tok, ok
		}),
		handlers.WithClientIP(func(req *http.Request) (netip.Addr, bool) {
			if req.Header.Get(hdrNoIP) != "" {
				return netip.Addr{}, false
			}
			return middleware.GetClientIP(req.Context())
		}),
		handlers.WithOnReturn(func(ctx context.Context, ev handlers.ReturnEvent) error {
			h.hooks.Add(1)
			if hook != nil {
				return hook(ctx, ev)
			}
			return nil
		}),
		handlers.WithObserver(r.obs),
		handlers.WithLogger(newLogger(r.log)),
		handlers.WithErrorHandler(func(w http.ResponseWriter, req *http.Request, err error) {
			r.errs.add(err)
			handlers.DefaultErrorHandler(w, req, err)
		}),
	}, rc.kitOpts...)
	if h.kit, err = handlers.New(r.client, flows, opts...); err != nil {
		t.Fatal(err)
	}

	router := chi.NewRouter()
	router.Use(middleware.ClientIP(middleware.RemoteAddrStrategy()))
	router.With(h.auth).Get("/manage-connections", h.kit.ManageConnections().ServeHTTP)
	router.With(h.auth).Handle("/connections/return", h.kit.Return())
	var app http.Handler = router
	if rc.wrap != nil {
		app = rc.wrap(r.log, app)
	}
	h.app.Config.Handler = app
	h.app.StartTLS()
	t.Cleanup(h.app.Close)

	jar, _ := cookiejar.New(nil)
	tr := h.app.Client().Transport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: h.app.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
	var rt http.RoundTripper = tr
	if rc.record {
		rt = &rigTransport{next: tr, appHost: h.app.Listener.Addr().String(), log: r.responses}
	}
	h.browser = &http.Client{Jar: jar, Transport: rt,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	t.Cleanup(tr.CloseIdleConnections)
	h.signIn("alice")
	return r
}

// manage calls /manage-connections and reports how long it took.
func (r *rig) manage(header ...string) (*http.Response, string, time.Duration) {
	r.t.Helper()
	start := time.Now()
	resp, body := r.get(r.app.URL+"/manage-connections", header...)
	return resp, body, time.Since(start)
}

// hits is the emulator's count of handoff init calls.
func (r *rig) hits() int { return r.emu.Hits(bluenexus.PathHandoffInit) }

// logged returns the kit's log lines with the given event name, decoded.
func (r *rig) logged(name string) []map[string]any {
	return rigLogEvents(r.t, r.log.String(), name)
}

// rigLogEvents decodes the JSON log lines with the given event name (all
// lines for "").
func rigLogEvents(t *testing.T, log, name string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", sc.Text())
		}
		if name == "" || m["event"] == name {
			out = append(out, m)
		}
	}
	return out
}

// rigObserver records the kit's metrics events.
type rigObserver struct {
	mu       sync.Mutex
	minted   int
	outcomes []string // route/outcome
	classes  []string
}

func (o *rigObserver) Minted(time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.minted++
}

func (o *rigObserver) Outcome(route string, out handlers.Outcome) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.outcomes = append(o.outcomes, route+"/"+string(out))
}

func (o *rigObserver) UpstreamError(class string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.classes = append(o.classes, class)
}

func (o *rigObserver) snapshot() (minted int, outcomes, classes []string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.minted, slices.Clone(o.outcomes), slices.Clone(o.classes)
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

func (e *rigErrors) all() []error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.errs)
}

func (e *rigErrors) last() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.errs) == 0 {
		return nil
	}
	return e.errs[len(e.errs)-1]
}

// upstreamCase is one misbehaviour of BlueNexus's handoff init, and what
// the user and the upstream must see.
type upstreamCase struct {
	name       string
	clientOpts []bluenexus.Option
	faults     []bluenexustest.Fault
	// elsewhere makes the fault a redirect to a second emulator.
	elsewhere bool

	wantStatus     int
	wantHits       int
	wantRetryAfter string // "" for no header
	wantErr        error  // sentinel the error handler's error matches
	wantClass      string // observer class and log upstream_error; "" for success
	wantUpstream   int    // log upstream_status; 0 for none
	maxElapsed     time.Duration
}

// TestD3D4_UpstreamFaultsThroughHandlers drives every emulator fault through
// the real /manage-connections handler (SECURITY.md D3, D4, D5): the user
// gets a local error within the budget, the init POST is retried only on
// 429/503 with a Retry-After that fits, redirects are never followed, and
// each failure is counted by class and logged with the upstream status.
func TestD3D4_UpstreamFaultsThroughHandlers(t *testing.T) {
	const budget = 300 * time.Millisecond
	cases := []upstreamCase{
		{
			name:       "D3 latency beyond the budget: 504 within it, one hit",
			clientOpts: []bluenexus.Option{bluenexus.WithTimeout(budget)},
			faults:     []bluenexustest.Fault{bluenexustest.Latency(time.Minute)},
			wantStatus: http.StatusGatewayTimeout, wantHits: 1, wantErr: bluenexus.ErrTimeout,
			wantClass: "timeout", maxElapsed: budget + time.Second,
		},
		{
			name:       "D4 500 is not retried",
			faults:     []bluenexustest.Fault{bluenexustest.Status(500)},
			wantStatus: http.StatusBadGateway, wantHits: 1, wantErr: bluenexus.ErrServer,
			wantClass: "server", wantUpstream: 500,
		},
		{
			name:       "D4 503 with a Retry-After that fits is retried once, then succeeds",
			clientOpts: []bluenexus.Option{bluenexus.WithTimeout(3 * time.Second)},
			faults:     []bluenexustest.Fault{bluenexustest.RetryAfter(503, time.Second)},
			wantStatus: http.StatusFound, wantHits: 2,
		},
		{
			name:       "D4 503 with a Retry-After beyond the budget is not retried",
			clientOpts: []bluenexus.Option{bluenexus.WithTimeout(2 * time.Second)},
			faults:     []bluenexustest.Fault{bluenexustest.RetryAfter(503, 30*time.Second)},
			wantStatus: http.StatusBadGateway, wantHits: 1, wantRetryAfter: "30", wantErr: bluenexus.ErrServer,
			wantClass: "server", wantUpstream: 503,
		},
		{
			name:       "D4 503 without Retry-After is not retried",
			faults:     []bluenexustest.Fault{bluenexustest.Status(503)},
			wantStatus: http.StatusBadGateway, wantHits: 1, wantErr: bluenexus.ErrServer,
			wantClass: "server", wantUpstream: 503,
		},
		{
			name:       "D4 429 without Retry-After is not retried",
			faults:     []bluenexustest.Fault{bluenexustest.Status(429)},
			wantStatus: http.StatusBadGateway, wantHits: 1, wantErr: bluenexus.ErrRateLimited,
			wantClass: "rate_limited", wantUpstream: 429,
		},
		{
			name:       "D4 429 with a Retry-After beyond the budget is not retried",
			clientOpts: []bluenexus.Option{bluenexus.WithTimeout(2 * time.Second)},
			faults:     []bluenexustest.Fault{bluenexustest.RetryAfter(429, 30*time.Second)},
			wantStatus: http.StatusBadGateway, wantHits: 1, wantRetryAfter: "30", wantErr: bluenexus.ErrRateLimited,
			wantClass: "rate_limited", wantUpstream: 429,
		},
		{
			name:       "D4 429 with a Retry-After that fits is retried once, then succeeds",
			clientOpts: []bluenexus.Option{bluenexus.WithTimeout(3 * time.Second)},
			faults:     []bluenexustest.Fault{bluenexustest.RetryAfter(429, time.Second)},
			wantStatus: http.StatusFound, wantHits: 2,
		},
		{
			name:       "malformed JSON",
			faults:     []bluenexustest.Fault{bluenexustest.MalformedJSON()},
			wantStatus: http.StatusBadGateway, wantHits: 1, wantErr: bluenexus.ErrBadResponse, wantClass: "bad_response",
		},
		{
			name:       "D5 oversized body",
			clientOpts: []bluenexus.Option{bluenexus.WithMaxBodyBytes(64 << 10)},
			faults:     []bluenexustest.Fault{bluenexustest.OversizedBody(256 << 10)},
			wantStatus: http.StatusBadGateway, wantHits: 1, wantErr: bluenexus.ErrBadResponse, wantClass: "bad_response",
		},
		{
			name:       "wrong content type",
			faults:     []bluenexustest.Fault{bluenexustest.WrongContentType()},
			wantStatus: http.StatusBadGateway, wantHits: 1, wantErr: bluenexus.ErrBadResponse, wantClass: "bad_response",
		},
		{
			name:       "D4 connection reset after the request was read is never retried",
			faults:     []bluenexustest.Fault{bluenexustest.ResetAfterRead()},
			wantStatus: http.StatusBadGateway, wantHits: 1, wantErr: bluenexus.ErrConnection, wantClass: "connection",
		},
		{
			name:       "D5 redirect to another host is not followed",
			elsewhere:  true,
			wantStatus: http.StatusBadGateway, wantHits: 1, wantErr: bluenexus.ErrBadResponse, wantClass: "bad_response",
		},
		{
			name:       "client criteria not met (400)",
			faults:     []bluenexustest.Fault{{Status: 400, Message: bluenexus.ClientCriteriaMessage}},
			wantStatus: http.StatusBadGateway, wantHits: 1, wantErr: bluenexus.ErrClientCriteria,
			wantClass: "client_criteria", wantUpstream: 400,
		},
		{
			name:       "401 from BlueNexus",
			faults:     []bluenexustest.Fault{bluenexustest.Status(401)},
			wantStatus: http.StatusBadGateway, wantHits: 1, wantErr: bluenexus.ErrUnauthorized,
			wantClass: "unauthorized", wantUpstream: 401,
		},
		{
			name:       "403 from BlueNexus",
			faults:     []bluenexustest.Fault{bluenexustest.Status(403)},
			wantStatus: http.StatusBadGateway, wantHits: 1, wantErr: bluenexus.ErrForbidden,
			wantClass: "forbidden", wantUpstream: 403,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, rigConfig{clientOpts: tc.clientOpts})
			faults := tc.faults
			var other *bluenexustest.Server
			if tc.elsewhere {
				other = bluenexustest.NewServer(bluenexustest.WithUser("alice"))
				t.Cleanup(other.Close)
				faults = []bluenexustest.Fault{bluenexustest.RedirectTo(other.URL() + bluenexus.PathHandoffInit)}
			}
			r.emu.Inject(bluenexus.PathHandoffInit, faults...)

			resp, body, elapsed := r.manage()
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.wantStatus, body)
			}
			if n := r.hits(); n != tc.wantHits {
				t.Errorf("upstream hits = %d, want %d", n, tc.wantHits)
			}
			if other != nil {
				if n := other.Hits(bluenexus.PathHandoffInit); n != 0 {
					t.Errorf("the redirect target got %d hits, want 0", n)
				}
			}
			if tc.maxElapsed > 0 && elapsed > tc.maxElapsed {
				t.Errorf("answered after %v, want within %v", elapsed, tc.maxElapsed)
			}
			assertNoStore(t, resp)
			minted, outcomes, classes := r.obs.snapshot()

			if tc.wantStatus == http.StatusFound {
				if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, r.emu.WhiteLabelURL()+"?code=") {
					t.Errorf("Location = %q, want the white-label page", loc)
				}
				if minted != 1 || !slices.Equal(outcomes, []string{"manage/minted"}) || len(classes) != 0 {
					t.Errorf("observer: minted %d, outcomes %v, classes %v; want 1, [manage/minted], []", minted, outcomes, classes)
				}
				if n := len(r.logged("handoff.minted")); n != 1 {
					t.Errorf("%d handoff.minted log events, want 1", n)
				}
				return
			}

			if loc := resp.Header.Get("Location"); loc != "" {
				t.Errorf("error response redirects to %q", loc)
			}
			if got := resp.Header.Get("Retry-After"); got != tc.wantRetryAfter {
				t.Errorf("Retry-After = %q, want %q", got, tc.wantRetryAfter)
			}
			err := r.errs.last()
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("error handler got %v, want %v", err, tc.wantErr)
			}
			if got := handlers.StatusOf(err); got != resp.StatusCode {
				t.Errorf("StatusOf = %d, but the user got %d", got, resp.StatusCode)
			}
			if strings.Contains(body, "bluenexus:") || strings.Contains(body, r.emu.URL()) {
				t.Errorf("the user sees upstream details: %s", body)
			}
			if minted != 0 || !slices.Equal(outcomes, []string{"manage/upstream_error"}) || !slices.Equal(classes, []string{tc.wantClass}) {
				t.Errorf("observer: minted %d, outcomes %v, classes %v; want 0, [manage/upstream_error], [%s]", minted, outcomes, classes, tc.wantClass)
			}
			evs := r.logged("handoff.failed")
			if len(evs) != 1 {
				t.Fatalf("%d handoff.failed log events, want 1:\n%s", len(evs), r.log.String())
			}
			ev := evs[0]
			if ev["outcome"] != "upstream_error" || ev["upstream_error"] != tc.wantClass || ev["route"] != "manage" {
				t.Errorf("log event %v: want outcome upstream_error, upstream_error %s, route manage", ev, tc.wantClass)
			}
			if _, ok := ev["latency"]; !ok {
				t.Errorf("log event %v has no latency", ev)
			}
			got, _ := ev["upstream_status"].(float64)
			if int(got) != tc.wantUpstream {
				t.Errorf("log upstream_status = %v, want %d", ev["upstream_status"], tc.wantUpstream)
			}
		})
	}
}

// TestD3_CodeMintedWithTooLittleLife: BlueNexus issues codes that live 3 s
// and the kit wants 10 s left: it mints exactly once more, then sends the
// user on with the second code (which the white-label page accepts).
func TestD3_CodeMintedWithTooLittleLife(t *testing.T) {
	r := newRig(t, rigConfig{
		emuOpts: []bluenexustest.Option{bluenexustest.WithCodeTTL(3 * time.Second)},
		kitOpts: []handlers.Option{handlers.WithMinCodeLife(10 * time.Second)},
	})
	resp, body, _ := r.manage()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("status %d, want 302: %s", resp.StatusCode, body)
	}
	if n := r.hits(); n != 2 {
		t.Fatalf("upstream hits = %d, want 2 (the code, then one more)", n)
	}
	minted, outcomes, classes := r.obs.snapshot()
	if minted != 2 || !slices.Equal(outcomes, []string{"manage/minted"}) || len(classes) != 0 {
		t.Errorf("observer: minted %d, outcomes %v, classes %v; want 2, [manage/minted], []", minted, outcomes, classes)
	}
	// The code the user carries is the live one.
	if back := r.complete(resp.Header.Get("Location")); back == "" {
		t.Fatal("no return redirect")
	}
	if n := r.hits(); n != 2 {
		t.Errorf("upstream hits after the white-label page = %d, want still 2", n)
	}
}

// TestD3_SecondMintSharesTheBudget: the second mint runs inside what is left
// of the client's budget, not a fresh one: two slow calls that each fit the
// budget alone, but not together, end in a timeout within one budget.
func TestD3_SecondMintSharesTheBudget(t *testing.T) {
	r := newRig(t, rigConfig{
		clientOpts: []bluenexus.Option{bluenexus.WithTimeout(600 * time.Millisecond)},
		emuOpts:    []bluenexustest.Option{bluenexustest.WithCodeTTL(3 * time.Second)},
		kitOpts:    []handlers.Option{handlers.WithMinCodeLife(10 * time.Second)},
	})
	r.emu.Inject(bluenexus.PathHandoffInit, bluenexustest.Latency(400*time.Millisecond), bluenexustest.Latency(400*time.Millisecond))
	resp, body, took := r.manage()
	if resp.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("status %d, want 504: %s", resp.StatusCode, body)
	}
	if took > 600*time.Millisecond+time.Second {
		t.Errorf("took %v, want about one 600ms budget", took)
	}
	if n := r.hits(); n != 2 {
		t.Errorf("upstream hits = %d, want 2", n)
	}
}

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
		bluenexus.WithBreaker(bluenexus.BreakerSettings{ConsecutiveFailures: 3, OpenTimeout: openFor}),
		bluenexus.WithBreakerStateChange(func(from, to string) {
			mu.Lock()
			changes = append(changes, from+"->"+to)
			mu.Unlock()
			m.BreakerStateChange(from, to)
		}),
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

	r.emu.InjectAlways(bluenexus.PathHandoffInit, bluenexustest.Status(500))
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
	r.emu.Inject(bluenexus.PathHandoffInit, bluenexustest.Status(500))
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

// rigResponses keeps the app's responses as the browser received them.
type rigResponses struct {
	mu   sync.Mutex
	list []rigResponse
}

type rigResponse struct {
	method string
	path   string
	status int
	header http.Header
	body   string
}

func (l *rigResponses) all() []rigResponse {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.list)
}

// rigTransport records every response from the app's host.
type rigTransport struct {
	next    http.RoundTripper
	appHost string
	log     *rigResponses
}

func (t *rigTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil || req.URL.Host != t.appHost {
		return resp, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	t.log.mu.Lock()
	t.log.list = append(t.log.list, rigResponse{
		method: req.Method, path: req.URL.Path, status: resp.StatusCode,
		header: resp.Header.Clone(), body: string(b),
	})
	t.log.mu.Unlock()
	return resp, nil
}
