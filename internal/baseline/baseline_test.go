package baseline_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/handoffkit/handoffkit/bluenexus/bluenexustest"
	"github.com/handoffkit/handoffkit/internal/baseline"
)

// impl is what both baselines offer.
type impl interface {
	Manage(http.ResponseWriter, *http.Request)
	Return(http.ResponseWriter, *http.Request)
	Begin(http.ResponseWriter, *http.Request) (string, error)
	Client() *http.Client
}

func newImpls(t *testing.T) (map[string]impl, *bluenexustest.Server) {
	t.Helper()
	emu := bluenexustest.NewServer()
	t.Cleanup(emu.Close)
	token := emu.AddUser("alice")
	cfg := baseline.Config{
		HashKey:       []byte("0123456789abcdef0123456789abcdef"),
		BlockKey:      []byte("fedcba9876543210fedcba9876543210"),
		APIBase:       emu.URL(),
		WhiteLabelURL: emu.WhiteLabelURL(),
		ReturnURL:     "https://app.example.com/connections/return",
		Token:         func(*http.Request) (string, bool) { return token.Reveal(), true },
		ClientIP:      func(*http.Request) (string, bool) { return "192.0.2.1", true },
	}
	gorilla, err := baseline.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	lean, err := baseline.NewLean(cfg)
	if err != nil {
		t.Fatal(err)
	}
	impls := map[string]impl{"gorilla": gorilla, "lean": lean}
	for _, h := range impls {
		t.Cleanup(h.Client().CloseIdleConnections)
	}
	return impls, emu
}

// TestRoundTrip: each baseline does the flow's work (the yardstick must be
// honest): a 302 to the white-label page with a code the emulator minted
// for the state's redirectUri, a flow cookie with the kit's attributes, then
// a 303 for the matching state only.
func TestRoundTrip(t *testing.T) {
	impls, emu := newImpls(t)
	for _, name := range []string{"gorilla", "lean"} {
		h := impls[name]
		t.Run(name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.Manage(rec, httptest.NewRequest(http.MethodGet, "https://app.example.com/manage-connections", nil))
			if rec.Code != http.StatusFound {
				t.Fatalf("manage: status %d, want 302", rec.Code)
			}
			loc, err := url.Parse(rec.Header().Get("Location"))
			if err != nil || !strings.HasPrefix(loc.String(), emu.WhiteLabelURL()+"?") || loc.Query().Get("code") == "" {
				t.Fatalf("manage: Location %q, want the white-label page with a code", rec.Header().Get("Location"))
			}
			for _, h := range []string{"Cache-Control", "Pragma", "Referrer-Policy"} {
				if rec.Header().Get(h) == "" {
					t.Errorf("manage: no %s header", h)
				}
			}
			cookies := rec.Result().Cookies()
			if len(cookies) != 1 {
				t.Fatalf("manage: %d cookies, want 1", len(cookies))
			}
			c := cookies[0]
			if c.Name != baseline.CookieName || c.Path != "/" || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode ||
				c.MaxAge != 600 || c.Expires.IsZero() || c.Domain != "" {
				t.Errorf("flow cookie %+v: want Path=/, Secure, HttpOnly, SameSite=Lax, Max-Age=600, Expires, no Domain", c)
			}

			// The state travels in the redirectUri; read it back from the
			// cookie by beginning a flow directly.
			w := httptest.NewRecorder()
			state, err := h.Begin(w, httptest.NewRequest(http.MethodGet, "/", nil))
			if err != nil {
				t.Fatal(err)
			}
			flow := w.Result().Cookies()[0]
			tests := []struct {
				name   string
				state  string
				cookie *http.Cookie
				want   int
			}{
				{"matching state", state, flow, http.StatusSeeOther},
				{"wrong state", strings.Repeat("A", len(state)), flow, http.StatusForbidden},
				{"no cookie", state, nil, http.StatusForbidden},
				{"empty state", "", flow, http.StatusForbidden},
				{"forged cookie", state, &http.Cookie{Name: flow.Name, Value: "x" + flow.Value}, http.StatusForbidden},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					r := httptest.NewRequest(http.MethodGet, "https://app.example.com/connections/return?state="+tc.state, nil)
					if tc.cookie != nil {
						r.AddCookie(tc.cookie)
					}
					rec := httptest.NewRecorder()
					h.Return(rec, r)
					if rec.Code != tc.want {
						t.Errorf("status %d, want %d", rec.Code, tc.want)
					}
					if loc := rec.Header().Get("Location"); tc.want == http.StatusSeeOther && loc != "/" {
						t.Errorf("Location %q, want /", loc)
					}
				})
			}
		})
	}
}

// TestLeanDeletesCookie: the lean return deletes the flow cookie with the
// same attributes it was set with.
func TestLeanDeletesCookie(t *testing.T) {
	impls, _ := newImpls(t)
	h := impls["lean"]
	w := httptest.NewRecorder()
	state, err := h.Begin(w, httptest.NewRequest(http.MethodGet, "/", nil))
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "https://app.example.com/connections/return?state="+state, nil)
	r.AddCookie(w.Result().Cookies()[0])
	rec := httptest.NewRecorder()
	h.Return(rec, r)
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("%d cookies, want 1", len(cookies))
	}
	if c := cookies[0]; c.Name != baseline.CookieName || c.MaxAge != -1 || c.Path != "/" || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode {
		t.Errorf("cookie %+v: want a deletion (Max-Age<0) with Path=/, Secure, HttpOnly, SameSite=Lax", c)
	}
}
