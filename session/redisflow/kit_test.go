package redisflow_test

// The kit's token source on the Redis token store, moved here from
// handlers/tokens_test.go with the part of that package's test harness they
// use, so that the root module does not require this one.

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/bluenexus/bluenexustest"
	"github.com/handoffkit/handoffkit/handlers"
	"github.com/handoffkit/handoffkit/internal/bnwire"
	"github.com/handoffkit/handoffkit/internal/testkit"
	"github.com/handoffkit/handoffkit/middleware"
	"github.com/handoffkit/handoffkit/session"
	"github.com/handoffkit/handoffkit/session/redisflow"
)

// TestTokenOneRefreshAcrossInstances: the same with 100 requests on each of
// two kit instances whose token sources share one Redis token store.
func TestTokenOneRefreshAcrossInstances(t *testing.T) {
	addr, prefix := fleetRedis(t)
	store := func() bluenexus.TokenStore {
		rdb := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true, PoolSize: 128})
		t.Cleanup(func() { rdb.Close() })
		s, err := redisflow.NewTokenStore(rdb, redisflow.WithKeyPrefix(prefix+"token:"), fleetTimeout)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	clock := testkit.NewClock(time.Now())
	h := newHarness(t, harnessConfig{mount: "chi", tokens: true, clock: clock.Now, tokenStore: store()})

	// Instance B: its own client, token source and Redis connection, the
	// same emulator, keys and store.
	id, secret := h.emu.ClientCredentials()
	clientB, err := bluenexus.NewClient(bluenexus.WithBaseURL(h.emu.URL()), bluenexus.WithClientCredentials(id, secret))
	if err != nil {
		t.Fatal(err)
	}
	srcB, err := bluenexus.NewTokenSource(clientB, store())
	if err != nil {
		t.Fatal(err)
	}
	bnwire.SetTokenClock(srcB, clock.Now)
	kitB, err := handlers.New(handlers.Config{
		WhiteLabelURL: h.emu.WhiteLabelURL(), ReturnURL: h.app.URL + "/connections/return",
		CookieKeys: []session.KeyPair{testKeys}, Tokens: srcB,
		User: func(r *http.Request) (string, bool) { return "alice", true },
	}, handlers.WithClient(clientB), handlers.WithLogger(zerolog.Nop()))
	if err != nil {
		t.Fatal(err)
	}

	clock.Advance(15 * time.Minute)
	manageAtOnce(t, 100, h.manageHandler(h.kit), h.manageHandler(kitB))
	if n := h.emu.Hits(bluenexustest.PathToken); n != 1 {
		t.Errorf("token endpoint calls across both instances: %d, want 1", n)
	}
	if n := h.emu.RefreshReplays(); n != 0 {
		t.Errorf("refresh tokens replayed: %d", n)
	}
}

// TestTokenStoreDown: with the shared token store (Redis) down the kit
// fails closed, as it does when the replay guard is down: 503
// state_unavailable, no refresh attempted, no mint.
func TestTokenStoreDown(t *testing.T) {
	addr, prefix := fleetRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { rdb.Close() })
	store, err := redisflow.NewTokenStore(rdb, redisflow.WithKeyPrefix(prefix+"token:"), fleetTimeout)
	if err != nil {
		t.Fatal(err)
	}
	clock := testkit.NewClock(time.Now())
	h := newHarness(t, harnessConfig{mount: "chi", tokens: true, clock: clock.Now, tokenStore: store})
	clock.Advance(16 * time.Minute)
	rdb.Options().Addr = "127.0.0.1:1" // nothing listens there: Redis is gone
	rdb.Close()                        // and every pooled connection with it
	resp, body := h.get(h.app.URL+"/manage-connections", "Accept", "application/json")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, `"state_unavailable"`) || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("manage with the token store down: %d %s, want 503 state_unavailable with Retry-After", resp.StatusCode, body)
	}
	if tok, init := h.emu.Hits(bluenexustest.PathToken), h.emu.Hits(bluenexustest.PathHandoffInit); tok != 0 || init != 0 {
		t.Errorf("token calls %d, handoff inits %d; want 0 and 0", tok, init)
	}
}

// testKeys are fixed cookie keys for tests.
var testKeys = session.KeyPair{
	Hash:  []byte("0123456789abcdef0123456789abcdef"),
	Block: []byte("fedcba9876543210fedcba9876543210"),
}

// harness is an app with the kit mounted on chi behind a test auth
// middleware, on an httptest TLS server, against the emulator, with the kit
// on a token source; browser is a cookie-jar client that does not follow
// redirects. (A cut-down copy of handlers' test harness.)
type harness struct {
	t       testing.TB
	emu     *bluenexustest.Server
	app     *httptest.Server
	kit     *handlers.Kit
	token   bluenexus.AccessToken
	browser *http.Client
}

type harnessConfig struct {
	mount string // "chi", the only one here
	// tokens runs the kit on a token source (Config.Tokens) over tokenStore,
	// with alice's pair from the emulator's SignIn; clock, when set, is both
	// the emulator's and the source's. Required here.
	tokens     bool
	tokenStore bluenexus.TokenStore
	clock      func() time.Time
}

type userKey struct{}

func newHarness(t testing.TB, hc harnessConfig) *harness {
	t.Helper()
	if hc.mount != "chi" || !hc.tokens || hc.tokenStore == nil {
		t.Fatal("this harness mounts on chi and runs on a token store")
	}
	h := &harness{t: t}
	emuOpts := []bluenexustest.Option{bluenexustest.WithUser("alice")}
	if hc.clock != nil {
		emuOpts = append(emuOpts, bluenexustest.WithClock(hc.clock))
	}
	h.emu = bluenexustest.NewServer(emuOpts...)
	t.Cleanup(h.emu.Close)
	h.token = h.emu.AddUser("alice")

	id, secret := h.emu.ClientCredentials()
	client, err := bluenexus.NewClient(bluenexus.WithBaseURL(h.emu.URL()), bluenexus.WithClientCredentials(id, secret))
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
	h.app = httptest.NewUnstartedServer(nil)
	h.app.StartTLS()
	t.Cleanup(h.app.Close)

	if ok, err := hc.tokenStore.CompareAndSwap(t.Context(), "alice", "", h.emu.SignIn("alice")); !ok || err != nil {
		t.Fatalf("seeding alice's pair: %v %v", ok, err)
	}
	tokens, err := bluenexus.NewTokenSource(client, hc.tokenStore)
	if err != nil {
		t.Fatal(err)
	}
	if hc.clock != nil {
		bnwire.SetTokenClock(tokens, hc.clock)
	}
	h.kit, err = handlers.New(handlers.Config{
		WhiteLabelURL: h.emu.WhiteLabelURL(),
		ReturnURL:     h.app.URL + "/connections/return",
		Tokens:        tokens,
		User: func(r *http.Request) (string, bool) {
			_, ok := r.Context().Value(userKey{}).(bluenexus.AccessToken) // set by auth for alice
			return "alice", ok
		},
	}, handlers.WithClient(client), handlers.WithFlows(flows), handlers.WithLogger(zerolog.Nop()))
	if err != nil {
		t.Fatal(err)
	}
	r := chi.NewRouter()
	r.Use(middleware.ClientIP(middleware.RemoteAddrStrategy()))
	r.With(h.auth).Get("/manage-connections", h.kit.ManageConnections().ServeHTTP)
	r.With(h.auth).Handle("/connections/return", h.kit.Return())
	h.app.Config.Handler = r

	jar, _ := cookiejar.New(nil)
	tr := h.app.Client().Transport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: h.app.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
	h.browser = &http.Client{Jar: jar, Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	u, _ := url.Parse(h.app.URL)
	h.browser.Jar.SetCookies(u, []*http.Cookie{{Name: "user", Value: "alice", Path: "/"}})
	return h
}

// auth is the app's own auth middleware: a "user" cookie names the user.
func (h *harness) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie("user")
		if err != nil || c.Value != "alice" {
			http.Error(w, "sign in", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, h.token)))
	})
}

// get fetches a URL with the browser, returning the response with its body read.
func (h *harness) get(rawURL string, header ...string) (*http.Response, string) {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := h.browser.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// manageHandler is /manage-connections as the app mounts it, for direct
// calls from many goroutines.
func (h *harness) manageHandler(kit *handlers.Kit) http.Handler {
	return middleware.ClientIP(middleware.RemoteAddrStrategy())(h.auth(kit.ManageConnections()))
}

func manageRequest() *http.Request {
	r := httptest.NewRequest(http.MethodGet, "https://app.example/manage-connections", nil)
	r.AddCookie(&http.Cookie{Name: "user", Value: "alice"})
	return r
}

// manageAtOnce sends n requests to each handler at the same time and wants
// a 302 from every one.
func manageAtOnce(t *testing.T, n int, handlers ...http.Handler) {
	t.Helper()
	var wg sync.WaitGroup
	codes := make([]int, n*len(handlers))
	for i := range codes {
		manage := handlers[i%len(handlers)]
		wg.Go(func() {
			rec := httptest.NewRecorder()
			manage.ServeHTTP(rec, manageRequest())
			codes[i] = rec.Code
		})
	}
	wg.Wait()
	for i, c := range codes {
		if c != http.StatusFound {
			t.Fatalf("request %d: %d, want 302", i, c)
		}
	}
}

// flowCookieSet reports whether resp sets the flow cookie.
func flowCookieSet(resp *http.Response) bool {
	for _, c := range resp.Cookies() {
		if strings.HasSuffix(c.Name, "handoffkit-flow") {
			return true
		}
	}
	return false
}
