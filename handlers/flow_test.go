package handlers_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	chimw "github.com/go-chi/chi/v5/middleware"
	"github.com/rs/zerolog"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/bluenexus/bluenexustest"
	"github.com/handoffkit/handoffkit/handlers"
	"github.com/handoffkit/handoffkit/internal/testkit"
	"github.com/handoffkit/handoffkit/middleware"
)

func assertNoStore(t *testing.T, resp *http.Response) {
	t.Helper()
	for k, want := range map[string]string{"Cache-Control": "no-store", "Pragma": "no-cache", "Referrer-Policy": "no-referrer"} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
}

// TestFlowEndToEnd runs the whole flow over real HTTP with the kit mounted on
// chi and on http.ServeMux: manage, white-label page, connect google, Done,
// return, and the hook sees google in the user's connections.
func TestFlowEndToEnd(t *testing.T) {
	for _, mountKind := range []string{"chi", "servemux"} {
		t.Run(mountKind, func(t *testing.T) {
			h := newHarness(t, harnessConfig{mount: mountKind})
			wl := h.startFlow("?next=/settings")
			if !strings.HasPrefix(wl, h.emu.WhiteLabelURL()+"?code=") {
				t.Fatalf("Location = %q, want the white-label URL with a code", wl)
			}
			back := h.complete(wl, "google")
			if !strings.HasPrefix(back, h.app.URL+"/connections/return?state=") {
				t.Fatalf("Done redirected to %q, want the return URL with the state", back)
			}
			resp, _ := h.get(back)
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/settings" {
				t.Fatalf("return: %d to %q, want 303 to /settings", resp.StatusCode, resp.Header.Get("Location"))
			}
			assertNoStore(t, resp)
			if n := h.hooks.Load(); n != 1 {
				t.Fatalf("hook ran %d times, want 1", n)
			}
			ev := <-h.events
			if ev.Intent != bluenexus.IntentConnections || ev.Next != "/settings" || ev.ReturnURI != "" || ev.IssuedAt.IsZero() || ev.Request == nil {
				t.Errorf("event = %+v", ev)
			}
			tok, err := ev.AccessToken(t.Context())
			if err != nil || tok != h.token {
				t.Error("event.AccessToken did not return the user's token")
			}
			var providers []string
			for _, c := range h.emu.Connections("alice") {
				providers = append(providers, c.ProviderID)
			}
			if !slices.Contains(providers, "google") {
				t.Errorf("connections after the flow = %v, want google", providers)
			}
			// The same return again: replayed, no second hook.
			resp, _ = h.get(back)
			if resp.StatusCode < 400 || resp.StatusCode >= 500 {
				t.Errorf("replayed return: status %d, want 4xx", resp.StatusCode)
			}
			if n := h.hooks.Load(); n != 1 {
				t.Errorf("hook ran %d times after a replay, want 1", n)
			}
		})
	}
}

// TestManageConnectionsHeaders: the state carries the flow, so
// /manage-connections sets no cookie; with a fixed redirectUri it sets one
// flow cookie with every attribute of SECURITY.md C1.
func TestManageConnectionsHeaders(t *testing.T) {
	h := newHarness(t, harnessConfig{mount: "chi"})
	resp, _ := h.get(h.app.URL + "/manage-connections")
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("status %d", resp.StatusCode)
	}
	assertNoStore(t, resp)
	if sc := resp.Header["Set-Cookie"]; len(sc) != 0 {
		t.Errorf("Set-Cookie %q, want none", sc)
	}

	h = newHarness(t, harnessConfig{mount: "chi", kitOpts: []handlers.Option{handlers.WithFixedRedirectURI()}})
	resp, _ = h.get(h.app.URL + "/manage-connections")
	cookies := resp.Cookies()
	if resp.StatusCode != http.StatusFound || len(cookies) != 1 || !strings.HasPrefix(cookies[0].Name, "__Host-handoffkit-flow-") {
		t.Fatalf("status %d, cookies %v: want 302 and one flow cookie", resp.StatusCode, cookies)
	}
	c := cookies[0]
	if !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" || c.MaxAge != 600 {
		t.Errorf("flow cookie attributes: %+v", c)
	}
}

// TestJSONMode: a client that asks for JSON gets {url, expiresAt}, and the
// emulator accepts that URL.
func TestJSONMode(t *testing.T) {
	h := newHarness(t, harnessConfig{mount: "chi"})
	resp, body := h.get(h.app.URL+"/manage-connections", "Accept", "application/json")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	assertNoStore(t, resp)
	var got struct {
		URL       string    `json:"url"`
		ExpiresAt time.Time `json:"expiresAt"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if d := time.Until(got.ExpiresAt); d <= 0 || d > 31*time.Second {
		t.Errorf("expiresAt in %v, want within 30s", d)
	}
	back := h.complete(got.URL)
	if resp, _ := h.get(back); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("return after JSON mode: status %d", resp.StatusCode)
	}
}

// TestManageFailsBeforeUpstream: requests the kit must refuse fail with a
// clear 4xx and never reach BlueNexus.
func TestManageFailsBeforeUpstream(t *testing.T) {
	cases := []struct {
		name     string
		query    string
		signOut  bool
		strategy middleware.Strategy
		want     int
	}{
		{name: "no access token", signOut: true, want: http.StatusUnauthorized},
		{name: "next scheme-relative", query: "?next=//evil.example", want: http.StatusBadRequest},
		{name: "next absolute", query: "?next=https://evil.example/", want: http.StatusBadRequest},
		{name: "next backslash", query: `?next=/\evil.example`, want: http.StatusBadRequest},
		{name: "next encoded backslash", query: "?next=/%255cevil.example", want: http.StatusBadRequest},
		{name: "next encoded percent", query: "?next=/100%2525", want: http.StatusBadRequest},
		{name: "next twice", query: "?next=/a&next=/b", want: http.StatusBadRequest},
		{name: "redirect not allowlisted", query: "?redirect=evilapp://connections", want: http.StatusBadRequest},
		{name: "no client IP (SECURITY A6)", strategy: noIP{}, want: http.StatusBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, harnessConfig{mount: "chi", strategy: tc.strategy})
			if tc.signOut {
				h.signIn("nobody")
			}
			resp, body := h.get(h.app.URL + "/manage-connections" + tc.query)
			if tc.signOut {
				// The app's auth middleware answers before the kit.
				if resp.StatusCode != tc.want {
					t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
				}
			} else if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.want, body)
			}
			if n := h.emu.Hits(bluenexustest.PathHandoffInit); n != 0 {
				t.Errorf("upstream hits = %d, want 0", n)
			}
			if resp.Header.Get("Location") != "" {
				t.Errorf("error response redirects to %q", resp.Header.Get("Location"))
			}
		})
	}
}

// noIP is a strategy that never finds an IP.
type noIP struct{}

func (noIP) ClientIP(*http.Request) (netip.Addr, error) {
	return netip.Addr{}, middleware.ErrNoClientIP
}

// TestReturnRejects: /return with a missing, empty, duplicated, wrong,
// replayed or expired state answers 4xx, and the hook never runs.
func TestReturnRejects(t *testing.T) {
	h := newHarness(t, harnessConfig{mount: "chi"})
	wl := h.startFlow("")
	back := h.complete(wl)
	u, _ := url.Parse(back)
	state := u.Query().Get("state")
	wrong := strings.Repeat("A", 43)
	ret := h.app.URL + "/connections/return"
	cases := []struct{ name, query string }{
		{"missing state", ""},
		{"empty state", "?state="},
		{"duplicated state (SECURITY B3)", "?state=" + state + "&state=" + state},
		{"oversize state", "?state=" + strings.Repeat("A", 5000)},
		{"non-base64url state", "?state=" + strings.Repeat("%", 43)},
		{"wrong state", "?state=" + wrong},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := h.get(ret + tc.query)
			if resp.StatusCode < 400 || resp.StatusCode >= 500 {
				t.Fatalf("status %d, want 4xx: %s", resp.StatusCode, body)
			}
			assertNoStore(t, resp)
			if strings.Contains(body, state) {
				t.Error("error page shows the state")
			}
		})
	}
	if n := h.hooks.Load(); n != 0 {
		t.Fatalf("hook ran %d times on failures", n)
	}
	// The flow is consumed by the first attempt that named it ... the wrong
	// ones above did not name it, so the real state still works once.
	if resp, _ := h.get(back); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("valid return after bad ones: status %d", resp.StatusCode)
	}
	if resp, _ := h.get(back); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("replayed return: status %d, want 403", resp.StatusCode)
	}
	if n := h.hooks.Load(); n != 1 {
		t.Fatalf("hook ran %d times, want 1", n)
	}
}

var _ = bluenexustest.NewServer

// TestMethodNotAllowed: both routes answer other methods with 405 and
// Allow, before any work.
func TestMethodNotAllowed(t *testing.T) {
	h := newHarness(t, harnessConfig{mount: "servemux"})
	for _, tc := range []struct{ method, path, allow string }{
		{http.MethodPut, "/connections/return", "GET, POST"},
		{http.MethodHead, "/connections/return", "GET, POST"},
		{http.MethodHead, "/manage-connections", "GET"},
	} {
		req, _ := http.NewRequest(tc.method, h.app.URL+tc.path, nil)
		resp, _ := h.do(req)
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != tc.allow {
			t.Errorf("%s %s: %d Allow %q, want 405 Allow %q", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Allow"), tc.allow)
		}
	}
	// ManageConnections mounted without a method pattern still refuses POST.
	rec := httptest.NewRecorder()
	h.kit.ManageConnections().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/manage-connections", nil))
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET" {
		t.Errorf("POST manage: %d Allow %q", rec.Code, rec.Header().Get("Allow"))
	}
	if n := h.emu.Hits(bluenexustest.PathHandoffInit); n != 0 {
		t.Errorf("upstream hits = %d", n)
	}
}

// TestClientIPFromChi: with WithClientIP the kit forwards the IP chi's own
// middleware derived: ClientIPFromXFF, and ClientIPFromXFFTrustedProxies as
// docs/client-ip.md shows it for CloudFront in front of an ALB. Proof
// through the emulator's fingerprint: a forwarded 203.0.113.9 makes the page
// refuse the browser on loopback.
func TestClientIPFromChi(t *testing.T) {
	for _, tc := range []struct {
		name string
		mw   func(http.Handler) http.Handler
		xff  string
	}{
		{"ClientIPFromXFF", chimw.ClientIPFromXFF("127.0.0.0/8"), "203.0.113.9"},
		{"ClientIPFromXFFTrustedProxies", chimw.ClientIPFromXFFTrustedProxies(2), "203.0.113.9, 198.51.100.7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs testkit.SyncBuffer
			h := newHarness(t, harnessConfig{mount: "chi", kitOpts: []handlers.Option{
				handlers.WithClientIP(func(r *http.Request) (netip.Addr, bool) {
					a := chimw.GetClientIPAddr(r.Context())
					return a.Unmap(), a.IsValid()
				}),
				handlers.WithLogger(zerolog.New(&logs)),
			}})
			r := chi.NewRouter()
			r.Use(tc.mw)
			r.With(h.auth).Get("/manage-connections", h.kit.ManageConnections().ServeHTTP)
			srv := httptest.NewTLSServer(r)
			defer srv.Close()
			h.browser.Jar.SetCookies(mustURL(t, srv.URL), []*http.Cookie{{Name: "user", Value: "alice", Path: "/"}})

			resp, _ := h.get(srv.URL+"/manage-connections", "X-Forwarded-For", tc.xff)
			if resp.StatusCode != http.StatusFound {
				t.Fatalf("manage: %d", resp.StatusCode)
			}
			if page, _ := h.get(resp.Header.Get("Location")); page.StatusCode != http.StatusForbidden {
				t.Fatalf("white-label page with a forwarded 203.0.113.9 opened from loopback: %d, want 403", page.StatusCode)
			}
			// chi derives no IP without the header: the kit fails closed, no
			// fallback to the peer, no upstream call.
			hits := h.emu.Hits(bluenexustest.PathHandoffInit)
			if resp, _ = h.get(srv.URL + "/manage-connections"); resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("manage without the header: %d, want 400", resp.StatusCode)
			}
			if n := h.emu.Hits(bluenexustest.PathHandoffInit); n != hits {
				t.Fatalf("upstream hits went from %d to %d", hits, n)
			}
			// The log says the app's function found none, not that the kit's
			// middleware did not run.
			if l := logs.String(); !strings.Contains(l, "the WithClientIP function found none") || strings.Contains(l, "did not run") {
				t.Errorf("the no_client_ip log does not name WithClientIP: %s", l)
			}
		})
	}
}

func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestTakeOutcome: the page a return lands on reads the outcome once from
// the flash cookie, which TakeOutcome clears; a forged value is ignored.
func TestTakeOutcome(t *testing.T) {
	h := newHarness(t, harnessConfig{mount: "chi"})
	resp, _ := h.get(h.complete(h.startFlow("?next=/settings")))
	var flash *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "__Host-handoffkit-outcome" {
			flash = c
		}
	}
	if flash == nil || !flash.Secure || !flash.HttpOnly || flash.Path != "/" || flash.MaxAge <= 0 {
		t.Fatalf("flash cookie %+v, want a short-lived Secure HttpOnly __Host- cookie", flash)
	}
	take := func(c *http.Cookie) (handlers.Outcome, bool, *httptest.ResponseRecorder) {
		req := httptest.NewRequest(http.MethodGet, "https://app.example.com/settings", nil)
		if c != nil {
			req.AddCookie(c)
		}
		rec := httptest.NewRecorder()
		o, ok := h.kit.TakeOutcome(rec, req)
		return o, ok, rec
	}
	cleared := func(rec *httptest.ResponseRecorder) bool {
		for _, c := range rec.Result().Cookies() {
			if c.Name == flash.Name && c.MaxAge < 0 {
				return true
			}
		}
		return false
	}
	if o, ok, rec := take(flash); o != "success" || !ok || !cleared(rec) {
		t.Errorf("TakeOutcome = %q %v (cleared %v), want success, true, cleared", o, ok, cleared(rec))
	}
	if o, ok, rec := take(&http.Cookie{Name: flash.Name, Value: "internal"}); o != "" || ok || !cleared(rec) {
		t.Errorf("forged flash: %q %v (cleared %v), want nothing, and the cookie cleared", o, ok, cleared(rec))
	}
	if o, ok, rec := take(nil); o != "" || ok || len(rec.Result().Cookies()) != 0 {
		t.Errorf("no flash: %q %v, want nothing and no Set-Cookie", o, ok)
	}
}

// TestCodeParamAndDefaultNext: WithCodeParam names the white-label URL's
// code parameter, and WithDefaultNext is where a return without `next`
// lands.
func TestCodeParamAndDefaultNext(t *testing.T) {
	h := newHarness(t, harnessConfig{mount: "chi", kitOpts: []handlers.Option{
		handlers.WithCodeParam("handoff"), handlers.WithDefaultNext("/home"),
	}})
	wl := h.startFlow("")
	u := mustURL(t, wl)
	if u.Query().Get("handoff") == "" || u.Query().Has("code") {
		t.Fatalf("white-label URL %q, want the code in the handoff parameter only", wl)
	}
	// The emulator reads "code": hand it the same code under that name.
	q := u.Query()
	q.Set("code", q.Get("handoff"))
	q.Del("handoff")
	u.RawQuery = q.Encode()
	resp, _ := h.get(h.complete(u.String()))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/home" {
		t.Fatalf("return without next: %d to %q, want 303 to /home", resp.StatusCode, resp.Header.Get("Location"))
	}
}
