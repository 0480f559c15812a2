package flow

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/handoffkit/handoffkit/internal/testkit"
)

// testKeys is a fixed key pair: tests never use random keys either.
var testKeys = KeyPair{Hash: bytes.Repeat([]byte{0x11}, 32), Block: bytes.Repeat([]byte{0x22}, 32)}

var newKeys = KeyPair{Hash: bytes.Repeat([]byte{0x33}, 32), Block: bytes.Repeat([]byte{0x44}, 32)}

// defaultTTL is the TTL of package session's default.
const defaultTTL = 10 * time.Minute

func newTestManager(t testing.TB, keys []KeyPair, opts ...func(*Config)) (*Manager, *testkit.Clock) {
	t.Helper()
	clock := testkit.NewClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	c := Config{TTL: defaultTTL, Now: clock.Now}
	for _, o := range opts {
		o(&c)
	}
	m, err := New(keys, c)
	if err != nil {
		t.Fatal(err)
	}
	return m, clock
}

var params = Params{Intent: "connections", Next: "/settings", ReturnURI: "yourapp://connections"}

func seal(t testing.TB, m *Manager, user string, p Params) string {
	t.Helper()
	s, err := m.Seal(user, p)
	if err != nil {
		t.Fatal(err)
	}
	return s.Reveal()
}

func TestSealOpenRoundTrip(t *testing.T) {
	m, clock := newTestManager(t, []KeyPair{testKeys})
	st := seal(t, m, "alice", params)
	clock.Advance(time.Minute)
	f, err := m.Open(t.Context(), st, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if f.Intent != params.Intent || f.Next != params.Next || f.ReturnURI != params.ReturnURI ||
		!f.IssuedAt.Equal(clock.Now().Add(-time.Minute)) || f.ExpiresAt.Sub(f.IssuedAt) != defaultTTL {
		t.Fatalf("opened %+v", f)
	}
	if _, err := m.Open(t.Context(), st, "alice"); !errors.Is(err, ErrReplayed) {
		t.Fatalf("second Open: %v, want ErrReplayed", err)
	}
}

// TestStateHoldsNoPlainValue_B1: the state is encrypted: neither the user
// id nor next can be read from it, and two seals of the same flow differ.
func TestStateHoldsNoPlainValue_B1(t *testing.T) {
	m, _ := newTestManager(t, []KeyPair{testKeys})
	a, b := seal(t, m, "alice@example.com", params), seal(t, m, "alice@example.com", params)
	if a == b {
		t.Fatal("two seals are equal")
	}
	raw, _ := base64.RawURLEncoding.DecodeString(a)
	for _, plain := range []string{"alice", "settings", "yourapp", "connections"} {
		if bytes.Contains(raw, []byte(plain)) || strings.Contains(a, plain) {
			t.Errorf("state shows %q", plain)
		}
	}
}

// TestNonceIs128BitsAndUnique_B1: each flow's nonce has 128 bits from
// crypto/rand: no two of many flows share one.
func TestNonceIs128BitsAndUnique_B1(t *testing.T) {
	m, _ := newTestManager(t, []KeyPair{testKeys})
	seen := map[[nonceBytes]byte]bool{}
	for range 2000 {
		f, err := unseal(m.sealers, seal(t, m, "alice", params), m.c.TTL)
		if err != nil {
			t.Fatal(err)
		}
		if seen[f.nonce] || f.nonce == [nonceBytes]byte{} {
			t.Fatal("a nonce repeats")
		}
		seen[f.nonce] = true
	}
	if nonceBytes*8 < 128 {
		t.Fatal("nonce under 128 bits")
	}
}

// TestWrongUser_B1: a state opens only for the user it was sealed for; the
// attempt uses it up (SECURITY.md B4).
func TestWrongUser_B1(t *testing.T) {
	m, _ := newTestManager(t, []KeyPair{testKeys})
	st := seal(t, m, "alice", params)
	for _, user := range []string{"bob", "", "alic", "alice "} {
		if _, err := m.Open(t.Context(), seal(t, m, "alice", params), user); !errors.Is(err, ErrWrongUser) {
			t.Errorf("Open for %q: %v, want ErrWrongUser", user, err)
		}
	}
	if _, err := m.Open(t.Context(), st, "bob"); !errors.Is(err, ErrWrongUser) {
		t.Fatal(err)
	}
	if _, err := m.Open(t.Context(), st, "alice"); !errors.Is(err, ErrReplayed) {
		t.Fatalf("Alice after Bob's attempt: %v, want ErrReplayed", err)
	}
	if _, err := m.Seal("", params); !errors.Is(err, ErrInvalidParams) {
		t.Fatalf("Seal for no user: %v", err)
	}
}

// TestMalformedOrForged_B3: shapes are refused before any key is tried;
// anything that does not authenticate is unknown, never a panic.
func TestMalformedOrForged_B3(t *testing.T) {
	m, _ := newTestManager(t, []KeyPair{testKeys})
	st := seal(t, m, "alice", params)
	flip := []byte(st) // one character changed to another of base64url
	if flip[len(flip)/2] = 'A'; st[len(st)/2] == 'A' {
		flip[len(flip)/2] = 'B'
	}
	for _, tc := range []struct {
		state string
		want  error
	}{
		{"", ErrMalformedState},
		{strings.Repeat("A", MaxStateLength+1), ErrMalformedState},
		{st[:40] + "+" + st[41:], ErrMalformedState},
		{st[:40] + "=" + st[41:], ErrMalformedState},
		{strings.Repeat("A", 43), ErrMalformedState}, // too short to be sealed
		{strings.Repeat("A", 200), ErrUnknownState},
		{string(flip), ErrUnknownState},
	} {
		if _, err := m.Open(t.Context(), tc.state, "alice"); !errors.Is(err, tc.want) {
			t.Errorf("Open(%.20q): %v, want %v", tc.state, err, tc.want)
		}
	}
	if _, err := m.Open(t.Context(), st, "alice"); err != nil {
		t.Fatalf("the real state after the forgeries: %v", err)
	}
}

// TestExpiry_B4: a state at or past its TTL is refused, and stays refused.
func TestExpiry_B4(t *testing.T) {
	m, clock := newTestManager(t, []KeyPair{testKeys}, func(c *Config) { c.TTL = 10 * time.Minute })
	st := seal(t, m, "alice", params)
	clock.Advance(10 * time.Minute)
	for range 2 {
		if _, err := m.Open(t.Context(), st, "alice"); !errors.Is(err, ErrExpired) {
			t.Fatalf("Open at the TTL: %v, want ErrExpired", err)
		}
	}
}

// TestKeyRotation_C3: a state sealed with the old pair opens on a Manager
// with [new, old]; one sealed with new does not open with [old] alone, nor
// with keys removed.
func TestKeyRotation_C3(t *testing.T) {
	old, _ := newTestManager(t, []KeyPair{testKeys})
	rotated, _ := newTestManager(t, []KeyPair{newKeys, testKeys})
	fresh, _ := newTestManager(t, []KeyPair{newKeys})
	if _, err := rotated.Open(t.Context(), seal(t, old, "alice", params), "alice"); err != nil {
		t.Fatalf("old state on [new, old]: %v", err)
	}
	if _, err := old.Open(t.Context(), seal(t, rotated, "alice", params), "alice"); !errors.Is(err, ErrUnknownState) {
		t.Fatalf("new state on [old]: %v, want ErrUnknownState", err)
	}
	if _, err := fresh.Open(t.Context(), seal(t, old, "alice", params), "alice"); !errors.Is(err, ErrUnknownState) {
		t.Fatalf("old state after old was removed: %v, want ErrUnknownState", err)
	}
}

// TestStateLength: the state's length with a 512-byte next (measured by
// docs/SECURITY.md), and the limit that refuses a longer one.
func TestStateLength(t *testing.T) {
	m, _ := newTestManager(t, []KeyPair{testKeys})
	p := Params{Intent: "connections", Next: "/" + strings.Repeat("n", 511)}
	st := seal(t, m, "a-user-id-of-some-length", p)
	if len(st) != 792 || StateLength(p) != len(st) {
		t.Fatalf("state of %d characters (StateLength %d), want 792", len(st), StateLength(p))
	}
	p.ReturnURI = "yourapp://" + strings.Repeat("r", 180)
	if _, err := m.Seal("alice", p); !errors.Is(err, ErrInvalidParams) || !strings.Contains(err.Error(), "1024") {
		t.Fatalf("Seal of a state over 1024 characters: %v", err)
	}
}

func TestInvalidParams(t *testing.T) {
	m, _ := newTestManager(t, []KeyPair{testKeys})
	for _, p := range []Params{
		{Intent: "connections", Next: "/a b"},
		{Intent: "connections", Next: "/\x7f"},
		{Intent: "connections", Next: "/caf\u00e9"},
		{Intent: "connec tions", Next: "/"},
		{Intent: "connections", Next: "/", ReturnURI: "yourapp://a b"},
		{Intent: "connections", Next: "/\x00"},
		{Intent: "connections", Next: "/" + strings.Repeat("n", 1024)},
		{Intent: strings.Repeat("i", 800)},
		{Intent: "connections", ReturnURI: strings.Repeat("r", 800)},
	} {
		if _, err := m.Seal("alice", p); !errors.Is(err, ErrInvalidParams) {
			t.Errorf("Seal(%+v): %v", p, err)
		}
	}
}

// failingGuard fails every call.
type failingGuard struct{ err error }

func (g failingGuard) Consume(context.Context, string, time.Time) error { return g.err }

func TestGuardErrorFailsClosed_B4(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want error
	}{
		{errors.New("connection refused"), ErrUnavailable},
		{fmt.Errorf("redis: %w", ErrUnavailable), ErrUnavailable},
		{context.Canceled, context.Canceled},
		{fmt.Errorf("wrapped: %w", ErrReplayed), ErrReplayed},
	} {
		m, _ := newTestManager(t, []KeyPair{testKeys}, func(c *Config) { c.Guard = failingGuard{tc.err} })
		if _, err := m.Open(t.Context(), seal(t, m, "alice", params), "alice"); !errors.Is(err, tc.want) {
			t.Errorf("guard %v: Open = %v, want %v", tc.err, err, tc.want)
		}
	}
}

func TestNewValidates(t *testing.T) {
	for _, tc := range []struct {
		keys []KeyPair
		want string
	}{
		{nil, "no key pairs"},
		{[]KeyPair{{Hash: []byte("short"), Block: testKeys.Block}}, "key pair 0"},
		{[]KeyPair{testKeys, {Hash: testKeys.Hash, Block: testKeys.Hash[:32]}}, "key pair 1"},
		{[]KeyPair{{Hash: make([]byte, 32), Block: testKeys.Block}}, "all zeros"},
	} {
		if _, err := New(tc.keys, Config{TTL: defaultTTL, Now: time.Now}); err == nil || !strings.HasPrefix(err.Error(), "session: New: ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New: %v, want an error naming %s", err, tc.want)
		}
	}
	if err := (&Manager{}).Check(); err == nil {
		t.Error("Check of a zero Manager: nil")
	}
}

func TestStateRedacts_D2(t *testing.T) {
	m, _ := newTestManager(t, []KeyPair{testKeys})
	s, _ := m.Seal("alice", params)
	j, _ := json.Marshal(s)
	txt, _ := s.MarshalText()
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s %q", s, s, s, s, s), string(j), string(txt), s.String()} {
		if strings.Contains(out, s.Reveal()) || !strings.Contains(out, "[REDACTED]") {
			t.Errorf("state printed as %q", out)
		}
	}
}

// FuzzOpen: Open never panics, and accepts a state at most once, under any
// spelling of it.
func FuzzOpen(f *testing.F) {
	m, _ := newTestManager(f, []KeyPair{testKeys})
	st := seal(f, m, "alice", params)
	f.Add(st)
	f.Add("")
	f.Add(strings.Repeat("A", 100))
	f.Add(st[:len(st)-1] + "B")
	f.Fuzz(func(t *testing.T, s string) {
		if _, err := m.Open(context.Background(), s, "alice"); err != nil {
			return
		}
		if _, err := m.Open(context.Background(), s, "alice"); !errors.Is(err, ErrReplayed) {
			t.Fatalf("Open accepted %q twice", s)
		}
	})
}

// browser carries cookies between direct handler calls, like a cookie jar.
type browser struct{ *testkit.Browser }

func (b browser) setCookie(t *testing.T, m *Manager, user string, next string) {
	t.Helper()
	rec := httptest.NewRecorder()
	if err := m.SetCookie(rec, b.Request(http.MethodGet, "https://app.example/manage-connections"), State(seal(t, m, user, Params{Intent: "connections", Next: next}))); err != nil {
		t.Fatal(err)
	}
	b.Keep(rec)
}

func (b browser) openCookie(m *Manager, user string) (Flow, error) {
	rec := httptest.NewRecorder()
	f, err := m.OpenCookie(context.Background(), rec, b.Request(http.MethodGet, "https://app.example/connections/return"), user)
	b.Keep(rec)
	return f, err
}

// TestCookieAttributes_C1: each flow cookie of a fixed redirectUri has
// every attribute of SECURITY.md C1, a name of its own, and holds the
// sealed state.
func TestCookieAttributes_C1(t *testing.T) {
	for _, insecure := range []bool{false, true} {
		prefix := "__Host-handoffkit-flow-"
		if insecure {
			prefix = "handoffkit-flow-"
		}
		m, _ := newTestManager(t, []KeyPair{testKeys}, func(c *Config) { c.Insecure = insecure })
		rec := httptest.NewRecorder()
		st, _ := m.Seal("alice", params)
		if err := m.SetCookie(rec, httptest.NewRequest(http.MethodGet, "/", nil), st); err != nil {
			t.Fatal(err)
		}
		cs := rec.Result().Cookies()
		if len(cs) != 1 {
			t.Fatalf("%d cookies", len(cs))
		}
		c := cs[0]
		if !strings.HasPrefix(c.Name, prefix) || len(c.Name) != len(prefix)+8 || c.Value != st.Reveal() || c.Path != "/" || c.Domain != "" ||
			c.Secure == insecure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.MaxAge != 600 {
			t.Errorf("cookie %+v", c)
		}
	}
}

// TestCookieFlows_B5: flow cookies of a fixed redirectUri never overwrite
// each other: returns complete the user's pending flows newest first, each
// once; another user's flows are left alone; the oldest beyond
// MaxCookieFlows is deleted.
func TestCookieFlows_B5(t *testing.T) {
	m, clock := newTestManager(t, []KeyPair{testKeys})
	b := browser{testkit.NewBrowser()}
	b.setCookie(t, m, "alice", "/one")
	clock.Advance(time.Second)
	b.setCookie(t, m, "alice", "/two")
	clock.Advance(time.Second)
	b.setCookie(t, m, "bob", "/bob")
	for _, want := range []string{"/two", "/one"} {
		f, err := b.openCookie(m, "alice")
		if err != nil || f.Next != want {
			t.Fatalf("OpenCookie: %+v %v, want %s", f, err, want)
		}
	}
	if _, err := b.openCookie(m, "alice"); !errors.Is(err, ErrWrongUser) {
		t.Fatalf("only Bob's flow left: %v, want ErrWrongUser", err)
	}
	if f, err := b.openCookie(m, "bob"); err != nil || f.Next != "/bob" {
		t.Fatalf("Bob: %+v %v", f, err)
	}
	if _, err := b.openCookie(m, "bob"); !errors.Is(err, ErrNoFlow) || len(b.Cookies) != 0 {
		t.Fatalf("no flows left: %v, cookies %v", err, b.Cookies)
	}

	for i := range MaxCookieFlows + 2 {
		b.setCookie(t, m, "alice", fmt.Sprintf("/%d", i))
		clock.Advance(time.Second)
	}
	if len(b.Cookies) != MaxCookieFlows {
		t.Fatalf("%d flow cookies, want %d", len(b.Cookies), MaxCookieFlows)
	}
	old := b.Copy()
	f, err := b.openCookie(m, "alice")
	if err != nil || f.Next != fmt.Sprintf("/%d", MaxCookieFlows+1) {
		t.Fatalf("newest: %+v %v", f, err)
	}
	// An old copy of the cookies: its newest flow was used, so the return
	// moves on to the next (a concurrent return in another tab).
	if f, err := (browser{old}).openCookie(m, "alice"); err != nil || f.Next != fmt.Sprintf("/%d", MaxCookieFlows) {
		t.Fatalf("old copy: %+v %v", f, err)
	}
	clock.Advance(defaultTTL)
	if _, err := b.openCookie(m, "alice"); !errors.Is(err, ErrExpired) || len(b.Cookies) != 0 {
		t.Fatalf("after the TTL: %v, cookies %v", err, b.Cookies)
	}
}

// TestCookieMisnamedOrAltered_C5: a flow cookie that does not open, or
// that carries another flow than its name says, is deleted and is "no
// flow", never a server error.
func TestCookieMisnamedOrAltered_C5(t *testing.T) {
	m, _ := newTestManager(t, []KeyPair{testKeys})
	b := browser{testkit.NewBrowser()}
	b.setCookie(t, m, "alice", "/a")
	for name, v := range b.Cookies {
		delete(b.Cookies, name)
		b.Cookies[cookieName+"-AAAAAAAA"] = v
		b.Cookies[name] = v[:len(v)-2] + "AA"
	}
	if _, err := b.openCookie(m, "alice"); !errors.Is(err, ErrNoFlow) || len(b.Cookies) != 0 {
		t.Fatalf("%v, cookies %v", err, b.Cookies)
	}
}
