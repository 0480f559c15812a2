package bluenexustest_test

import (
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/bluenexus/bluenexustest"
	"github.com/handoffkit/handoffkit/internal/bnwire"
	"github.com/handoffkit/handoffkit/internal/testkit"
)

func checkPageHeaders(t *testing.T, what string, h http.Header) {
	t.Helper()
	if got := h.Get("Cache-Control"); got != "no-store" {
		t.Errorf("%s: Cache-Control = %q, want no-store", what, got)
	}
	if got := h.Get("Referrer-Policy"); got != "no-referrer" {
		t.Errorf("%s: Referrer-Policy = %q, want no-referrer", what, got)
	}
}

// TestFlowRedirectsToRedirectURIExactly walks init, the white-label page,
// connect, remove and Done, and pins that Done lands on the redirectUri as
// given at init, deep links included (BLUENEXUS.md 2, SECURITY.md D1).
func TestFlowRedirectsToRedirectURIExactly(t *testing.T) {
	for _, redirectURI := range []string{
		"https://app.example.com/connections/return?state=abc_-DEF&x=a%20b",
		"https://app.example.com/return",
		"http://127.0.0.1:8080/return",
		"http://localhost:3000/cb?",
		"http://[::1]:8080/cb",
		"yourapp://connections",
		"exp://192.168.1.10:19000/--/connections",
		"com.example.app:/oauth/return",
	} {
		t.Run(redirectURI, func(t *testing.T) {
			s := newServer(t)
			token := s.AddUser("alice")
			s.Connect("alice", "notion")
			ir := mustInit(t, s, token, redirectURI)
			exp, err := time.Parse(time.RFC3339, ir.ExpiresAt)
			if err != nil || time.Until(exp) > 31*time.Second || time.Until(exp) < 25*time.Second {
				t.Errorf("expiresAt = %q (%v), want about 30s from now", ir.ExpiresAt, err)
			}

			b := browser(t)
			open := openWhiteLabel(t, b, s, ir.Code)
			if open.status != http.StatusSeeOther || open.header.Get("Location") != bluenexustest.PathWhiteLabelSession {
				t.Fatalf("open: status %d Location %q, want 303 to %s", open.status, open.header.Get("Location"), bluenexustest.PathWhiteLabelSession)
			}
			checkPageHeaders(t, "open", open.header)
			checkSessionCookie(t, open.header)

			page := getPage(t, b, s)
			if page.status != http.StatusOK {
				t.Fatalf("page: status %d", page.status)
			}
			checkPageHeaders(t, "page", page.header)
			for _, want := range []string{`<html lang="en">`, "<h1>Manage your connections</h1>", "Notion", "alice+notion@example.com", "active", `<label for="provider">`} {
				if !strings.Contains(html.UnescapeString(page.body), want) {
					t.Errorf("page lacks %q", want)
				}
			}
			csrf := csrfToken(t, page.body)

			r := post(t, b, s, bluenexustest.PathWhiteLabelConnect, url.Values{"csrf_token": {csrf}, "provider": {"google"}})
			if r.status != http.StatusSeeOther {
				t.Fatalf("connect: status %d, body %s", r.status, r.body)
			}
			conns := s.Connections("alice")
			if len(conns) != 2 || conns[1].ProviderID != "google" || conns[1].Status != bluenexus.StatusActive {
				t.Fatalf("after connect: %+v", conns)
			}
			if page := html.UnescapeString(getPage(t, b, s).body); !strings.Contains(page, "Connected Google.") || !strings.Contains(page, "alice+google@example.com") {
				t.Errorf("page after connect lacks the new connection:\n%s", page)
			}

			r = post(t, b, s, bluenexustest.PathWhiteLabelRemove, url.Values{"csrf_token": {csrf}, "id": {conns[0].ID}})
			if r.status != http.StatusSeeOther {
				t.Fatalf("remove: status %d", r.status)
			}
			if conns := s.Connections("alice"); len(conns) != 1 || conns[0].ProviderID != "google" {
				t.Fatalf("after remove: %+v", conns)
			}

			done := post(t, b, s, bluenexustest.PathWhiteLabelDone, url.Values{"csrf_token": {csrf}})
			if done.status != http.StatusSeeOther {
				t.Fatalf("done: status %d", done.status)
			}
			if got := done.header.Get("Location"); got != redirectURI {
				t.Errorf("done: Location = %q, want exactly %q", got, redirectURI)
			}
			checkPageHeaders(t, "done", done.header)
			if again := post(t, b, s, bluenexustest.PathWhiteLabelDone, url.Values{"csrf_token": {csrf}}); again.status != http.StatusUnauthorized {
				t.Errorf("second done: status %d, want 401 (session ended)", again.status)
			}
			if got := s.Hits(bluenexustest.PathHandoffInit); got != 1 {
				t.Errorf("Hits(init) = %d, want 1", got)
			}
		})
	}
}

func checkSessionCookie(t *testing.T, h http.Header) {
	t.Helper()
	resp := http.Response{Header: h}
	for _, c := range resp.Cookies() {
		if c.Name != bluenexustest.SessionCookie {
			continue
		}
		if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/white-label" || len(c.Value) < 43 {
			t.Errorf("session cookie = %+v, want HttpOnly, SameSite=Lax, Path=/white-label, 256-bit value", c)
		}
		return
	}
	t.Errorf("no %s cookie set", bluenexustest.SessionCookie)
}

// TestCodeRules pins the code's life: single use, the TTL by the injected
// clock, the IP fingerprint, and the 4xx each failure answers with
// (BLUENEXUS.md 1 and 3).
func TestCodeRules(t *testing.T) {
	tests := []struct {
		name     string
		initHdrs []string
		before   func(s *bluenexustest.Server, b *http.Client, code string, clock *testkit.Clock)
		code     func(real string) string
		want     int
		wantText string
	}{
		{name: "fresh code works", want: http.StatusSeeOther},
		{name: "works at +29s", before: func(_ *bluenexustest.Server, _ *http.Client, _ string, c *testkit.Clock) { c.Advance(29 * time.Second) }, want: http.StatusSeeOther},
		{name: "expired at +30s", before: func(_ *bluenexustest.Server, _ *http.Client, _ string, c *testkit.Clock) { c.Advance(30 * time.Second) }, want: http.StatusGone, wantText: "expired"},
		{name: "expired at +31s", before: func(_ *bluenexustest.Server, _ *http.Client, _ string, c *testkit.Clock) { c.Advance(31 * time.Second) }, want: http.StatusGone, wantText: "expired"},
		{name: "expired long after", before: func(_ *bluenexustest.Server, _ *http.Client, _ string, c *testkit.Clock) { c.Advance(50 * time.Minute) }, want: http.StatusGone, wantText: "expired"},
		{name: "replayed code", before: func(s *bluenexustest.Server, _ *http.Client, code string, _ *testkit.Clock) {
			openWhiteLabel(t, browser(t), s, code)
		}, want: http.StatusGone, wantText: "already used"},
		{name: "IP mismatch", initHdrs: []string{"X-Forwarded-For", "203.0.113.7"}, want: http.StatusForbidden, wantText: "same IP address"},
		{name: "header IP matches browser", initHdrs: []string{"X-Forwarded-For", "203.0.113.7, 127.0.0.1"}, want: http.StatusSeeOther},
		{name: "last header instance counts", initHdrs: []string{"X-Forwarded-For", "127.0.0.1", "X-Forwarded-For", "203.0.113.7"}, want: http.StatusForbidden},
		{name: "loopback addresses are one machine", initHdrs: []string{"X-Forwarded-For", "::1"}, want: http.StatusSeeOther},
		{name: "mapped IPv4 is normalised", initHdrs: []string{"X-Forwarded-For", "::ffff:127.0.0.1"}, want: http.StatusSeeOther},
		{name: "unknown code", code: func(string) string { return "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" }, want: http.StatusBadRequest, wantText: "unknown"},
		{name: "empty code", code: func(string) string { return "" }, want: http.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := newFakeClock()
			s := newServer(t, bluenexustest.WithClock(clock.Now))
			token := s.AddUser("alice")
			ir := mustInit(t, s, token, "https://app.example/return", tc.initHdrs...)
			b := browser(t)
			if tc.before != nil {
				tc.before(s, b, ir.Code, clock)
			}
			code := ir.Code
			if tc.code != nil {
				code = tc.code(code)
			}
			r := openWhiteLabel(t, b, s, code)
			if r.status != tc.want {
				t.Fatalf("status %d, want %d; body %s", r.status, tc.want, r.body)
			}
			checkPageHeaders(t, "white-label", r.header)
			if r.status != http.StatusSeeOther {
				if !strings.Contains(r.header.Get("Content-Type"), "text/html") || strings.Contains(r.body, "Manage your connections</h1>") {
					t.Errorf("error answer is not the HTML error page: %s", r.body)
				}
				if !strings.Contains(r.body, tc.wantText) {
					t.Errorf("error page lacks %q:\n%s", tc.wantText, r.body)
				}
				if len(r.header.Values("Set-Cookie")) != 0 {
					t.Errorf("error answer set a cookie")
				}
				if tc.code == nil {
					if again := openWhiteLabel(t, browser(t), s, ir.Code); again.status == http.StatusSeeOther {
						t.Errorf("code still works after a refused presentation")
					}
				}
			}
		})
	}
}

// TestCodeDuplicateParameter rejects ?code=A&code=B: one code per link.
func TestCodeDuplicateParameter(t *testing.T) {
	s := newServer(t)
	token := s.AddUser("alice")
	a := mustInit(t, s, token, "https://app.example/return")
	r := do(t, browser(t), newRequest(t, http.MethodGet, s.WhiteLabelURL()+"?code="+a.Code+"&code="+a.Code, nil))
	if r.status != http.StatusBadRequest {
		t.Fatalf("status %d, want 400", r.status)
	}
}

// TestHEADDoesNotConsumeCode keeps link checkers from burning codes.
func TestHEADDoesNotConsumeCode(t *testing.T) {
	s := newServer(t)
	token := s.AddUser("alice")
	ir := mustInit(t, s, token, "https://app.example/return")
	r := do(t, browser(t), newRequest(t, http.MethodHead, s.WhiteLabelURL()+"?code="+ir.Code, nil))
	if r.status != http.StatusMethodNotAllowed {
		t.Errorf("HEAD: status %d, want 405", r.status)
	}
	if r := openWhiteLabel(t, browser(t), s, ir.Code); r.status != http.StatusSeeOther {
		t.Errorf("GET after HEAD: status %d, want 303", r.status)
	}
}

// TestClientIPHeaderOption pins WithClientIPHeader: another header name, and
// none at all (TCP peer only).
func TestClientIPHeaderOption(t *testing.T) {
	tests := []struct {
		name    string
		header  string
		hdrs    []string
		wantWL  int
		wantErr bool
	}{
		{name: "custom header read", header: "X-Real-IP", hdrs: []string{"X-Real-IP", "203.0.113.7"}, wantWL: http.StatusForbidden},
		{name: "custom header, XFF ignored", header: "X-Real-IP", hdrs: []string{"X-Forwarded-For", "203.0.113.7"}, wantWL: http.StatusSeeOther},
		{name: "custom header invalid", header: "X-Real-IP", hdrs: []string{"X-Real-IP", "garbage"}, wantErr: true},
		{name: "disabled: peer only", header: "", hdrs: []string{"X-Forwarded-For", "garbage"}, wantWL: http.StatusSeeOther},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, bluenexustest.WithClientIPHeader(tc.header))
			token := s.AddUser("alice")
			r := do(t, apiClient(t), initRequest(t, s, token, initBody("https://app.example/r"), tc.hdrs...))
			if tc.wantErr {
				if r.status != http.StatusBadRequest || r.errorBody(t).Message != bnwire.ClientCriteriaMessage {
					t.Fatalf("init: %d %s, want 400 client criteria", r.status, r.body)
				}
				return
			}
			if r.status != http.StatusOK {
				t.Fatalf("init: %d %s", r.status, r.body)
			}
			code := strings.Split(strings.Split(r.body, `"code":"`)[1], `"`)[0]
			if got := openWhiteLabel(t, browser(t), s, code); got.status != tc.wantWL {
				t.Errorf("white-label: %d, want %d", got.status, tc.wantWL)
			}
		})
	}
}

// TestFormsRequireCSRFToken pins the per-session CSRF token on every form
// post (OWASP CSRF), and that a missing session is a 401 page.
func TestFormsRequireCSRFToken(t *testing.T) {
	paths := []struct {
		path string
		form url.Values
	}{
		{bluenexustest.PathWhiteLabelConnect, url.Values{"provider": {"slack"}}},
		{bluenexustest.PathWhiteLabelRemove, url.Values{}},
		{bluenexustest.PathWhiteLabelDone, url.Values{}},
	}
	tokens := []struct {
		name   string
		tokens func(real string) []string
		cookie bool
		want   int
	}{
		{"missing token", func(string) []string { return nil }, true, http.StatusForbidden},
		{"wrong token", func(real string) []string { return []string{real[:len(real)-2] + "xx"} }, true, http.StatusForbidden},
		{"empty token", func(string) []string { return []string{""} }, true, http.StatusForbidden},
		{"token twice", func(real string) []string { return []string{real, real} }, true, http.StatusForbidden},
		{"no session cookie", func(real string) []string { return []string{real} }, false, http.StatusUnauthorized},
	}
	for _, p := range paths {
		for _, tc := range tokens {
			t.Run(p.path+"/"+tc.name, func(t *testing.T) {
				s := newServer(t)
				token := s.AddUser("alice")
				c := s.Connect("alice", "google")
				b, csrf := startSession(t, s, token, "https://app.example/return")
				form := url.Values{}
				for k, v := range p.form {
					form[k] = v
				}
				form.Set("id", c.ID)
				if v := tc.tokens(csrf); v != nil {
					form["csrf_token"] = v
				}
				client := b
				if !tc.cookie {
					client = browser(t)
				}
				r := post(t, client, s, p.path, form)
				if r.status != tc.want {
					t.Fatalf("status %d, want %d", r.status, tc.want)
				}
				if got := s.Connections("alice"); len(got) != 1 || got[0].ID != c.ID {
					t.Errorf("connections changed: %+v", got)
				}
				if r.header.Get("Location") != "" {
					t.Errorf("refused post redirected to %q", r.header.Get("Location"))
				}
			})
		}
	}
}

// TestRemoveOnlyOwnConnections: a session cannot remove another user's
// connection by id.
func TestRemoveOnlyOwnConnections(t *testing.T) {
	s := newServer(t)
	alice := s.AddUser("alice")
	bobs := s.Connect("bob", "github")
	b, csrf := startSession(t, s, alice, "https://app.example/return")
	if r := post(t, b, s, bluenexustest.PathWhiteLabelRemove, url.Values{"csrf_token": {csrf}, "id": {bobs.ID}}); r.status != http.StatusSeeOther {
		t.Fatalf("status %d", r.status)
	}
	if got := s.Connections("bob"); len(got) != 1 {
		t.Fatalf("bob's connection was removed")
	}
	if page := getPage(t, b, s); !strings.Contains(page.body, "already removed") {
		t.Errorf("page does not say the connection was not found")
	}
}

// TestConnectUnknownProvider refuses providers outside the offered list.
func TestConnectUnknownProvider(t *testing.T) {
	s := newServer(t)
	b, csrf := startSession(t, s, s.AddUser("alice"), "https://app.example/return")
	r := post(t, b, s, bluenexustest.PathWhiteLabelConnect, url.Values{"csrf_token": {csrf}, "provider": {"evil"}})
	if r.status != http.StatusBadRequest || len(s.Connections("alice")) != 0 {
		t.Fatalf("status %d, connections %v", r.status, s.Connections("alice"))
	}
}

// TestReturnWithError pins the error parameters on Done: added once after
// ReturnWithError, appended to an existing query, never otherwise.
func TestReturnWithError(t *testing.T) {
	tests := []struct {
		name, redirectURI, want string
		set                     bool
	}{
		{"no error by default", "https://app.example/return?state=S", "https://app.example/return?state=S", false},
		{"added to a query", "https://app.example/return?state=S", "https://app.example/return?state=S&error=access_denied&error_description=User+cancelled+%26+left", true},
		{"added without a query", "https://app.example/return", "https://app.example/return?error=access_denied&error_description=User+cancelled+%26+left", true},
		{"added to a deep link", "yourapp://connections", "yourapp://connections?error=access_denied&error_description=User+cancelled+%26+left", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t)
			token := s.AddUser("alice")
			if tc.set {
				s.ReturnWithError("access_denied", "User cancelled & left")
			}
			b, csrf := startSession(t, s, token, tc.redirectURI)
			r := post(t, b, s, bluenexustest.PathWhiteLabelDone, url.Values{"csrf_token": {csrf}})
			if got := r.header.Get("Location"); r.status != http.StatusSeeOther || got != tc.want {
				t.Fatalf("done: %d %q, want 303 %q", r.status, got, tc.want)
			}
			// The error is used once: the next flow returns cleanly.
			b, csrf = startSession(t, s, token, tc.redirectURI)
			r = post(t, b, s, bluenexustest.PathWhiteLabelDone, url.Values{"csrf_token": {csrf}})
			if got := r.header.Get("Location"); got != tc.redirectURI {
				t.Errorf("next done: %q, want %q", got, tc.redirectURI)
			}
		})
	}
}

// TestSessionPageNeedsSession: no cookie, a forged cookie, or an expired
// session get the 401 page.
func TestSessionPageNeedsSession(t *testing.T) {
	clock := newFakeClock()
	s := newServer(t, bluenexustest.WithClock(clock.Now))
	b, _ := startSession(t, s, s.AddUser("alice"), "https://app.example/return")

	forged := newRequest(t, http.MethodGet, s.URL()+bluenexustest.PathWhiteLabelSession, nil)
	forged.AddCookie(&http.Cookie{Name: bluenexustest.SessionCookie, Value: "forged"})
	if r := do(t, apiClient(t), forged); r.status != http.StatusUnauthorized {
		t.Errorf("forged cookie: %d, want 401", r.status)
	}
	if r := getPage(t, browser(t), s); r.status != http.StatusUnauthorized {
		t.Errorf("no cookie: %d, want 401", r.status)
	}
	clock.Advance(31 * time.Minute)
	if r := getPage(t, b, s); r.status != http.StatusUnauthorized {
		t.Errorf("expired session: %d, want 401", r.status)
	}
}

// TestUnknownPage answers 404 HTML outside the API and the page.
func TestUnknownPage(t *testing.T) {
	s := newServer(t)
	r := do(t, apiClient(t), newRequest(t, http.MethodGet, s.URL()+"/nope", nil))
	if r.status != http.StatusNotFound || !strings.Contains(r.body, "<h1") {
		t.Fatalf("status %d body %s", r.status, r.body)
	}
}

// TestCodeReuses counts every presentation of a code after its first, the
// first's outcome aside (here one from another network), in CodeReuses
// and the control API's stats; a fresh code and Reset leave it at 0.
func TestCodeReuses(t *testing.T) {
	s := newServer(t, bluenexustest.WithControlAPI(), bluenexustest.WithPageIPHeader("X-Forwarded-For"))
	token := s.AddUser("alice")
	stats := func() int {
		t.Helper()
		var v struct {
			CodeReuses *int `json:"codeReuses"`
		}
		r := control(t, s, http.MethodGet, "stats", "")
		if err := json.Unmarshal([]byte(r.body), &v); err != nil || v.CodeReuses == nil {
			t.Fatalf("stats: %d %s (%v)", r.status, r.body, err)
		}
		if *v.CodeReuses != s.CodeReuses() {
			t.Errorf("stats codeReuses %d, CodeReuses() %d", *v.CodeReuses, s.CodeReuses())
		}
		return *v.CodeReuses
	}

	used := mustInit(t, s, token, "https://app.example/r")
	if r := openWhiteLabel(t, browser(t), s, used.Code); r.status != http.StatusSeeOther {
		t.Fatalf("first use: %d", r.status)
	}
	refused := mustInit(t, s, token, "https://app.example/r")
	req := newRequest(t, http.MethodGet, s.WhiteLabelURL()+"?code="+url.QueryEscape(refused.Code), nil)
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	if r := do(t, browser(t), req); r.status != http.StatusForbidden {
		t.Fatalf("from another network: %d", r.status)
	}
	if n := stats(); n != 0 {
		t.Fatalf("CodeReuses = %d after first presentations, want 0", n)
	}
	for i, code := range []string{used.Code, refused.Code, used.Code} {
		if r := openWhiteLabel(t, browser(t), s, code); r.status != http.StatusGone || !strings.Contains(r.body, "already used") {
			t.Errorf("presentation %d again: %d", i, r.status)
		}
	}
	if r := openWhiteLabel(t, browser(t), s, "no-such-code"); r.status != http.StatusBadRequest {
		t.Errorf("unknown code: %d", r.status)
	}
	if n := stats(); n != 3 {
		t.Errorf("CodeReuses = %d, want 3 (an unknown code is no reuse)", n)
	}
	s.Reset()
	if n := stats(); n != 0 {
		t.Errorf("CodeReuses = %d after Reset", n)
	}
}
