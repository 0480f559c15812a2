package handlers_test

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/rs/zerolog"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/bluenexus/bluenexustest"
	"github.com/handoffkit/handoffkit/handlers"
	"github.com/handoffkit/handoffkit/middleware"
	"github.com/handoffkit/handoffkit/session"
)

// testKeys are fixed cookie keys for tests.
var testKeys = session.KeyPair{
	Hash:  []byte("0123456789abcdef0123456789abcdef"),
	Block: []byte("fedcba9876543210fedcba9876543210"),
}

// harness is an app with the kit mounted behind a test auth middleware, on
// an httptest TLS server, against the emulator; browser is a cookie-jar
// client that does not follow redirects.
type harness struct {
	t     testing.TB
	emu   *bluenexustest.Server
	app   *httptest.Server
	kit   *handlers.Kit
	token bluenexus.AccessToken
	hooks atomic.Int32
	// successes counts /return responses that tell the user the flow
	// succeeded (a 303 with the success flash, or a JSON success): the
	// cleanup check holds the hook to exactly one run per success.
	successes atomic.Int32
	events    chan handlers.ReturnEvent
	browser   *http.Client
	client    *bluenexus.Client
	// cfg and opts built kit; instance builds another kit from them.
	cfg      handlers.Config
	opts     []handlers.Option
	strategy middleware.Strategy
	// tokenOf is each signed-in user's access token at the emulator.
	tokenOf map[string]bluenexus.AccessToken
	// readHook, when set, runs inside the counting hook (set it before the
	// first return).
	readHook func(context.Context, handlers.ReturnEvent) error
	// tokens and tokenStore are set with harnessConfig.tokens.
	tokens     *bluenexus.TokenSource
	tokenStore bluenexus.TokenStore
}

type harnessConfig struct {
	mount       string // "chi" or "servemux"
	kitOpts     []handlers.Option
	sessionOpts []session.Option
	emuOpts     []bluenexustest.Option
	strategy    middleware.Strategy
	hook        func(context.Context, handlers.ReturnEvent) error // runs inside the counting hook
	// hookFails: the hook is expected to fail, or some returns are served
	// outside the app (a direct handler call): the cleanup check of one
	// hook run per successful return does not apply.
	hookFails bool
	// tokens runs the kit on a token source (Config.Tokens) over tokenStore
	// (default: a memory store), with alice's pair from the emulator's
	// SignIn; clock, when set, is both the emulator's and the source's.
	tokens     bool
	tokenStore bluenexus.TokenStore
	wrongCreds bool // the client's credentials are not the emulator's
	// tokenEndpoint, when set, answers the client's token calls in place of
	// the emulator.
	tokenEndpoint http.HandlerFunc
	clock         func() time.Time
}

type userKey struct{}

func newHarness(t testing.TB, hc harnessConfig) *harness {
	t.Helper()
	h := &harness{t: t, events: make(chan handlers.ReturnEvent, 16)}
	emuOpts := []bluenexustest.Option{bluenexustest.WithUser("alice")}
	if hc.clock != nil {
		emuOpts = append(emuOpts, bluenexustest.WithClock(hc.clock))
	}
	h.emu = bluenexustest.NewServer(append(emuOpts, hc.emuOpts...)...)
	t.Cleanup(h.emu.Close)
	h.token = h.emu.AddUser("alice")
	h.tokenOf = map[string]bluenexus.AccessToken{"alice": h.token, "bob": h.emu.AddUser("bob")}

	id, secret := h.emu.ClientCredentials()
	if hc.wrongCreds {
		secret += "-wrong"
	}
	clientOpts := []bluenexus.Option{bluenexus.WithBaseURL(h.emu.URL()), bluenexus.WithClientCredentials(id, secret)}
	if te := hc.tokenEndpoint; te != nil {
		clientOpts = append(clientOpts, bluenexus.WithHTTPClient(&http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.URL.Path != bluenexustest.PathToken {
				return http.DefaultTransport.RoundTrip(r)
			}
			rec := httptest.NewRecorder()
			te(rec, r)
			return rec.Result(), nil
		})}))
	}
	if hc.tokens && hc.clock != nil {
		clientOpts = append(clientOpts, bluenexus.WithClock(hc.clock))
	}
	client, err := bluenexus.NewClient(clientOpts...)
	if err != nil {
		t.Fatal(err)
	}
	h.client = client
	flows, err := session.New([]session.KeyPair{testKeys}, hc.sessionOpts...)
	if err != nil {
		t.Fatal(err)
	}
	h.app = httptest.NewUnstartedServer(nil)
	h.app.StartTLS()
	t.Cleanup(h.app.Close)

	cfg := handlers.Config{
		WhiteLabelURL: h.emu.WhiteLabelURL(),
		ReturnURL:     h.app.URL + "/connections/return",
		User: func(r *http.Request) (string, bool) {
			u, ok := r.Context().Value(userKey{}).(string)
			return u, ok
		},
		AccessToken: func(r *http.Request) (bluenexus.AccessToken, bool) {
			u, ok := r.Context().Value(userKey{}).(string)
			return h.tokenOf[u], ok
		},
	}
	if hc.tokens {
		h.tokenStore = hc.tokenStore
		if h.tokenStore == nil {
			h.tokenStore = bluenexus.NewMemoryTokenStore()
		}
		if err := h.tokenStore.Save(t.Context(), "alice", h.emu.SignIn("alice")); err != nil {
			t.Fatalf("seeding alice's pair: %v", err)
		}
		if h.tokens, err = bluenexus.NewTokenSource(client, h.tokenStore); err != nil {
			t.Fatal(err)
		}
		cfg.AccessToken = nil
		cfg.Tokens = h.tokens
	}
	opts := append([]handlers.Option{
		handlers.WithClient(client),
		handlers.WithFlows(flows),
		handlers.WithLogger(zerolog.Nop()), // tests that read logs pass their own
		handlers.WithOnReturn(func(ctx context.Context, ev handlers.ReturnEvent) error {
			h.hooks.Add(1)
			select {
			case h.events <- ev:
			default:
			}
			if hc.hook != nil {
				return hc.hook(ctx, ev)
			}
			if h.readHook != nil {
				return h.readHook(ctx, ev)
			}
			return nil
		}),
	}, hc.kitOpts...)
	h.cfg, h.opts = cfg, opts
	h.kit, err = handlers.New(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	strategy := hc.strategy
	if strategy == nil {
		strategy = middleware.RemoteAddrStrategy()
	}
	h.strategy = strategy
	h.app.Config.Handler = mount(hc.mount, h.kit, strategy, h.auth, h.countSuccess)
	t.Cleanup(func() {
		if hooks, ok := h.hooks.Load(), h.successes.Load(); hooks != ok && !hc.hookFails {
			t.Errorf("hook ran %d times for %d successful returns", hooks, ok)
		}
	})

	jar, _ := cookiejar.New(nil)
	tr := h.app.Client().Transport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: h.app.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
	h.browser = &http.Client{Jar: jar, Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	h.signIn("alice")
	return h
}

// auth is the app's own auth middleware: a "user" cookie, or for apps an
// "Authorization: Bearer app-<user>" header, names the user (alice or bob).
func (h *harness) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var name string
		if c, err := r.Cookie("user"); err == nil {
			name = c.Value
		}
		if bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer app-"); ok {
			name = bearer
		}
		if _, ok := h.tokenOf[name]; !ok {
			http.Error(w, "sign in", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, name)))
	})
}

func (h *harness) signIn(name string) {
	u, _ := url.Parse(h.app.URL)
	h.browser.Jar.SetCookies(u, []*http.Cookie{{Name: "user", Value: name, Path: "/"}})
}

// mount wires the kit into chi or http.ServeMux, the way the README shows.
func mount(kind string, kit *handlers.Kit, strategy middleware.Strategy, auth, wrapReturn func(http.Handler) http.Handler) http.Handler {
	home := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "home") })
	ret := wrapReturn(kit.Return())
	if kind == "servemux" {
		mux := http.NewServeMux()
		mux.Handle("GET /{$}", auth(home))
		mux.Handle("GET /manage-connections", auth(kit.ManageConnections()))
		mux.Handle("/connections/return", auth(ret))
		return middleware.ClientIP(strategy)(mux)
	}
	r := chi.NewRouter()
	r.Use(middleware.ClientIP(strategy))
	r.With(auth).Get("/", home)
	r.With(auth).Get("/manage-connections", kit.ManageConnections().ServeHTTP)
	r.With(auth).Handle("/connections/return", ret)
	return r
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
	return h.do(req)
}

func (h *harness) do(req *http.Request) (*http.Response, string) {
	h.t.Helper()
	resp, err := h.browser.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (h *harness) postForm(rawURL string, form url.Values) (*http.Response, string) {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, rawURL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return h.do(req)
}

// startFlow calls /manage-connections and returns the white-label URL.
func (h *harness) startFlow(query string) string {
	h.t.Helper()
	resp, _ := h.get(h.app.URL + "/manage-connections" + query)
	if resp.StatusCode != http.StatusFound {
		h.t.Fatalf("manage-connections: status %d, want 302", resp.StatusCode)
	}
	return resp.Header.Get("Location")
}

var csrfField = regexp.MustCompile(`name="csrf_token" value="([^"]+)"()`)

// whiteLabel opens the white-label page with the code and returns the page
// URL and its CSRF token.
func (h *harness) whiteLabel(wl string) (pageURL, csrf string) {
	h.t.Helper()
	resp, body := h.get(wl)
	for resp.StatusCode == http.StatusSeeOther || resp.StatusCode == http.StatusFound {
		next, _ := resp.Location()
		pageURL = next.String()
		resp, body = h.get(pageURL)
	}
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("white-label page: status %d: %s", resp.StatusCode, body)
	}
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		h.t.Fatalf("white-label page has no csrf field: %s", body)
	}
	return pageURL, m[1] + m[2]
}

// complete runs the white-label page: connect each provider, then Done; it
// returns the redirect to the app's return URL.
func (h *harness) complete(wl string, providers ...string) string {
	h.t.Helper()
	_, csrf := h.whiteLabel(wl)
	base := h.emu.WhiteLabelURL()
	for _, p := range providers {
		resp, body := h.postForm(base+"/connect", url.Values{"provider": {p}, "csrf_token": {csrf}})
		if resp.StatusCode >= 400 {
			h.t.Fatalf("connect %s: status %d: %s", p, resp.StatusCode, body)
		}
	}
	resp, body := h.postForm(base+"/done", url.Values{"csrf_token": {csrf}})
	if resp.StatusCode != http.StatusSeeOther {
		h.t.Fatalf("done: status %d, want 303: %s", resp.StatusCode, body)
	}
	return resp.Header.Get("Location")
}

// countSuccess observes /return responses from the outside: a 303 carrying
// the success flash, or a JSON body with the success outcome.
func (h *harness) countSuccess(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &recorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		flash := false
		for _, c := range rec.Header()["Set-Cookie"] {
			flash = flash || strings.Contains(c, "handoffkit-outcome=success")
		}
		if rec.status == http.StatusSeeOther && flash || rec.status == http.StatusOK && strings.Contains(rec.body.String(), `"outcome":"success"`) {
			h.successes.Add(1)
		}
	})
}

type recorder struct {
	http.ResponseWriter
	status int
	body   strings.Builder
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	r.body.Write(b)
	return r.ResponseWriter.Write(b)
}

// newBrowser makes another cookie-jar browser signed in as alice: another
// device or another person's browser.
func (h *harness) newBrowser() *http.Client {
	jar, _ := cookiejar.New(nil)
	b := &http.Client{Jar: jar, Transport: h.browser.Transport, CheckRedirect: h.browser.CheckRedirect}
	u, _ := url.Parse(h.app.URL)
	jar.SetCookies(u, []*http.Cookie{{Name: "user", Value: "alice", Path: "/"}})
	return b
}

// as runs f with b as the harness's browser.
func (h *harness) as(b *http.Client, f func()) {
	saved := h.browser
	h.browser = b
	defer func() { h.browser = saved }()
	f()
}

// flowCookie returns one of the browser's flow cookies (fixed redirectUri).
func (h *harness) flowCookie() *http.Cookie {
	u, _ := url.Parse(h.app.URL)
	for _, c := range h.browser.Jar.Cookies(u) {
		if strings.Contains(c.Name, "handoffkit-flow-") {
			return c
		}
	}
	return nil
}

// setCookie puts a cookie in the browser's jar, replacing one of that name.
func (h *harness) setCookie(c *http.Cookie) {
	u, _ := url.Parse(h.app.URL)
	h.browser.Jar.SetCookies(u, []*http.Cookie{{Name: c.Name, Value: c.Value, Path: "/", Secure: true, HttpOnly: true}})
}

func newJarWithUser(appURL string) (http.CookieJar, error) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, err
	}
	u, _ := url.Parse(appURL)
	jar.SetCookies(u, []*http.Cookie{{Name: "user", Value: "alice", Path: "/"}})
	return jar, nil
}

// roundTripFunc is an http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// instance starts a second instance of the app, on a server of its own,
// with the same settings and hook as the first but flows, and returns its
// URL: another replica behind the load balancer.
func (h *harness) instance(flows *session.Manager) string {
	h.t.Helper()
	kit, err := handlers.New(h.cfg, append(h.opts, handlers.WithFlows(flows))...)
	if err != nil {
		h.t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(mount("chi", kit, h.strategy, h.auth, h.countSuccess))
	srv.TLS = h.app.TLS
	srv.StartTLS()
	h.t.Cleanup(srv.Close)
	return srv.URL
}
