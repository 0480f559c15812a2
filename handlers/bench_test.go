package handlers_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/rs/zerolog/hlog"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/bluenexus/bluenexustest"
	"github.com/handoffkit/handoffkit/handlers"
	"github.com/handoffkit/handoffkit/internal/baseline"
	"github.com/handoffkit/handoffkit/internal/flow"
	"github.com/handoffkit/handoffkit/middleware"
	"github.com/handoffkit/handoffkit/session"
)

// The benchmarks run the kit's handlers and the hand-written lean baseline
// (internal/baseline: the state sealed with the standard library's AES-GCM)
// side by side on the same work: each request goes through ServeHTTP with a
// shared template request and a reused writer. The sub-benchmarks are named
// impl=kit and impl=lean, so that `benchstat -col /impl` sets them side by
// side (scripts/bench.sh).
//
// Two upstreams: the emulator over a loopback keep-alive connection (the
// benchmarks without a suffix and ...Stack: the whole request, most of it
// the round trip and the emulator's work), and an in-memory
// http.RoundTripper (the ...CPU benchmarks: the handler's own work, with no
// sockets and no emulator in the process).

const benchReturnURL = "https://app.example.com/connections/return"

// benchEnv is one upstream with the kit and the baseline configured
// against it, each once with the client IP read from r.RemoteAddr (bare
// handlers) and once from middleware.ClientIP (the recommended stack).
type benchEnv struct {
	emu    *bluenexustest.Server // nil with the in-memory upstream
	token  bluenexus.AccessToken
	flows  *session.Manager
	kit    *handlers.Kit // client IP from RemoteAddr
	kitMW  *handlers.Kit // client IP from middleware.ClientIP
	lean   *baseline.Lean
	leanMW *baseline.Lean
	logger zerolog.Logger
}

type benchUserKey struct{}

// newBenchEnv configures everything against the emulator over loopback.
func newBenchEnv(tb testing.TB, emuOpts ...bluenexustest.Option) *benchEnv {
	tb.Helper()
	emu := bluenexustest.NewServer(emuOpts...)
	tb.Cleanup(emu.Close)
	e := &benchEnv{emu: emu, token: emu.AddUser("alice")}
	e.configure(tb, emu.URL(), emu.WhiteLabelURL(), nil)
	return e
}

// Where the in-memory upstream's flows go: no request leaves the process.
const (
	memAPIBase    = "https://api.bluenexus.ai"
	memWhiteLabel = "https://connect.example.com/white-label"
)

// newMemBenchEnv configures everything against the in-memory upstream.
func newMemBenchEnv(tb testing.TB) *benchEnv {
	tb.Helper()
	e := &benchEnv{token: "bench-access-token"}
	e.configure(tb, memAPIBase, memWhiteLabel, newMemUpstream())
	return e
}

// configure builds the kit and the baseline; a nil transport is each
// one's default (pooled keep-alive connections).
func (e *benchEnv) configure(tb testing.TB, apiBase, whiteLabel string, transport http.RoundTripper) {
	tb.Helper()
	e.logger = zerolog.New(io.Discard).Level(zerolog.InfoLevel).With().Timestamp().Logger()

	clientOpts := []bluenexus.Option{bluenexus.WithBaseURL(apiBase)}
	if transport != nil {
		clientOpts = append(clientOpts, bluenexus.WithHTTPClient(&http.Client{Transport: transport}))
	}
	client, err := bluenexus.NewClient(clientOpts...)
	if err != nil {
		tb.Fatal(err)
	}
	// The default in-memory guard holds far more returns than a benchmark
	// finishes within one TTL.
	if e.flows, err = session.New([]session.KeyPair{testKeys}); err != nil {
		tb.Fatal(err)
	}
	cfg := handlers.Config{
		WhiteLabelURL: whiteLabel,
		ReturnURL:     benchReturnURL,
		User: func(r *http.Request) (string, bool) {
			_, ok := r.Context().Value(benchUserKey{}).(bluenexus.AccessToken)
			return "alice", ok
		},
		AccessToken: func(r *http.Request) (bluenexus.AccessToken, bool) {
			tok, ok := r.Context().Value(benchUserKey{}).(bluenexus.AccessToken)
			return tok, ok
		},
	}
	kitOpts := []handlers.Option{handlers.WithClient(client), handlers.WithFlows(e.flows), handlers.WithLogger(zerolog.Nop())}
	if e.kitMW, err = handlers.New(cfg, kitOpts...); err != nil {
		tb.Fatal(err)
	}
	if e.kit, err = handlers.New(cfg, append(kitOpts, handlers.WithClientIP(remoteAddrIP))...); err != nil {
		tb.Fatal(err)
	}

	bcfg := baseline.Config{
		HashKey:       testKeys.Hash,
		BlockKey:      testKeys.Block,
		APIBase:       apiBase,
		WhiteLabelURL: whiteLabel,
		ReturnURL:     benchReturnURL,
		User:          cfg.User,
		Token: func(r *http.Request) (string, bool) {
			tok, ok := r.Context().Value(benchUserKey{}).(bluenexus.AccessToken)
			return tok.Reveal(), ok
		},
		ClientIP: func(r *http.Request) (string, bool) {
			host, _, err := net.SplitHostPort(r.RemoteAddr)
			return host, err == nil
		},
		Transport: transport,
	}
	if e.lean, err = baseline.NewLean(bcfg); err != nil {
		tb.Fatal(err)
	}
	bcfg.ClientIP = func(r *http.Request) (string, bool) {
		ip, ok := middleware.GetClientIP(r.Context())
		if !ok {
			return "", false
		}
		return ip.String(), true
	}
	if e.leanMW, err = baseline.NewLean(bcfg); err != nil {
		tb.Fatal(err)
	}
	for _, c := range []*http.Client{e.lean.Client(), e.leanMW.Client()} {
		tb.Cleanup(c.CloseIdleConnections)
	}
}

// memUpstream answers BlueNexus's handoff init in memory: an
// http.RoundTripper without sockets or emulator, so that the CPU
// benchmarks time the handlers' own work. Like a transport it drains and
// closes the request body; it answers a POST to the init path carrying a
// bearer token with the emulator's 200 response (a 32-character code and
// an RFC 3339 expiresAt, here ten minutes after the Date header, the same
// bytes every time), anything else with a 404.
type memUpstream struct {
	body []byte
	date string
}

func newMemUpstream() *memUpstream {
	now := time.Now().UTC()
	exp := now.Add(10 * time.Minute).Format(time.RFC3339)
	return &memUpstream{
		body: []byte(`{"code":"hc_0123456789abcdefghijklmnopqrstuv","expiresAt":"` + exp + `"}`),
		date: now.Format(http.TimeFormat),
	}
}

func (u *memUpstream) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	status, body := http.StatusOK, u.body
	if req.Method != http.MethodPost || req.URL.Path != bluenexustest.PathHandoffInit ||
		!strings.HasPrefix(req.Header.Get("Authorization"), "Bearer ") {
		status, body = http.StatusNotFound, []byte(`{"error":"NotFoundError","message":"Not Found","statusCode":404}`)
	}
	return &http.Response{
		Status:        http.StatusText(status),
		StatusCode:    status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Type": {"application/json; charset=utf-8"}, "Date": {u.date}},
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}, nil
}

// remoteAddrIP is the bare benchmarks' client IP: the TCP peer.
func remoteAddrIP(r *http.Request) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	return ap.Addr(), err == nil
}

// auth is the app's auth middleware, the same for the kit and the baseline.
func (e *benchEnv) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), benchUserKey{}, e.token)))
	})
}

// stack wraps h in the middleware the README recommends, in the demo app's
// order: hlog logger and request id, access log (hlog.AccessHandler logging
// the path only), client IP, then the app's auth. The logger writes JSON to
// io.Discard at Info level.
func (e *benchEnv) stack(h http.Handler) http.Handler {
	h = e.auth(h)
	h = middleware.ClientIP(middleware.RemoteAddrStrategy())(h)
	h = benchAccessLog(h)
	h = hlog.RequestIDHandler("request_id", "X-Request-Id")(h)
	return hlog.NewHandler(e.logger)(h)
}

// benchAccessLog is the demo app's access log: method, path, status and
// latency, never the query string or headers.
var benchAccessLog = hlog.AccessHandler(func(r *http.Request, status, size int, d time.Duration) {
	hlog.FromRequest(r).Info().Str("method", r.Method).Str("path", r.URL.Path).
		Int("status", status).Float64("latency_ms", float64(d)/float64(time.Millisecond)).Msg("request")
})

// benchWriter is a ResponseWriter reused across iterations: it keeps the
// headers (cleared per request) and the status, and drops the body.
type benchWriter struct {
	h      http.Header
	status int
}

func (w *benchWriter) Header() http.Header { return w.h }
func (w *benchWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return len(b), nil
}
func (w *benchWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *benchWriter) reset() {
	clear(w.h)
	w.status = 0
}

// serve runs one request on a shallow copy of tmpl and checks the status.
func serve(b *testing.B, h http.Handler, w *benchWriter, tmpl *http.Request, want int) {
	w.reset()
	r := *tmpl
	h.ServeHTTP(w, &r)
	if w.status != want {
		b.Fatalf("status %d, want %d (Location %q)", w.status, want, w.h.Get("Location"))
	}
}

// cpuClock measures the process's CPU time (user and system) while the
// benchmark timer runs, reported as cpu-ns/op beside the wall time. On a
// shared machine it moves less with other processes' load than ns/op does.
// It counts the emulator's work too when it runs in the same process (the
// same for both), and the garbage collector's on the other core.
type cpuClock struct {
	started time.Duration
	total   time.Duration
}

func (c *cpuClock) start() { c.started = baseline.ProcessCPU() }
func (c *cpuClock) stop()  { c.total += baseline.ProcessCPU() - c.started }

func (c *cpuClock) report(b *testing.B) {
	if c.total <= 0 {
		return // not measured on this platform
	}
	b.ReportMetric(float64(c.total.Nanoseconds())/float64(b.N), "cpu-ns/op")
}

func benchManage(b *testing.B, h http.Handler) {
	tmpl := httptest.NewRequest(http.MethodGet, "https://app.example.com/manage-connections", nil)
	w := &benchWriter{h: http.Header{}}
	serve(b, h, w, tmpl, http.StatusFound) // warm the keep-alive connection
	var cpu cpuClock
	b.ReportAllocs()
	b.ResetTimer()
	cpu.start()
	for range b.N {
		serve(b, h, w, tmpl, http.StatusFound)
	}
	cpu.stop()
	b.StopTimer()
	cpu.report(b)
}

// returnBatch is how many flows are minted at a time, outside the timer,
// for the return benchmarks: each return consumes its flow.
const returnBatch = 512

// minter returns n fresh /return requests, each with its own state.
type minter func(b *testing.B, n int) []*http.Request

func benchReturn(b *testing.B, h http.Handler, mint minter) {
	w := &benchWriter{h: http.Header{}}
	var cpu cpuClock
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; {
		b.StopTimer()
		batch := mint(b, min(returnBatch, b.N-i))
		b.StartTimer()
		cpu.start()
		for _, r := range batch {
			serve(b, h, w, r, http.StatusSeeOther)
		}
		cpu.stop()
		i += len(batch)
	}
	b.StopTimer()
	cpu.report(b)
}

// returnRequest is the browser coming back with state.
func returnRequest(state string) *http.Request {
	return httptest.NewRequest(http.MethodGet, benchReturnURL+"?state="+state, nil)
}

// mintKit seals flows the way the kit's /manage-connections does, on the
// kit's flow manager directly (no mint: the return benchmarks time only the
// return). The state carries the flow: the return sends no cookie.
func (e *benchEnv) mintKit(b *testing.B, n int) []*http.Request {
	m := e.flows
	out := make([]*http.Request, n)
	for i := range out {
		state, err := m.Seal("alice", flow.Params{Intent: string(bluenexus.IntentConnections), Next: "/"})
		if err != nil {
			b.Fatal(err)
		}
		out[i] = returnRequest(state.Reveal())
	}
	return out
}

// mintLean seals flows with the baseline's Begin, the first half of its
// Manage.
func mintLean(l *baseline.Lean) minter {
	return func(b *testing.B, n int) []*http.Request {
		out := make([]*http.Request, n)
		for i := range out {
			out[i] = returnRequest(l.Begin("alice", "/"))
		}
		return out
	}
}

// runImpls runs one sub-benchmark per implementation, named with
// benchstat's key=value convention so that `benchstat -col /impl` puts
// them in columns: impl=kit, then impl=lean right after.
func runImpls(b *testing.B, kit, lean func(*testing.B)) {
	b.Run("impl=kit", kit)
	b.Run("impl=lean", lean)
}

// manageAll benchmarks /manage-connections of both implementations, each
// wrapped by wrap (the app's auth, or the whole stack).
func manageAll(b *testing.B, e *benchEnv, wrap func(http.Handler) http.Handler, kit *handlers.Kit, lean *baseline.Lean) {
	runImpls(b,
		func(b *testing.B) { benchManage(b, wrap(kit.ManageConnections())) },
		func(b *testing.B) { benchManage(b, wrap(http.HandlerFunc(lean.Manage))) })
}

// returnAll benchmarks /connections/return of both implementations, each
// wrapped by wrap, with flows minted outside the timer.
func returnAll(b *testing.B, e *benchEnv, wrap func(http.Handler) http.Handler, kit *handlers.Kit, lean *baseline.Lean) {
	runImpls(b,
		func(b *testing.B) { benchReturn(b, wrap(kit.Return()), e.mintKit) },
		func(b *testing.B) { benchReturn(b, wrap(http.HandlerFunc(lean.Return)), mintLean(lean)) })
}

// BenchmarkManageConnections: GET /manage-connections behind the app's auth
// middleware, upstream the emulator over loopback: state, handoff init,
// 302. Time and allocations include the round trip and the emulator's
// work, the same for both.
func BenchmarkManageConnections(b *testing.B) {
	e := newBenchEnv(b)
	manageAll(b, e, e.auth, e.kit, e.lean)
}

// BenchmarkManageConnectionsCPU is BenchmarkManageConnections with the
// in-memory upstream: the handler's own work (and the client's, and
// net/http's request building), nothing of a socket or an emulator.
func BenchmarkManageConnectionsCPU(b *testing.B) {
	e := newMemBenchEnv(b)
	manageAll(b, e, e.auth, e.kit, e.lean)
}

// BenchmarkReturnCPU: GET /connections/return behind the app's auth
// middleware: the state opened, its TTL, user and nonce checked, 303. It
// calls no upstream; the env is the in-memory one, so nothing else runs in
// the process.
func BenchmarkReturnCPU(b *testing.B) {
	e := newMemBenchEnv(b)
	returnAll(b, e, e.auth, e.kit, e.lean)
}

// BenchmarkManageConnectionsStack is BenchmarkManageConnections inside the
// recommended middleware stack, with an enabled logger.
func BenchmarkManageConnectionsStack(b *testing.B) {
	e := newBenchEnv(b)
	manageAll(b, e, e.stack, e.kitMW, e.leanMW)
}

// BenchmarkReturnStack is BenchmarkReturnCPU inside the recommended
// middleware stack, with an enabled logger.
func BenchmarkReturnStack(b *testing.B) {
	e := newMemBenchEnv(b)
	returnAll(b, e, e.stack, e.kitMW, e.leanMW)
}

// countingProxy forwards TCP connections to target and counts those it
// accepted: the connections a client opened to the upstream.
type countingProxy struct {
	ln       net.Listener
	accepted atomic.Int64
	wg       sync.WaitGroup
}

func newCountingProxy(t *testing.T, target string) *countingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &countingProxy{ln: ln}
	var mu sync.Mutex
	var open []net.Conn
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.accepted.Add(1)
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			open = append(open, c, up)
			mu.Unlock()
			p.wg.Add(2)
			go func() { defer p.wg.Done(); io.Copy(up, c); up.Close() }()
			go func() { defer p.wg.Done(); io.Copy(c, up); c.Close() }()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *countingProxy) URL() string { return "http://" + p.ln.Addr().String() }

// TestD3_ManageConnectionsReusesOneConnection: 1,000 sequential
// /manage-connections through the kit open exactly one TCP connection to
// BlueNexus (SECURITY.md D3: the client is shared and keeps its connection
// alive), and so does the baseline the benchmarks compare it with.
func TestD3_ManageConnectionsReusesOneConnection(t *testing.T) {
	const requests = 1000
	e := newBenchEnv(t)
	kitProxy := newCountingProxy(t, strings.TrimPrefix(e.emu.URL(), "http://"))
	leanProxy := newCountingProxy(t, strings.TrimPrefix(e.emu.URL(), "http://"))

	client, err := bluenexus.NewClient(bluenexus.WithBaseURL(kitProxy.URL()))
	if err != nil {
		t.Fatal(err)
	}
	kit, err := handlers.New(handlers.Config{
		WhiteLabelURL: e.emu.WhiteLabelURL(),
		ReturnURL:     benchReturnURL,
		User:          func(r *http.Request) (string, bool) { return "alice", true },
		AccessToken:   func(r *http.Request) (bluenexus.AccessToken, bool) { return e.token, true },
	}, handlers.WithClient(client), handlers.WithFlows(e.flows), handlers.WithClientIP(remoteAddrIP), handlers.WithLogger(zerolog.Nop()))
	if err != nil {
		t.Fatal(err)
	}
	bcfg := baseline.Config{
		HashKey: testKeys.Hash, BlockKey: testKeys.Block,
		APIBase: leanProxy.URL(), WhiteLabelURL: e.emu.WhiteLabelURL(), ReturnURL: benchReturnURL,
		User:     func(*http.Request) (string, bool) { return "alice", true },
		Token:    func(*http.Request) (string, bool) { return e.token.Reveal(), true },
		ClientIP: func(*http.Request) (string, bool) { return "192.0.2.1", true },
	}
	lean, err := baseline.NewLean(bcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lean.Client().CloseIdleConnections)

	for _, tc := range []struct {
		name  string
		h     http.Handler
		proxy *countingProxy
	}{
		{"kit", kit.ManageConnections(), kitProxy},
		{"lean", http.HandlerFunc(lean.Manage), leanProxy},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i := range requests {
				rec := httptest.NewRecorder()
				tc.h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "https://app.example.com/manage-connections", nil))
				if rec.Code != http.StatusFound {
					t.Fatalf("request %d: status %d, want 302", i, rec.Code)
				}
			}
			if n := tc.proxy.accepted.Load(); n != 1 {
				t.Errorf("%d TCP connections to BlueNexus for %d requests, want 1", n, requests)
			}
		})
	}
	if hits := e.emu.Hits(bluenexustest.PathHandoffInit); hits != 2*requests {
		t.Errorf("emulator saw %d handoff inits, want %d", hits, 2*requests)
	}
}
