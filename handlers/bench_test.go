package handlers_test

import (
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
	"github.com/handoffkit/handoffkit/middleware"
	"github.com/handoffkit/handoffkit/session"
)

// The benchmarks run the kit's handlers and the hand-written baseline
// (internal/baseline) side by side on the same work: each request goes
// through ServeHTTP with a shared template request and a reused writer, and
// both mint their codes from the same emulator over a loopback keep-alive
// connection. scripts/bench.sh prints the kit/baseline ratios.

const benchReturnURL = "https://app.example.com/connections/return"

// benchEnv is one emulator with the kit and the baseline configured against
// it, each once with the client IP read from r.RemoteAddr (bare handlers)
// and once from middleware.ClientIP (the recommended stack).
type benchEnv struct {
	emu    *bluenexustest.Server
	token  bluenexus.AccessToken
	flows  *session.Manager
	kit    *handlers.Kit // client IP from RemoteAddr
	kitMW  *handlers.Kit // client IP from middleware.ClientIP
	base   *baseline.Handlers
	baseMW *baseline.Handlers
	logger zerolog.Logger
}

type benchUserKey struct{}

func newBenchEnv(tb testing.TB, emuOpts ...bluenexustest.Option) *benchEnv {
	tb.Helper()
	e := &benchEnv{emu: bluenexustest.NewServer(emuOpts...)}
	tb.Cleanup(e.emu.Close)
	e.token = e.emu.AddUser("alice")
	e.logger = zerolog.New(io.Discard).Level(zerolog.InfoLevel).With().Timestamp().Logger()

	client, err := bluenexus.NewClient(bluenexus.WithBaseURL(e.emu.URL()))
	if err != nil {
		tb.Fatal(err)
	}
	store, err := session.NewCookieStore(testKeys)
	if err != nil {
		tb.Fatal(err)
	}
	// A roomy guard: benchmarks finish far more flows than the default
	// holds within one TTL.
	guard := session.NewMemoryGuard(session.WithGuardMaxEntries(1 << 24))
	if e.flows, err = session.New(store, session.WithReplayGuard(guard)); err != nil {
		tb.Fatal(err)
	}
	kitOpts := []handlers.Option{
		handlers.WithWhiteLabelURL(e.emu.WhiteLabelURL()),
		handlers.WithReturnURL(benchReturnURL),
		handlers.WithAccessToken(func(r *http.Request) (bluenexus.AccessToken, bool) {
			tok, ok := r.Context().Value(benchUserKey{}).(bluenexus.AccessToken)
			return tok, ok
		}),
	}
	if e.kitMW, err = handlers.New(client, e.flows, kitOpts...); err != nil {
		tb.Fatal(err)
	}
	if e.kit, err = handlers.New(client, e.flows, append(kitOpts, handlers.WithClientIP(remoteAddrIP))...); err != nil {
		tb.Fatal(err)
	}

	cfg := baseline.Config{
		HashKey:       testKeys.Hash,
		BlockKey:      testKeys.Block,
		APIBase:       e.emu.URL(),
		WhiteLabelURL: e.emu.WhiteLabelURL(),
		ReturnURL:     benchReturnURL,
		Token: func(r *http.Request) (string, bool) {
			tok, ok := r.Context().Value(benchUserKey{}).(bluenexus.AccessToken)
			return tok.Reveal(), ok
		},
		ClientIP: func(r *http.Request) (string, bool) {
			host, _, err := net.SplitHostPort(r.RemoteAddr)
			return host, err == nil
		},
	}
	if e.base, err = baseline.New(cfg); err != nil {
		tb.Fatal(err)
	}
	cfg.ClientIP = func(r *http.Request) (string, bool) {
		ip, ok := middleware.GetClientIP(r.Context())
		if !ok {
			return "", false
		}
		return ip.String(), true
	}
	if e.baseMW, err = baseline.New(cfg); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(e.base.Client().CloseIdleConnections)
	tb.Cleanup(e.baseMW.Client().CloseIdleConnections)
	return e
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
// order: hlog logger and request id, access log, client IP, then the app's
// auth. The logger writes JSON to io.Discard at Info level.
func (e *benchEnv) stack(h http.Handler) http.Handler {
	h = e.auth(h)
	h = middleware.ClientIP(middleware.RemoteAddrStrategy())(h)
	h = middleware.AccessLog(e.logger)(h)
	h = hlog.RequestIDHandler("request_id", "X-Request-Id")(h)
	return hlog.NewHandler(e.logger)(h)
}

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

// serve runs one request on a shallow copy of tmpl (gorilla's registry
// writes into the request it is given) and checks the status.
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
// It counts the emulator's work too, which runs in the same process and is
// the same for the kit and the baseline.
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

// minter returns n fresh /return requests, each with its own flow cookie
// and state.
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

// returnRequest is the browser coming back with state and its flow cookie.
func returnRequest(state, cookie string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, benchReturnURL+"?state="+state, nil)
	r.Header.Set("Cookie", cookie)
	return r
}

// cookieOf returns "name=value" of the first Set-Cookie on h.
func cookieOf(b *testing.B, h http.Header) string {
	sc := h.Get("Set-Cookie")
	c, _, _ := strings.Cut(sc, ";")
	if c == "" {
		b.Fatal("no Set-Cookie")
	}
	return c
}

// mintKit begins flows the way the kit's /manage-connections does.
func (e *benchEnv) mintKit(b *testing.B, n int) []*http.Request {
	w := &benchWriter{h: http.Header{}}
	tmpl := httptest.NewRequest(http.MethodGet, "https://app.example.com/manage-connections", nil)
	out := make([]*http.Request, n)
	for i := range out {
		w.reset()
		r := *tmpl
		f, err := e.flows.Begin(w, &r, session.Params{Intent: string(bluenexus.IntentConnections), Next: "/"})
		if err != nil {
			b.Fatal(err)
		}
		out[i] = returnRequest(f.State.Reveal(), cookieOf(b, w.h))
	}
	return out
}

// mintBaseline begins flows the way the baseline's Manage does.
func mintBaseline(h *baseline.Handlers) minter {
	return func(b *testing.B, n int) []*http.Request {
		w := &benchWriter{h: http.Header{}}
		tmpl := httptest.NewRequest(http.MethodGet, "https://app.example.com/manage-connections", nil)
		out := make([]*http.Request, n)
		for i := range out {
			w.reset()
			r := *tmpl
			state, err := h.Begin(w, &r)
			if err != nil {
				b.Fatal(err)
			}
			out[i] = returnRequest(state, cookieOf(b, w.h))
		}
		return out
	}
}

// BenchmarkManageConnections: GET /manage-connections behind the app's auth
// middleware: state, cookie, handoff init on the emulator, 302.
func BenchmarkManageConnections(b *testing.B) {
	e := newBenchEnv(b)
	b.Run("kit", func(b *testing.B) { benchManage(b, e.auth(e.kit.ManageConnections())) })
	b.Run("baseline", func(b *testing.B) { benchManage(b, e.auth(http.HandlerFunc(e.base.Manage))) })
}

// BenchmarkReturn: GET /connections/return behind the app's auth
// middleware: cookie decode, state check, cookie save, 303.
func BenchmarkReturn(b *testing.B) {
	e := newBenchEnv(b)
	b.Run("kit", func(b *testing.B) { benchReturn(b, e.auth(e.kit.Return()), e.mintKit) })
	b.Run("baseline", func(b *testing.B) {
		benchReturn(b, e.auth(http.HandlerFunc(e.base.Return)), mintBaseline(e.base))
	})
}

// BenchmarkManageConnectionsStack is BenchmarkManageConnections inside the
// recommended middleware stack, with an enabled logger.
func BenchmarkManageConnectionsStack(b *testing.B) {
	e := newBenchEnv(b)
	b.Run("kit", func(b *testing.B) { benchManage(b, e.stack(e.kitMW.ManageConnections())) })
	b.Run("baseline", func(b *testing.B) { benchManage(b, e.stack(http.HandlerFunc(e.baseMW.Manage))) })
}

// BenchmarkReturnStack is BenchmarkReturn inside the recommended middleware
// stack, with an enabled logger.
func BenchmarkReturnStack(b *testing.B) {
	e := newBenchEnv(b)
	b.Run("kit", func(b *testing.B) { benchReturn(b, e.stack(e.kitMW.Return()), e.mintKit) })
	b.Run("baseline", func(b *testing.B) {
		benchReturn(b, e.stack(http.HandlerFunc(e.baseMW.Return)), mintBaseline(e.baseMW))
	})
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
	baseProxy := newCountingProxy(t, strings.TrimPrefix(e.emu.URL(), "http://"))

	client, err := bluenexus.NewClient(bluenexus.WithBaseURL(kitProxy.URL()))
	if err != nil {
		t.Fatal(err)
	}
	kit, err := handlers.New(client, e.flows,
		handlers.WithWhiteLabelURL(e.emu.WhiteLabelURL()),
		handlers.WithReturnURL(benchReturnURL),
		handlers.WithAccessToken(func(r *http.Request) (bluenexus.AccessToken, bool) { return e.token, true }),
		handlers.WithClientIP(remoteAddrIP))
	if err != nil {
		t.Fatal(err)
	}
	base, err := baseline.New(baseline.Config{
		HashKey: testKeys.Hash, BlockKey: testKeys.Block,
		APIBase: baseProxy.URL(), WhiteLabelURL: e.emu.WhiteLabelURL(), ReturnURL: benchReturnURL,
		Token:    func(*http.Request) (string, bool) { return e.token.Reveal(), true },
		ClientIP: func(*http.Request) (string, bool) { return "192.0.2.1", true },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(base.Client().CloseIdleConnections)

	for _, tc := range []struct {
		name  string
		h     http.Handler
		proxy *countingProxy
	}{
		{"kit", kit.ManageConnections(), kitProxy},
		{"baseline", http.HandlerFunc(base.Manage), baseProxy},
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
	if hits := e.emu.Hits(bluenexus.PathHandoffInit); hits != 2*requests {
		t.Errorf("emulator saw %d handoff inits, want %d", hits, 2*requests)
	}
}
