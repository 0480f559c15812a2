package redisflow_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/bluenexus/bluenexustest"
	"github.com/handoffkit/handoffkit/handlers"
	"github.com/handoffkit/handoffkit/middleware"
	"github.com/handoffkit/handoffkit/session"
	"github.com/handoffkit/handoffkit/session/redisflow"
)

// Cookie key generations for the multi-instance tests.
var (
	fleetOldKeys = session.KeyPair{Hash: bytes.Repeat([]byte{0x51}, 32), Block: bytes.Repeat([]byte{0x52}, 32)}
	fleetNewKeys = session.KeyPair{Hash: bytes.Repeat([]byte{0x61}, 64), Block: bytes.Repeat([]byte{0x62}, 32)}
)

// fleet is several instances of one app behind one origin, as behind a load
// balancer: each instance is its own httptest TLS server with its own
// session.Manager and handlers.Kit, and they share one emulator and one
// browser. Cookie jars scope cookies by host, not port, so the instances on
// 127.0.0.1 share the browser's cookies exactly as instances behind one
// hostname do; the test picks the instance of each request.
type fleet struct {
	t       *testing.T
	emu     *bluenexustest.Server
	token   bluenexus.AccessToken
	browser *http.Client
	nodes   []*fleetNode
}

type fleetNode struct {
	srv   *httptest.Server
	hooks atomic.Int32
	mu    sync.Mutex
	errs  []error // what the error handler was given
}

// fleetNodeConfig is one instance: its key list (newest first), and
// optionally its flow options (default: the in-memory replay guard).
type fleetNodeConfig struct {
	keys        []session.KeyPair
	sessionOpts []session.Option
}

type fleetUserKey struct{}

func newFleet(t *testing.T, nodes ...fleetNodeConfig) *fleet {
	t.Helper()
	f := &fleet{t: t}
	f.emu = bluenexustest.NewServer(bluenexustest.WithUser("alice"))
	t.Cleanup(f.emu.Close)
	f.token = f.emu.AddUser("alice")
	for _, nc := range nodes {
		f.nodes = append(f.nodes, f.newNode(nc))
	}
	jar, _ := cookiejar.New(nil)
	base := f.nodes[0].srv.Client().Transport.(*http.Transport)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: base.TLSClientConfig.RootCAs}}
	t.Cleanup(tr.CloseIdleConnections)
	f.browser = &http.Client{Jar: jar, Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	u, _ := url.Parse(f.nodes[0].srv.URL)
	jar.SetCookies(u, []*http.Cookie{{Name: "user", Value: "alice", Path: "/"}})
	return f
}

func (f *fleet) newNode(nc fleetNodeConfig) *fleetNode {
	t := f.t
	n := &fleetNode{}
	client, err := bluenexus.NewClient(bluenexus.WithBaseURL(f.emu.URL()))
	if err != nil {
		t.Fatal(err)
	}
	flows, err := session.New(nc.keys, nc.sessionOpts...)
	if err != nil {
		t.Fatal(err)
	}
	n.srv = httptest.NewUnstartedServer(nil)
	n.srv.StartTLS()
	t.Cleanup(n.srv.Close)
	kit, err := handlers.New(handlers.Config{
		WhiteLabelURL: f.emu.WhiteLabelURL(),
		ReturnURL:     n.srv.URL + "/connections/return",
		User: func(r *http.Request) (string, bool) {
			_, ok := r.Context().Value(fleetUserKey{}).(bluenexus.AccessToken)
			return "alice", ok
		},
		AccessToken: func(r *http.Request) (bluenexus.AccessToken, bool) {
			tok, ok := r.Context().Value(fleetUserKey{}).(bluenexus.AccessToken)
			return tok, ok
		},
	},
		handlers.WithClient(client),
		handlers.WithFlows(flows),
		handlers.WithLogger(zerolog.Nop()),
		handlers.WithOnReturn(func(context.Context, handlers.ReturnEvent) error {
			n.hooks.Add(1)
			return nil
		}),
		handlers.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {
			n.mu.Lock()
			n.errs = append(n.errs, err)
			n.mu.Unlock()
			handlers.DefaultErrorHandler(w, r, err)
		}),
	)
	if err != nil {
		t.Fatal(err)
	}
	auth := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if c, err := r.Cookie("user"); err != nil || c.Value != "alice" {
				http.Error(w, "sign in", http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), fleetUserKey{}, f.token)))
		})
	}
	mux := http.NewServeMux()
	mux.Handle("GET /manage-connections", auth(kit.ManageConnections()))
	mux.Handle("/connections/return", auth(kit.Return()))
	n.srv.Config.Handler = middleware.ClientIP(middleware.RemoteAddrStrategy())(mux)
	return n
}

// lastErr is the last error the node's error handler was given.
func (n *fleetNode) lastErr() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.errs) == 0 {
		return nil
	}
	return n.errs[len(n.errs)-1]
}

// hooks is the number of hook runs on every node.
func (f *fleet) hooks() int {
	total := 0
	for _, n := range f.nodes {
		total += int(n.hooks.Load())
	}
	return total
}

func (f *fleet) get(rawURL string) (*http.Response, string) {
	f.t.Helper()
	resp, err := f.browser.Get(rawURL)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (f *fleet) post(rawURL string, form url.Values) (*http.Response, string) {
	f.t.Helper()
	resp, err := f.browser.PostForm(rawURL, form)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// start begins a flow on node i and returns the white-label URL.
func (f *fleet) start(i int, next string) string {
	f.t.Helper()
	resp, body := f.get(f.nodes[i].srv.URL + "/manage-connections?next=" + url.QueryEscape(next))
	if resp.StatusCode != http.StatusFound {
		f.t.Fatalf("manage-connections on instance %d: status %d: %s", i, resp.StatusCode, body)
	}
	return resp.Header.Get("Location")
}

var fleetCSRF = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// complete opens the white-label page and chooses Done; it returns where
// BlueNexus sends the browser back: the starting instance's return URL.
func (f *fleet) complete(wl string) string {
	f.t.Helper()
	resp, body := f.get(wl)
	for resp.StatusCode == http.StatusSeeOther {
		next, _ := resp.Location()
		resp, body = f.get(next.String())
	}
	m := fleetCSRF.FindStringSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil {
		f.t.Fatalf("white-label page: status %d: %s", resp.StatusCode, body)
	}
	resp, body = f.post(f.emu.WhiteLabelURL()+"/done", url.Values{"csrf_token": {m[1]}})
	if resp.StatusCode != http.StatusSeeOther {
		f.t.Fatalf("done: status %d: %s", resp.StatusCode, body)
	}
	return resp.Header.Get("Location")
}

// returnOn sends the return to node i, as the load balancer would.
func (f *fleet) returnOn(i int, back string) *http.Response {
	f.t.Helper()
	resp, _ := f.returnOnBody(i, back)
	return resp
}

func (f *fleet) returnOnBody(i int, back string) (*http.Response, string) {
	f.t.Helper()
	u, err := url.Parse(back)
	if err != nil {
		f.t.Fatal(err)
	}
	u.Host = f.nodes[i].srv.Listener.Addr().String()
	return f.get(u.String())
}

func wantSuccess(t *testing.T, resp *http.Response, next string) {
	t.Helper()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != next {
		t.Fatalf("return: %d to %q, want 303 to %s", resp.StatusCode, resp.Header.Get("Location"), next)
	}
}

// TestMultiInstanceStartHereReturnThere: a flow begun on one instance
// finishes on the other, either way round, with the hook run once, on the
// instance that served the return.
func TestMultiInstanceStartHereReturnThere(t *testing.T) {
	keys := []session.KeyPair{fleetOldKeys}
	f := newFleet(t, fleetNodeConfig{keys: keys}, fleetNodeConfig{keys: keys})
	for _, route := range [][2]int{{0, 1}, {1, 0}} {
		before := [2]int32{f.nodes[0].hooks.Load(), f.nodes[1].hooks.Load()}
		back := f.complete(f.start(route[0], "/settings"))
		wantSuccess(t, f.returnOn(route[1], back), "/settings")
		if got := f.nodes[route[1]].hooks.Load() - before[route[1]]; got != 1 {
			t.Fatalf("start on %d, return on %d: hook ran %d times there, want 1", route[0], route[1], got)
		}
		if got := f.nodes[route[0]].hooks.Load() - before[route[0]]; got != 0 {
			t.Fatalf("start on %d, return on %d: hook ran %d times on the starting instance", route[0], route[1], got)
		}
	}
}

// TestMultiInstanceReplay_B4: the browser finishes a flow on instance B,
// then sends the same return to instance A.
func TestMultiInstanceReplay_B4(t *testing.T) {
	keys := []session.KeyPair{fleetOldKeys}
	t.Run("shared Redis guard refuses it on every instance", func(t *testing.T) {
		addr, prefix := fleetRedis(t)
		guarded := func() fleetNodeConfig {
			g, err := redisflow.NewReplayGuard(fleetRedisClient(t, addr), redisflow.WithKeyPrefix(prefix), fleetTimeout)
			if err != nil {
				t.Fatal(err)
			}
			return fleetNodeConfig{keys: keys, sessionOpts: []session.Option{session.WithReplayGuard(g)}}
		}
		f := newFleet(t, guarded(), guarded())
		back := f.complete(f.start(0, "/settings"))
		wantSuccess(t, f.returnOn(1, back), "/settings")
		for i := range f.nodes {
			if resp := f.returnOn(i, back); resp.StatusCode != http.StatusForbidden {
				t.Fatalf("replayed on instance %d: status %d, want 403", i, resp.StatusCode)
			}
			if err := f.nodes[i].lastErr(); !errors.Is(err, session.ErrReplayed) {
				t.Fatalf("replayed on instance %d: %v, want ErrReplayed", i, err)
			}
		}
		// Two tabs, started on different instances, finish on the other.
		back1 := f.complete(f.start(0, "/one"))
		back2 := f.complete(f.start(1, "/two"))
		wantSuccess(t, f.returnOn(0, back2), "/two")
		wantSuccess(t, f.returnOn(1, back1), "/one")
		if n := f.hooks(); n != 3 {
			t.Fatalf("hook ran %d times, want 3", n)
		}
	})
	t.Run("in-memory guards only: the other instance accepts it once (documented limit)", func(t *testing.T) {
		f := newFleet(t, fleetNodeConfig{keys: keys}, fleetNodeConfig{keys: keys})
		back := f.complete(f.start(0, "/settings"))
		wantSuccess(t, f.returnOn(1, back), "/settings")
		wantSuccess(t, f.returnOn(0, back), "/settings")
		if n := f.hooks(); n != 2 {
			t.Fatalf("hook ran %d times, want 2: once per instance", n)
		}
		// Each instance still refuses what it saw itself.
		if resp := f.returnOn(1, back); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("replayed on the instance that finished the flow: status %d, want 403", resp.StatusCode)
		}
	})
}

// TestMultiInstanceKeyRotation_C3: during a rotation instance B runs with
// [new, old] and opens what A sealed with [old]; an instance that already
// dropped old answers the unknown_state outcome for it, and opens what B
// sealed.
func TestMultiInstanceKeyRotation_C3(t *testing.T) {
	f := newFleet(t,
		fleetNodeConfig{keys: []session.KeyPair{fleetOldKeys}},
		fleetNodeConfig{keys: []session.KeyPair{fleetNewKeys, fleetOldKeys}},
		fleetNodeConfig{keys: []session.KeyPair{fleetNewKeys}},
	)
	const a, b, c = 0, 1, 2
	wantSuccess(t, f.returnOn(b, f.complete(f.start(a, "/rotated"))), "/rotated")

	back := f.complete(f.start(a, "/old"))
	resp := f.returnOn(c, back)
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("state of a removed key: status %d, want 403", resp.StatusCode)
	}
	if err := f.nodes[c].lastErr(); outcomeOf(err) != "unknown_state" {
		t.Fatalf("state of a removed key: %v, want the unknown_state outcome", err)
	}

	wantSuccess(t, f.returnOn(c, f.complete(f.start(b, "/new"))), "/new")
	if n := f.hooks(); n != 2 {
		t.Fatalf("hook ran %d times, want 2", n)
	}
}

// TestMultiInstanceRedisDown_B4 kills the test's own redis-server between
// the start and the return: the return fails closed with a 5xx naming no
// internals, the hook does not run, the error is session.ErrUnavailable;
// once Redis is back, flows work again.
func TestMultiInstanceRedisDown_B4(t *testing.T) {
	// The outage is the test's own doing: go-redis's dial errors during it
	// are expected, not news for stderr.
	redis.SetLogger(quietRedisLog{})
	srv := startFleetRedis(t)
	keys := []session.KeyPair{fleetOldKeys}
	node := func() fleetNodeConfig {
		c := fleetRedisClient(t, srv.addr)
		g, err := redisflow.NewReplayGuard(c, fleetTimeout)
		if err != nil {
			t.Fatal(err)
		}
		return fleetNodeConfig{keys: keys, sessionOpts: []session.Option{session.WithReplayGuard(g)}}
	}
	f := newFleet(t, node(), node())
	wantSuccess(t, f.returnOn(1, f.complete(f.start(0, "/before"))), "/before")

	back := f.complete(f.start(0, "/during"))
	srv.stop()
	resp, body := f.returnOnBody(1, back)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("return while Redis is down: status %d, want 503", resp.StatusCode)
	}
	err := f.nodes[1].lastErr()
	if !errors.Is(err, session.ErrUnavailable) || errors.Is(err, session.ErrReplayed) {
		t.Fatalf("return while Redis is down: %v, want session.ErrUnavailable", err)
	}
	if strings.Contains(body, "redis") || strings.Contains(body, "127.0.0.1") {
		t.Fatalf("error page shows internals: %s", body)
	}
	if o := outcomeOf(err); o != "state_unavailable" {
		t.Fatalf("return while Redis is down: outcome %s, want state_unavailable", o)
	}
	if n := f.hooks(); n != 1 {
		t.Fatalf("hook ran %d times, want 1 (the flow before the outage)", n)
	}

	srv.start()
	wantSuccess(t, f.returnOn(0, f.complete(f.start(1, "/after"))), "/after")
	if n := f.hooks(); n != 2 {
		t.Fatalf("hook ran %d times, want 2", n)
	}
}

// outcomeOf is the outcome of the kit's *handlers.Error in err, or "".
func outcomeOf(err error) handlers.Outcome {
	var e *handlers.Error
	if !errors.As(err, &e) {
		return ""
	}
	return e.Outcome
}

// quietRedisLog drops go-redis's internal log lines.
type quietRedisLog struct{}

func (quietRedisLog) Printf(context.Context, string, ...any) {}

// fleetTimeout bounds the Redis calls of these tests: far above the default,
// so that a loaded test machine cannot fail the flows that must succeed;
// with Redis down, calls fail well before it (the dial is refused).
var fleetTimeout = redisflow.WithTimeout(2 * time.Second)

// fleetRedis returns the address of the real Redis (HANDOFFKIT_REDIS_ADDR,
// set by scripts/with-redis.sh) and a key prefix of this test alone, whose
// keys are deleted at cleanup. Without Redis the test is skipped, loudly,
// except under CI=true where it fails.
func fleetRedis(t *testing.T) (addr, prefix string) {
	t.Helper()
	addr = os.Getenv("HANDOFFKIT_REDIS_ADDR")
	if addr == "" {
		fleetNeedRedis(t, "HANDOFFKIT_REDIS_ADDR is not set")
	}
	prefix = "handoffkit:test:handlers:" + rand.Text()[:10] + ":"
	c := fleetRedisClient(t, addr)
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("real Redis at %s: %v", addr, err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		iter := c.Scan(ctx, 0, prefix+"*", 100).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
	})
	return addr, prefix
}

func fleetNeedRedis(t *testing.T, why string) {
	t.Helper()
	msg := "REDIS TEST NOT RUN: " + why + ": run `make test`, or scripts/with-redis.sh go test ./handlers/"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// fleetRedisClient is one instance's connection pool, closed at cleanup.
func fleetRedisClient(t *testing.T, addr string) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { c.Close() })
	return c
}

// fleetRedisServer is a redis-server of the test's own, on a free loopback
// port, that the test kills and starts again.
type fleetRedisServer struct {
	t    *testing.T
	path string
	addr string
	cmd  *exec.Cmd
}

func startFleetRedis(t *testing.T) *fleetRedisServer {
	t.Helper()
	path := os.Getenv("HANDOFFKIT_REDIS_SERVER")
	if path == "" {
		var err error
		if path, err = exec.LookPath("redis-server"); err != nil {
			fleetNeedRedis(t, "no redis-server (HANDOFFKIT_REDIS_SERVER is not set and none is on PATH)")
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fleetRedisServer{t: t, path: path, addr: ln.Addr().String()}
	ln.Close()
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *fleetRedisServer) start() {
	s.t.Helper()
	_, port, _ := net.SplitHostPort(s.addr)
	s.cmd = exec.Command(s.path, "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no",
		"--dir", s.t.TempDir(), "--logfile", "")
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	c := redis.NewClient(&redis.Options{Addr: s.addr, MaxRetries: -1})
	defer c.Close()
	for deadline := time.Now().Add(10 * time.Second); c.Ping(context.Background()).Err() != nil; {
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server on %s did not answer", s.addr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stop kills the server, as a crash or a network cut would.
func (s *fleetRedisServer) stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.cmd = nil
}
