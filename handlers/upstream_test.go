package handlers_test

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/rs/zerolog"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/bluenexus/bluenexustest"
	"github.com/handoffkit/handoffkit/handlers"
	"github.com/handoffkit/handoffkit/internal/bnwire"
	"github.com/handoffkit/handoffkit/internal/testkit"
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
	// front, with rigConfig.front, stands between the kit and the emulator.
	front *upstreamStub
	// served gets a token each time the app has finished a request (never
	// blocking), for requests whose answer the browser did not wait for.
	served chan struct{}
	// responses holds every response of the app the browser received, when
	// rigConfig.record is set.
	responses *rigResponses
}

type rigConfig struct {
	clientOpts  []bluenexus.Option
	kitOpts     []handlers.Option
	sessionOpts []session.Option
	emuOpts     []bluenexustest.Option
	// front puts an upstreamStub in front of the emulator: the kit's client
	// calls the stub, which forwards what it has no queued reply for.
	front bool
	// token, when set, is alice's access token at the emulator (otherwise a
	// random one).
	token bluenexus.AccessToken
	// accessToken, when set, is Config.AccessToken (otherwise alice's token
	// from the auth middleware, none with hdrNoToken).
	accessToken func(*http.Request) (bluenexus.AccessToken, bool)
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
	r := &rig{harness: h, obs: &rigObserver{}, served: make(chan struct{}, 256), log: &testkit.SyncBuffer{}, errs: &rigErrors{}, responses: &rigResponses{}}

	emuOpts := []bluenexustest.Option{bluenexustest.WithUser("alice")}
	if rc.token != "" {
		emuOpts = []bluenexustest.Option{bluenexustest.WithUserToken("alice", rc.token)}
	}
	h.emu = bluenexustest.NewServer(append(emuOpts, rc.emuOpts...)...)
	t.Cleanup(h.emu.Close)
	h.token = h.emu.AddUser("alice")
	h.tokenOf = map[string]bluenexus.AccessToken{"alice": h.token, "bob": h.emu.AddUser("bob")}

	base := h.emu.URL()
	if rc.front {
		r.front = newUpstreamStub(t, h.emu.URL())
		base = r.front.URL()
	}
	var err error
	r.client, err = bluenexus.NewClient(append([]bluenexus.Option{bluenexus.WithBaseURL(base)}, rc.clientOpts...)...)
	if err != nil {
		t.Fatal(err)
	}
	flows, err := session.New([]session.KeyPair{testKeys}, rc.sessionOpts...)
	if err != nil {
		t.Fatal(err)
	}
	h.app = httptest.NewUnstartedServer(nil)
	// The hook runs once for each return that reached it (success or
	// hook_failed), and never for anything else: no hostile upstream answer
	// runs it.
	t.Cleanup(func() {
		_, outcomes, _ := r.obs.snapshot()
		reached := 0
		for _, o := range outcomes {
			if o == "return/success" || o == "return/hook_failed" {
				reached++
			}
		}
		if n := int(h.hooks.Load()); n != reached {
			t.Errorf("the hook ran %d times for %d returns that reached it", n, reached)
		}
	})

	newLogger := rc.logger
	if newLogger == nil {
		newLogger = func(w io.Writer) zerolog.Logger {
			return zerolog.New(w).Level(zerolog.DebugLevel).With().Str("logger", "kit").Logger()
		}
	}
	hook := rc.hook
	cfg := handlers.Config{
		WhiteLabelURL: h.emu.WhiteLabelURL(),
		ReturnURL:     "https://" + h.app.Listener.Addr().String() + "/connections/return",
		User: func(req *http.Request) (string, bool) {
			u, ok := req.Context().Value(userKey{}).(string)
			return u, ok
		},
		AccessToken: func(req *http.Request) (bluenexus.AccessToken, bool) {
			if req.Header.Get(hdrNoToken) != "" {
				return "", false
			}
			u, ok := req.Context().Value(userKey{}).(string)
			return h.tokenOf[u], ok
		},
	}
	if rc.accessToken != nil {
		cfg.AccessToken = rc.accessToken
	}
	opts := append([]handlers.Option{
		handlers.WithClient(r.client),
		handlers.WithFlows(flows),
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
	if h.kit, err = handlers.New(cfg, opts...); err != nil {
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
	h.app.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		defer func() {
			select {
			case r.served <- struct{}{}:
			default:
			}
		}()
		app.ServeHTTP(w, req)
	})
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
	return r.manageQuery("", header...)
}

// manageQuery calls /manage-connections with a query ("?next=/x").
func (r *rig) manageQuery(query string, header ...string) (*http.Response, string, time.Duration) {
	r.t.Helper()
	start := time.Now()
	resp, body := r.get(r.app.URL+"/manage-connections"+query, header...)
	return resp, body, time.Since(start)
}

// hits is the emulator's count of handoff init calls.
func (r *rig) hits() int { return r.emu.Hits(bluenexustest.PathHandoffInit) }

// logged returns the kit's log lines with the given event name, decoded.
func (r *rig) logged(name string) []map[string]any {
	return rigLogEvents(r.t, r.log.String(), name)
}

// rigLogEvents decodes the JSON log lines with the given event name (all
// lines for "").
func rigLogEvents(t testing.TB, log, name string) []map[string]any {
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
	pressure int
	tokens   []string
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

func (o *rigObserver) GuardPressure() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.pressure++
}

func (o *rigObserver) TokenEvent(event string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.tokens = append(o.tokens, event)
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

// kitError returns err as the kit's *handlers.Error, failing t when it is
// not one.
func kitError(t *testing.T, err error) *handlers.Error {
	t.Helper()
	var e *handlers.Error
	if !errors.As(err, &e) {
		t.Fatalf("the error handler got %T %v, want a *handlers.Error", err, err)
	}
	return e
}

// upstreamCase is one misbehaviour of BlueNexus's handoff init, and what
// the user, the error handler, the observer and the log must see.
type upstreamCase struct {
	name       string
	clientOpts []bluenexus.Option
	faults     []bluenexustest.Fault // played by the emulator
	// stub, when set, stands in for BlueNexus: its init requests play these
	// replies, then good codes. Hits are counted there.
	stub []http.HandlerFunc
	// closedPort points the client at a port where nothing listens.
	closedPort bool
	// elsewhere makes the fault a redirect to a second emulator.
	elsewhere bool

	wantStatus     int
	wantHits       int    // -1: not countable (closed port)
	wantCode       string // success: the code the white-label URL carries
	wantMinted     int    // observer Minted calls: codes BlueNexus minted, used or not (on success at least 1)
	wantRetryAfter string // "" for no header
	wantOutcome    string
	wantErr        error  // sentinel the error handler's error matches, or nil
	wantAPIStatus  int    // the *bluenexus.APIError's status, also the log's upstream_status; 0 for none
	wantClass      string // observer class and log upstream_error
	wantLevel      string // log level of handoff.failed; default "warn"
	wantHint       string // substring of the log's hint; "" for no hint
	wantMessage    string // substring of the user's message
	notMessage     string // what the user's message must not say
	maxElapsed     time.Duration
}

// TestD3D4_UpstreamFaultsThroughHandlers drives every upstream failure
// through the real /manage-connections handler (SECURITY.md D3, D4, D5),
// with the emulator's fault injection or a stub standing in for BlueNexus:
// the user gets a local error within the budget, classified once into an
// outcome with its status, message and Retry-After (capped at 60 s); the
// init POST is retried only on 429/503 with a Retry-After that fits, a
// too short-lived code is minted once more, redirects are never followed;
// each failure is counted by class and logged at its level with the
// upstream status and, for misconfigurations, a hint; and no failure
// leaves a flow cookie behind.
func TestD3D4_UpstreamFaultsThroughHandlers(t *testing.T) {
	const budget = 300 * time.Millisecond
	short := func(body string) http.HandlerFunc { return stubJSON(http.StatusOK, body) }
	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	cases := []upstreamCase{
		{
			name:       "D3 latency beyond the budget: 504 within it, one hit",
			clientOpts: []bluenexus.Option{bluenexus.WithTimeout(budget)},
			faults:     []bluenexustest.Fault{bluenexustest.Latency(time.Minute)},
			wantStatus: http.StatusGatewayTimeout, wantHits: 1, wantOutcome: "upstream_error", wantErr: bluenexus.ErrTimeout,
			wantClass: "timeout", wantMessage: "did not answer in time", maxElapsed: budget + time.Second,
		},
		{
			name:       "D4 500 is not retried: 502 upstream_error, not 'could not be reached'",
			faults:     []bluenexustest.Fault{bluenexustest.Status(500)},
			wantStatus: http.StatusBadGateway, wantHits: 1, wantOutcome: "upstream_error", wantAPIStatus: 500,
			wantClass: "server", notMessage: "could not be reached",
		},
		{
			name:       "D4 503 with a Retry-After that fits is retried once, then succeeds",
			clientOpts: []bluenexus.Option{bluenexus.WithTimeout(3 * time.Second)},
			faults:     []bluenexustest.Fault{bluenexustest.RetryAfter(503, time.Second)},
			wantStatus: http.StatusFound, wantHits: 2,
		},
		{
			name:       "D4 503 with a Retry-After beyond the budget is not retried: 503 with it",
			clientOpts: []bluenexus.Option{bluenexus.WithTimeout(2 * time.Second)},
			faults:     []bluenexustest.Fault{bluenexustest.RetryAfter(503, 30*time.Second)},
			wantStatus: http.StatusServiceUnavailable, wantHits: 1, wantRetryAfter: "30", wantOutcome: "unavailable",
			wantAPIStatus: 503, wantClass: "server",
		},
		{
			name:       "D4 503 without Retry-After is not retried: 503, Retry-After 1",
			faults:     []bluenexustest.Fault{bluenexustest.Status(503)},
			wantStatus: http.StatusServiceUnavailable, wantHits: 1, wantRetryAfter: "1", wantOutcome: "unavailable",
			wantAPIStatus: 503, wantClass: "server",
		},
		{
			name:       "D4 429 without Retry-After is not retried: 503, Retry-After 1",
			faults:     []bluenexustest.Fault{bluenexustest.Status(429)},
			wantStatus: http.StatusServiceUnavailable, wantHits: 1, wantRetryAfter: "1", wantOutcome: "unavailable",
			wantAPIStatus: 429, wantClass: "rate_limited",
		},
		{
			name:       "D4 429 with Retry-After 5 beyond the budget: 503, Retry-After 5",
			clientOpts: []bluenexus.Option{bluenexus.WithTimeout(2 * time.Second)},
			faults:     []bluenexustest.Fault{bluenexustest.RetryAfter(429, 5*time.Second)},
			wantStatus: http.StatusServiceUnavailable, wantHits: 1, wantRetryAfter: "5", wantOutcome: "unavailable",
			wantAPIStatus: 429, wantClass: "rate_limited",
		},
		{
			name:       "D4 429 with Retry-After 120: 503, Retry-After capped at 60",
			faults:     []bluenexustest.Fault{bluenexustest.RetryAfter(429, 120*time.Second)},
			wantStatus: http.StatusServiceUnavailable, wantHits: 1, wantRetryAfter: "60", wantOutcome: "unavailable",
			wantAPIStatus: 429, wantClass: "rate_limited", wantMessage: "try again shortly",
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
			wantStatus: http.StatusBadGateway, wantHits: 1, wantOutcome: "bad_response", wantErr: bluenexus.ErrBadResponse, wantClass: "bad_response",
		},
		{
			name:       "D5 body over the 1 MiB cap",
			faults:     []bluenexustest.Fault{bluenexustest.OversizedBody(2 << 20)},
			wantStatus: http.StatusBadGateway, wantHits: 1, wantOutcome: "bad_response", wantErr: bluenexus.ErrBadResponse, wantClass: "bad_response",
		},
		{
			name:       "wrong content type",
			faults:     []bluenexustest.Fault{bluenexustest.WrongContentType()},
			wantStatus: http.StatusBadGateway, wantHits: 1, wantOutcome: "bad_response", wantErr: bluenexus.ErrBadResponse, wantClass: "bad_response",
		},
		{
			name:       "D4 connection reset after the request was read is never retried",
			faults:     []bluenexustest.Fault{bluenexustest.ResetAfterRead()},
			wantStatus: http.StatusBadGateway, wantHits: 1, wantOutcome: "upstream_error", wantErr: bluenexus.ErrConnection,
			wantClass: "connection", wantMessage: "could not be reached",
		},
		{
			name:       "connection refused (closed port): 502 'could not be reached'",
			closedPort: true,
			wantStatus: http.StatusBadGateway, wantHits: -1, wantOutcome: "upstream_error", wantErr: bluenexus.ErrConnection,
			wantClass: "connection", wantMessage: "could not be reached",
		},
		{
			name:       "D5 redirect to another host is not followed",
			elsewhere:  true,
			wantStatus: http.StatusBadGateway, wantHits: 1, wantOutcome: "bad_response", wantErr: bluenexus.ErrBadResponse, wantClass: "bad_response",
		},
		{
			name:       "client criteria not met (400): 502 client_criteria with a hint to docs/client-ip.md",
			faults:     []bluenexustest.Fault{{Status: 400, Message: bnwire.ClientCriteriaMessage}},
			wantStatus: http.StatusBadGateway, wantHits: 1, wantOutcome: "client_criteria", wantErr: bluenexus.ErrClientCriteria,
			wantAPIStatus: 400, wantClass: "client_criteria", wantHint: "docs/client-ip.md", wantMessage: "could not verify your network",
		},
		{
			name:       "another 400: 502 upstream_error, refused",
			faults:     []bluenexustest.Fault{bluenexustest.Status(400)},
			wantStatus: http.StatusBadGateway, wantHits: 1, wantOutcome: "upstream_error", wantAPIStatus: 400, wantClass: "refused",
		},
		{
			name:       "401 from BlueNexus: 401 token_expired, sign in again",
			faults:     []bluenexustest.Fault{bluenexustest.Status(401)},
			wantStatus: http.StatusUnauthorized, wantHits: 1, wantOutcome: "token_expired", wantAPIStatus: 401,
			wantClass: "unauthorized", wantLevel: "info", wantMessage: "sign in again",
		},
		{
			name:       "403 from BlueNexus: 502 forbidden, logged as an error with a hint",
			faults:     []bluenexustest.Fault{bluenexustest.Status(403)},
			wantStatus: http.StatusBadGateway, wantHits: 1, wantOutcome: "forbidden", wantAPIStatus: 403,
			wantClass: "forbidden", wantLevel: "error", wantHint: "white-label", wantMessage: "contact support",
		},
		{
			name:       "a code over 2 KB: 502 bad_response",
			stub:       []http.HandlerFunc{short(`{"code":"` + strings.Repeat("C", 3000) + `","expiresIn":30}`)},
			wantStatus: http.StatusBadGateway, wantHits: 1, wantOutcome: "bad_response", wantErr: bluenexus.ErrBadResponse, wantClass: "bad_response",
		},
		{
			name:       "D3 expiresIn 0: minted once more, the second code goes to the user",
			stub:       []http.HandlerFunc{short(`{"code":"dead-code","expiresIn":0}`)},
			wantStatus: http.StatusFound, wantHits: 2, wantCode: "good-code-2", wantMinted: 2,
		},
		{
			name:       "D3 negative expiresIn: minted once more",
			stub:       []http.HandlerFunc{short(`{"code":"dead-code","expiresIn":-30}`)},
			wantStatus: http.StatusFound, wantHits: 2, wantCode: "good-code-2", wantMinted: 2,
		},
		{
			name:       "D3 expiresAt in the past: minted once more",
			stub:       []http.HandlerFunc{short(`{"code":"dead-code","expiresAt":"` + past + `"}`)},
			wantStatus: http.StatusFound, wantHits: 2, wantCode: "good-code-2", wantMinted: 2,
		},
		{
			name:       "D3 expiresIn 5, under the 10 s minimum: minted once more",
			stub:       []http.HandlerFunc{short(`{"code":"short-code","expiresIn":5}`)},
			wantStatus: http.StatusFound, wantHits: 2, wantCode: "good-code-2", wantMinted: 2,
		},
		{
			name:       "D3 two dead codes: 502 bad_response, no Location",
			stub:       []http.HandlerFunc{short(`{"code":"dead-1","expiresIn":0}`), short(`{"code":"dead-2","expiresIn":0}`)},
			wantStatus: http.StatusBadGateway, wantHits: 2, wantMinted: 2, wantOutcome: "bad_response", wantClass: "bad_response",
		},
		{
			name:       "D3 two codes in the past: 502 bad_response",
			stub:       []http.HandlerFunc{short(`{"code":"dead-1","expiresAt":"` + past + `"}`), short(`{"code":"dead-2","expiresIn":-1}`)},
			wantStatus: http.StatusBadGateway, wantHits: 2, wantMinted: 2, wantOutcome: "bad_response", wantClass: "bad_response",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clientOpts := tc.clientOpts
			var stub *upstreamStub
			switch {
			case tc.stub != nil:
				stub = newUpstreamStub(t, "")
				stub.queue(tc.stub...)
				clientOpts = append(clientOpts, bluenexus.WithBaseURL(stub.URL()))
			case tc.closedPort:
				clientOpts = append(clientOpts, bluenexus.WithBaseURL(closedPortURL(t)))
			}
			r := newRig(t, rigConfig{clientOpts: clientOpts})
			faults := tc.faults
			var other *bluenexustest.Server
			if tc.elsewhere {
				other = bluenexustest.NewServer(bluenexustest.WithUser("alice"))
				t.Cleanup(other.Close)
				faults = []bluenexustest.Fault{bluenexustest.RedirectTo(other.URL() + bluenexustest.PathHandoffInit)}
			}
			r.emu.Inject(bluenexustest.PathHandoffInit, faults...)

			resp, body, elapsed := r.manage()
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.wantStatus, body)
			}
			hits := r.hits()
			if stub != nil {
				hits = stub.Hits()
			}
			if tc.wantHits >= 0 && hits != tc.wantHits {
				t.Errorf("upstream hits = %d, want %d", hits, tc.wantHits)
			}
			if other != nil {
				if n := other.Hits(bluenexustest.PathHandoffInit); n != 0 {
					t.Errorf("the redirect target got %d hits, want 0", n)
				}
			}
			if tc.maxElapsed > 0 && elapsed > tc.maxElapsed {
				t.Errorf("answered after %v, want within %v", elapsed, tc.maxElapsed)
			}
			assertNoStore(t, resp)
			minted, outcomes, classes := r.obs.snapshot()
			if n := r.hooks.Load(); n != 0 {
				t.Errorf("the hook ran %d times", n)
			}

			if tc.wantStatus == http.StatusFound {
				loc := resp.Header.Get("Location")
				if !strings.HasPrefix(loc, r.emu.WhiteLabelURL()+"?code=") {
					t.Errorf("Location = %q, want the white-label page", loc)
				}
				if tc.wantCode != "" && !strings.HasSuffix(loc, "?code="+tc.wantCode) {
					t.Errorf("Location = %q, want the code %s", loc, tc.wantCode)
				}
				if flowCookieSet(resp) {
					t.Error("a mint with the state in the URL set a flow cookie")
				}
				wantMinted := max(tc.wantMinted, 1)
				if minted != wantMinted || !slices.Equal(outcomes, []string{"manage/minted"}) || len(classes) != 0 {
					t.Errorf("observer: minted %d, outcomes %v, classes %v; want %d, [manage/minted], []", minted, outcomes, classes, wantMinted)
				}
				if n := len(r.logged("handoff.minted")); n != 1 {
					t.Errorf("%d handoff.minted log events, want 1", n)
				}
				return
			}

			if loc := resp.Header.Get("Location"); loc != "" {
				t.Errorf("error response redirects to %q", loc)
			}
			if flowCookieSet(resp) {
				t.Error("a failed mint set a flow cookie")
			}
			if got := resp.Header.Get("Retry-After"); got != tc.wantRetryAfter {
				t.Errorf("Retry-After = %q, want %q", got, tc.wantRetryAfter)
			}
			err := r.errs.last()
			e := kitError(t, err)
			if string(e.Outcome) != tc.wantOutcome || e.Status != resp.StatusCode {
				t.Errorf("error handler got outcome %s status %d, want %s and the user's %d", e.Outcome, e.Status, tc.wantOutcome, resp.StatusCode)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("error handler got %v, want %v", err, tc.wantErr)
			}
			var api *bluenexus.APIError
			if got := errors.As(err, &api); got != (tc.wantAPIStatus != 0) || got && api.StatusCode != tc.wantAPIStatus {
				t.Errorf("error handler got %v; want an APIError of status %d: %v", err, tc.wantAPIStatus, got)
			}
			if tc.wantMessage != "" && !strings.Contains(e.Message, tc.wantMessage) {
				t.Errorf("message %q, want it to say %q", e.Message, tc.wantMessage)
			}
			if tc.notMessage != "" && strings.Contains(e.Message, tc.notMessage) {
				t.Errorf("message %q says %q", e.Message, tc.notMessage)
			}
			if !strings.Contains(body, html.EscapeString(e.Message)) {
				t.Errorf("the page does not show the message %q: %s", e.Message, body)
			}
			if strings.Contains(body, "bluenexus:") || strings.Contains(body, r.emu.URL()) || strings.Contains(body, "127.0.0.1") {
				t.Errorf("the user sees upstream details: %s", body)
			}
			if minted != tc.wantMinted || !slices.Equal(outcomes, []string{"manage/" + tc.wantOutcome}) || !slices.Equal(classes, []string{tc.wantClass}) {
				t.Errorf("observer: minted %d, outcomes %v, classes %v; want %d, [manage/%s], [%s]", minted, outcomes, classes, tc.wantMinted, tc.wantOutcome, tc.wantClass)
			}
			evs := r.logged("handoff.failed")
			if len(evs) != 1 {
				t.Fatalf("%d handoff.failed log events, want 1:\n%s", len(evs), r.log.String())
			}
			ev := evs[0]
			if ev["outcome"] != tc.wantOutcome || ev["upstream_error"] != tc.wantClass || ev["route"] != "manage" {
				t.Errorf("log event %v: want outcome %s, upstream_error %s, route manage", ev, tc.wantOutcome, tc.wantClass)
			}
			wantLevel := cmp.Or(tc.wantLevel, "warn")
			if ev["level"] != wantLevel {
				t.Errorf("log level %v, want %s", ev["level"], wantLevel)
			}
			if _, ok := ev["latency_ms"].(float64); !ok {
				t.Errorf("log event %v has no latency_ms", ev)
			}
			if got, _ := ev["status"].(float64); int(got) != resp.StatusCode {
				t.Errorf("log status = %v, want %d", ev["status"], resp.StatusCode)
			}
			got, _ := ev["upstream_status"].(float64)
			if int(got) != tc.wantAPIStatus {
				t.Errorf("log upstream_status = %v, want %d", ev["upstream_status"], tc.wantAPIStatus)
			}
			hint, _ := ev["hint"].(string)
			if tc.wantHint == "" && hint != "" || !strings.Contains(hint, tc.wantHint) {
				t.Errorf("log hint = %q, want one containing %q", hint, tc.wantHint)
			}
		})
	}
}

// TestD3_CodeMintedWithTooLittleLife: BlueNexus issues codes that live 3 s
// and the kit wants 10 s left: it mints exactly once more and, the second
// code being no better, answers 502 bad_response without sending the user
// on or beginning a flow.
func TestD3_CodeMintedWithTooLittleLife(t *testing.T) {
	r := newRig(t, rigConfig{emuOpts: []bluenexustest.Option{bluenexustest.WithCodeTTL(3 * time.Second)}})
	resp, body, _ := r.manage()
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("status %d, want 502: %s", resp.StatusCode, body)
	}
	if loc := resp.Header.Get("Location"); loc != "" || flowCookieSet(resp) {
		t.Errorf("Location %q, flow cookie set %v: want neither", loc, flowCookieSet(resp))
	}
	if n := r.hits(); n != 2 {
		t.Fatalf("upstream hits = %d, want 2 (the code, then one more)", n)
	}
	if e := kitError(t, r.errs.last()); e.Outcome != "bad_response" {
		t.Errorf("outcome %s, want bad_response", e.Outcome)
	}
	minted, outcomes, classes := r.obs.snapshot()
	if minted != 2 || !slices.Equal(outcomes, []string{"manage/bad_response"}) || !slices.Equal(classes, []string{"bad_response"}) {
		t.Errorf("observer: minted %d, outcomes %v, classes %v; want 2, [manage/bad_response], [bad_response]", minted, outcomes, classes)
	}
}

// TestD3_SecondCodeIsTheLiveOne: the first code comes back already dead,
// the kit mints once more, and the code the user carries is the live one:
// the white-label page accepts it and the flow completes.
func TestD3_SecondCodeIsTheLiveOne(t *testing.T) {
	r := newRig(t, rigConfig{front: true})
	r.front.queue(stubJSON(http.StatusOK, `{"code":"dead-code","expiresIn":0}`))
	resp, body, _ := r.manage()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("status %d, want 302: %s", resp.StatusCode, body)
	}
	if n, m := r.front.Hits(), r.hits(); n != 2 || m != 1 {
		t.Fatalf("init calls: %d by the kit, %d reaching BlueNexus; want 2 and 1", n, m)
	}
	if strings.Contains(resp.Header.Get("Location"), "dead-code") {
		t.Fatal("the user carries the dead code")
	}
	back := r.complete(resp.Header.Get("Location"))
	if resp, _ := r.get(back); resp.StatusCode != http.StatusSeeOther || flashOf(resp) != "success" {
		t.Fatalf("return: %d, flash %q; want 303 success", resp.StatusCode, flashOf(resp))
	}
	if n := r.hits(); n != 1 {
		t.Errorf("upstream hits after the white-label page = %d, want still 1", n)
	}
}

// TestD3_SecondMintSharesTheBudget: the second mint runs inside what is left
// of the client's budget, not a fresh one: two slow calls that each fit the
// budget alone, but not together, end in a timeout within one budget.
func TestD3_SecondMintSharesTheBudget(t *testing.T) {
	r := newRig(t, rigConfig{
		clientOpts: []bluenexus.Option{bluenexus.WithTimeout(600 * time.Millisecond)},
		emuOpts:    []bluenexustest.Option{bluenexustest.WithCodeTTL(3 * time.Second)},
	})
	r.emu.Inject(bluenexustest.PathHandoffInit, bluenexustest.Latency(400*time.Millisecond), bluenexustest.Latency(400*time.Millisecond))
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

// abandonMint sends /manage-connections (with query) from a browser that
// leaves once the mint has reached BlueNexus (the rig's front stub, which
// holds the call until the kit gives up), and waits until the app has
// finished the request. No other request may be in flight.
func (r *rig) abandonMint(query string) {
	t := r.t
	t.Helper()
	for len(r.front.arrived) > 0 { // earlier init requests
		<-r.front.arrived
	}
	for len(r.served) > 0 { // earlier requests
		<-r.served
	}
	r.front.queue(stubHang)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.app.URL+"/manage-connections"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		status int
		err    error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := r.browser.Do(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		resp.Body.Close()
		done <- result{status: resp.StatusCode}
	}()
	<-r.front.arrived // the mint is under way
	cancel()
	// The browser sees its own cancellation, or, when the closed connection
	// reached the kit first, the kit's 499 client_gone.
	if res := <-done; !errors.Is(res.err, context.Canceled) && (res.err != nil || res.status != 499) {
		t.Fatalf("browser: status %d, error %v; want its own cancellation or 499", res.status, res.err)
	}
	// The bound only keeps a kit that never finishes from hanging the test.
	bound := time.NewTimer(10 * time.Second)
	defer bound.Stop()
	select {
	case <-r.served:
	case <-bound.C:
		t.Fatal("the app never finished the abandoned request")
	}
}

// TestClientGone: a browser that closes its request while the code is being
// minted ends as client_gone: reported to the observer and logged at Info
// (the user left; nothing is wrong with the server or BlueNexus), with no
// upstream error counted, one upstream call, and the call abandoned.
func TestClientGone(t *testing.T) {
	r := newRig(t, rigConfig{front: true})
	r.abandonMint("")
	minted, outcomes, classes := r.obs.snapshot()
	if minted != 0 || !slices.Equal(outcomes, []string{"manage/client_gone"}) || len(classes) != 0 {
		t.Errorf("observer: minted %d, outcomes %v, classes %v; want 0, [manage/client_gone], []", minted, outcomes, classes)
	}
	e := kitError(t, r.errs.last())
	if e.Outcome != "client_gone" || e.Status != 499 {
		t.Errorf("error handler got %s %d, want client_gone 499", e.Outcome, e.Status)
	}
	evs := r.logged("handoff.failed")
	if len(evs) != 1 {
		t.Fatalf("%d handoff.failed events, want 1:\n%s", len(evs), r.log.String())
	}
	if ev := evs[0]; ev["outcome"] != "client_gone" || ev["level"] != "info" || ev["upstream_error"] != nil {
		t.Errorf("log event %v: want outcome client_gone at info, no upstream_error", ev)
	}
	if n := r.front.Hits(); n != 1 {
		t.Errorf("upstream hits = %d, want 1", n)
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
