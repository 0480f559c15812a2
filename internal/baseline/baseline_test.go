package baseline_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/handoffkit/handoffkit/bluenexus/bluenexustest"
	"github.com/handoffkit/handoffkit/internal/baseline"
)

// userKey carries the signed-in user in a test request's context.
type userKey struct{}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// newLean returns the lean handlers against emu, the user read from the
// "user" cookie or the context, and their clock.
func newLean(t *testing.T, emu *bluenexustest.Server, returnURL string) (*baseline.Lean, *fakeClock) {
	t.Helper()
	token := emu.AddUser("alice")
	clk := &fakeClock{t: time.Now()}
	l, err := baseline.NewLean(baseline.Config{
		HashKey:       []byte("0123456789abcdef0123456789abcdef"),
		BlockKey:      []byte("fedcba9876543210fedcba9876543210"),
		APIBase:       emu.URL(),
		WhiteLabelURL: emu.WhiteLabelURL(),
		ReturnURL:     returnURL,
		User: func(r *http.Request) (string, bool) {
			if u, ok := r.Context().Value(userKey{}).(string); ok {
				return u, true
			}
			c, err := r.Cookie("user")
			if err != nil {
				return "", false
			}
			return c.Value, true
		},
		Token: func(*http.Request) (string, bool) { return token.Reveal(), true },
		ClientIP: func(r *http.Request) (string, bool) {
			host, _, err := net.SplitHostPort(r.RemoteAddr)
			return host, err == nil
		},
		Now: clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Client().CloseIdleConnections)
	return l, clk
}

// TestRoundTrip: the lean baseline does the flow's work (the yardstick must
// be honest): a 302 to the white-label page with a code the emulator minted
// for a redirectUri carrying the state, no cookie, the no-store headers;
// through the white-label page back to a 303 to next; the same return
// again is refused.
func TestRoundTrip(t *testing.T) {
	emu := bluenexustest.NewServer()
	t.Cleanup(emu.Close)
	mux := http.NewServeMux()
	app := httptest.NewServer(mux)
	t.Cleanup(app.Close)
	l, _ := newLean(t, emu, app.URL+"/connections/return")
	mux.HandleFunc("GET /manage-connections", l.Manage)
	mux.HandleFunc("GET /connections/return", l.Return)

	browser := bluenexustest.NewBrowser(app)
	t.Cleanup(browser.CloseIdleConnections)
	appURL, _ := url.Parse(app.URL)
	browser.Jar.SetCookies(appURL, []*http.Cookie{{Name: "user", Value: "alice"}})

	start, err := browser.Get(app.URL + "/manage-connections?next=/settings")
	if err != nil {
		t.Fatal(err)
	}
	if start.StatusCode != http.StatusFound {
		t.Fatalf("manage: status %d, want 302", start.StatusCode)
	}
	loc, err := start.Location()
	if err != nil || !strings.HasPrefix(loc.String(), emu.WhiteLabelURL()+"?") || loc.Query().Get("code") == "" {
		t.Fatalf("manage: Location %v, want the white-label page with a code", loc)
	}
	for h, want := range map[string]string{"Cache-Control": "no-store", "Pragma": "no-cache", "Referrer-Policy": "no-referrer"} {
		if got := start.Header.Get(h); got != want {
			t.Errorf("manage: %s %q, want %q", h, got, want)
		}
	}
	if sc := start.Header.Values("Set-Cookie"); len(sc) != 0 {
		t.Errorf("manage: Set-Cookie %q, want none", sc)
	}

	ret, err := bluenexustest.NewUser(emu, browser).Done(context.Background(), start)
	if err != nil {
		t.Fatal(err)
	}
	if ret.URL.Query().Get("state") == "" {
		t.Errorf("redirectUri %v has no state", ret.URL)
	}
	if ret.Response.StatusCode != http.StatusSeeOther || ret.Response.Header.Get("Location") != "/settings" {
		t.Fatalf("return: status %d, Location %q, want 303 to /settings", ret.Response.StatusCode, ret.Response.Header.Get("Location"))
	}
	if got := ret.Response.Header.Get("Referrer-Policy"); got != "no-referrer" {
		t.Errorf("return: Referrer-Policy %q, want no-referrer", got)
	}
	again, err := browser.Get(ret.URL.String())
	if err != nil {
		t.Fatal(err)
	}
	again.Body.Close()
	if again.StatusCode != http.StatusForbidden {
		t.Errorf("second return: status %d, want 403", again.StatusCode)
	}
}

// TestReturn: the return accepts a state only once, within its TTL, for
// the user it was sealed for, and untouched.
func TestReturn(t *testing.T) {
	emu := bluenexustest.NewServer()
	t.Cleanup(emu.Close)
	l, clk := newLean(t, emu, "https://app.example.com/connections/return")
	ret := func(user, state string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "https://app.example.com/connections/return?state="+state, nil)
		if user != "" {
			r = r.WithContext(context.WithValue(r.Context(), userKey{}, user))
		}
		rec := httptest.NewRecorder()
		l.Return(rec, r)
		return rec
	}

	state := l.Begin("alice", "/next")
	if rec := ret("bob", state); rec.Code != http.StatusForbidden {
		t.Errorf("another user: status %d, want 403", rec.Code)
	}
	if rec := ret("", state); rec.Code != http.StatusUnauthorized {
		t.Errorf("no user: status %d, want 401", rec.Code)
	}
	tampered := []byte(state)
	tampered[len(tampered)/2] ^= 'A' ^ 'B' // still base64url, or at worst not: either way refused
	for name, s := range map[string]string{"tampered": string(tampered), "empty": "", "not base64url": "a.b"} {
		if rec := ret("alice", s); rec.Code != http.StatusForbidden {
			t.Errorf("%s state: status %d, want 403", name, rec.Code)
		}
	}
	rec := ret("alice", state)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/next" {
		t.Fatalf("status %d, Location %q, want 303 to /next", rec.Code, rec.Header().Get("Location"))
	}
	if rec := ret("alice", state); rec.Code != http.StatusForbidden {
		t.Errorf("replay: status %d, want 403", rec.Code)
	}

	late := l.Begin("alice", "/")
	clk.Advance(10 * time.Minute)
	if rec := ret("alice", late); rec.Code != http.StatusForbidden {
		t.Errorf("after the TTL: status %d, want 403", rec.Code)
	}
	// Past the sweep, a used nonce is forgotten only once its flow expired:
	// a fresh flow still works, and its replay is still refused.
	fresh := l.Begin("alice", "/")
	clk.Advance(2 * time.Minute)
	if rec := ret("alice", fresh); rec.Code != http.StatusSeeOther {
		t.Errorf("fresh flow after a sweep: status %d, want 303", rec.Code)
	}
	clk.Advance(2 * time.Minute)
	if rec := ret("alice", fresh); rec.Code != http.StatusForbidden {
		t.Errorf("replay after a sweep: status %d, want 403", rec.Code)
	}
}

// TestManageRefusesNext: a next that is not a local path is refused
// before any upstream call.
func TestManageRefusesNext(t *testing.T) {
	emu := bluenexustest.NewServer()
	t.Cleanup(emu.Close)
	l, _ := newLean(t, emu, "https://app.example.com/connections/return")
	for _, next := range []string{"https://evil.example", "//evil.example", "/\\evil.example", "/a%2F%2Fb", strings.Repeat("/a", 300)} {
		r := httptest.NewRequest(http.MethodGet, "https://app.example.com/manage-connections?next="+url.QueryEscape(next), nil)
		r = r.WithContext(context.WithValue(r.Context(), userKey{}, "alice"))
		rec := httptest.NewRecorder()
		l.Manage(rec, r)
		if rec.Code != http.StatusBadRequest {
			t.Errorf("next %q: status %d, want 400", next, rec.Code)
		}
	}
	if hits := emu.Hits(bluenexustest.PathHandoffInit); hits != 0 {
		t.Errorf("%d handoff inits, want 0", hits)
	}
}
