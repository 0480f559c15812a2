package flow

import (
	"bytes"
	"errors"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"

	"github.com/handoffkit/handoffkit/internal/testkit"
)

// hostileDefaults is a store whose defaults are everything C1 forbids:
// gorilla's own defaults (SameSite=None, 30 days, no HttpOnly) plus a Domain
// and Partitioned.
func hostileDefaults(t testing.TB) *sessions.CookieStore {
	s := sessions.NewCookieStore(testKeys.Hash, testKeys.Block)
	s.Options.Domain = "example.com"
	s.Options.Partitioned = true
	s.Options.Path = "/app"
	s.Options.HttpOnly = false
	s.Options.Secure = false
	return s
}

func setCookieHeader(t testing.TB, rec *httptest.ResponseRecorder) string {
	t.Helper()
	h := rec.Result().Header.Values("Set-Cookie")
	if len(h) != 1 {
		t.Fatalf("want one Set-Cookie header, got %q", h)
	}
	return h[0]
}

func TestCookieAttributes_C1(t *testing.T) {
	tests := []struct {
		name      string
		store     func(testing.TB) *sessions.CookieStore
		opts      []Option
		wantName  string
		wantAttrs []string
		notAttrs  []string
	}{
		{"default", func(t testing.TB) *sessions.CookieStore { return newTestStore(t) }, nil,
			"__Host-handoffkit-flow", []string{"Path=/", "Max-Age=600", "HttpOnly", "Secure", "SameSite=Lax"},
			[]string{"Domain", "Partitioned", "SameSite=None"}},
		{"hostile store defaults overridden", hostileDefaults, nil,
			"__Host-handoffkit-flow", []string{"Path=/", "Max-Age=600", "HttpOnly", "Secure", "SameSite=Lax"},
			[]string{"Domain", "Partitioned", "SameSite=None", "Path=/app", "Max-Age=2592000"}},
		{"custom TTL rounds up to seconds", hostileDefaults, []Option{WithTTL(90*time.Second + time.Millisecond)},
			"__Host-handoffkit-flow", []string{"Path=/", "Max-Age=91", "HttpOnly", "Secure", "SameSite=Lax"},
			[]string{"Domain"}},
		{"insecure development cookies", hostileDefaults, []Option{WithInsecureCookies()},
			"handoffkit-flow", []string{"Path=/", "Max-Age=600", "HttpOnly", "SameSite=Lax"},
			[]string{"Secure", "Domain", "Partitioned"}},
		{"custom name", newTestStoreT, []Option{WithCookieName("__Host-flows")},
			"__Host-flows", []string{"Path=/", "Secure", "HttpOnly", "SameSite=Lax"}, []string{"Domain"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := New(tc.store(t), tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			b := newBrowser()
			rec := httptest.NewRecorder()
			f, err := m.Begin(rec, b.request(), testParams)
			if err != nil {
				t.Fatal(err)
			}
			checkAttrs(t, setCookieHeader(t, rec), tc.wantName, tc.wantAttrs, tc.notAttrs)
			b.Keep(rec)
			b.begin(t, m, testParams) // keep one flow so the next save is a rewrite

			rec = httptest.NewRecorder()
			if _, err := m.Finish(rec, b.request(), f.State.Reveal()); err != nil {
				t.Fatal(err)
			}
			checkAttrs(t, setCookieHeader(t, rec), tc.wantName, tc.wantAttrs, tc.notAttrs)
		})
	}
}

func newTestStoreT(t testing.TB) *sessions.CookieStore { return newTestStore(t) }

func checkAttrs(t testing.TB, header, name string, want, not []string) {
	t.Helper()
	if !strings.HasPrefix(header, name+"=") {
		t.Errorf("Set-Cookie %q: want name %s", header, name)
	}
	testkit.CheckCookieAttrs(t, header, want, not)
}

func TestFinishingLastFlowDeletesCookie_C1(t *testing.T) {
	m, err := New(hostileDefaults(t))
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser()
	f := b.begin(t, m, testParams)
	rec := httptest.NewRecorder()
	if _, err := m.Finish(rec, b.request(), f.State.Reveal()); err != nil {
		t.Fatal(err)
	}
	checkAttrs(t, setCookieHeader(t, rec), DefaultCookieName,
		[]string{"Path=/", "Max-Age=0", "HttpOnly", "Secure", "SameSite=Lax"}, []string{"Domain", "Partitioned"})
}

func TestNewValidatesOptions(t *testing.T) {
	store := newTestStore(t)
	tests := []struct {
		name  string
		store sessions.Store
		opts  []Option
	}{
		{"nil store", nil, nil},
		{"insecure with __Host- name", store, []Option{WithInsecureCookies(), WithCookieName("__Host-x")}},
		{"insecure with __Host- name, options reversed", store, []Option{WithCookieName("__Host-x"), WithInsecureCookies()}},
		{"insecure with __Secure- name", store, []Option{WithInsecureCookies(), WithCookieName("__Secure-x")}},
		{"name with space", store, []Option{WithCookieName("a b")}},
		{"name with semicolon", store, []Option{WithCookieName("a;b")}},
		{"zero TTL", store, []Option{WithTTL(0)}},
		{"negative TTL", store, []Option{WithTTL(-time.Minute)}},
		{"TTL over an hour", store, []Option{WithTTL(MaxTTL + time.Second)}},
		{"zero max flows", store, []Option{WithMaxFlows(0)}},
		{"too many max flows", store, []Option{WithMaxFlows(MaxFlowsLimit + 1)}},
		{"nil clock", store, []Option{WithClock(nil)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := New(tc.store, tc.opts...)
			if err == nil || m != nil {
				t.Fatalf("New = %v, %v; want an error", m, err)
			}
			if !strings.HasPrefix(err.Error(), "session: New: ") {
				t.Fatalf("error %q lacks the prefix", err)
			}
		})
	}
	m, err := New(store, WithInsecureCookies())
	if err != nil || m.CookieName() != DefaultInsecureCookieName {
		t.Fatalf("insecure default name: %v, %v", m, err)
	}
	m, err = New(store, WithInsecureCookies(), WithCookieName("dev-flow"))
	if err != nil || m.CookieName() != "dev-flow" {
		t.Fatalf("insecure custom name: %v, %v", m, err)
	}
}

// codecMaxAge reads a securecookie codec's unexported max age.
func codecMaxAge(t testing.TB, c securecookie.Codec) int64 {
	t.Helper()
	return reflect.ValueOf(c).Elem().FieldByName("maxAge").Int()
}

func TestLifetimeBoundsCodecs_C2(t *testing.T) {
	store := newTestStore(t)
	if store.Options.MaxAge != 600 || codecMaxAge(t, store.Codecs[0]) != 600 {
		t.Fatalf("NewCookieStore: MaxAge %d, codec %d; want 600", store.Options.MaxAge, codecMaxAge(t, store.Codecs[0]))
	}
	if _, err := New(store, WithTTL(20*time.Minute)); err != nil {
		t.Fatal(err)
	}
	for i, c := range store.Codecs {
		if got := codecMaxAge(t, c); got != 1200 {
			t.Fatalf("codec %d max age %d, want 1200", i, got)
		}
	}
	if store.Options.MaxAge != 1200 {
		t.Fatalf("store MaxAge %d, want 1200", store.Options.MaxAge)
	}
}

func TestKeyRotation_C3(t *testing.T) {
	oldPair := testKeys
	newPair := KeyPair{Hash: bytes.Repeat([]byte{0x33}, 64), Block: bytes.Repeat([]byte{0x44}, 16)}

	before, err := New(newTestStore(t, oldPair))
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser()
	f1 := b.begin(t, before, Params{Next: "/1"})
	f2 := b.begin(t, before, Params{Next: "/2"})
	f3 := b.begin(t, before, Params{Next: "/3"})
	written := b.copy()

	during, err := New(newTestStore(t, newPair, oldPair))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.finish(during, f1.State); err != nil {
		t.Fatalf("cookie written with the old pair, read with [new, old]: %v", err)
	}
	// That Finish rewrote the cookie with the new pair: only the new pair is
	// needed from now on.
	after, err := New(newTestStore(t, newPair))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.finish(after, f2.State); err != nil {
		t.Fatalf("cookie rewritten with the new pair, read with [new]: %v", err)
	}
	if _, err := written.finish(after, f3.State); !errors.Is(err, ErrNoFlow) {
		t.Fatalf("cookie written with a removed pair: %v, want ErrNoFlow", err)
	}
}

func TestNewCookieStoreKeys_C3(t *testing.T) {
	k := func(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }
	tests := []struct {
		name string
		keys []KeyPair
		ok   bool
	}{
		{"32/32", []KeyPair{{k(1, 32), k(2, 32)}}, true},
		{"64/16", []KeyPair{{k(1, 64), k(2, 16)}}, true},
		{"32/24 then old 64/32", []KeyPair{{k(1, 32), k(2, 24)}, {k(3, 64), k(4, 32)}}, true},
		{"no keys", nil, false},
		{"short hash", []KeyPair{{k(1, 16), k(2, 32)}}, false},
		{"odd hash", []KeyPair{{k(1, 48), k(2, 32)}}, false},
		{"nil block", []KeyPair{{k(1, 32), nil}}, false},
		{"odd block", []KeyPair{{k(1, 32), k(2, 20)}}, false},
		{"zero hash", []KeyPair{{k(0, 32), k(2, 32)}}, false},
		{"zero block", []KeyPair{{k(1, 32), k(0, 32)}}, false},
		{"block repeats hash", []KeyPair{{k(1, 32), k(1, 32)}}, false},
		{"bad old pair", []KeyPair{{k(1, 32), k(2, 32)}, {k(3, 31), k(4, 32)}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewCookieStore(tc.keys...)
			if tc.ok != (err == nil) {
				t.Fatalf("NewCookieStore = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "session: NewCookieStore: ") {
				t.Fatalf("error %q lacks the prefix", err)
			}
			if err == nil && len(s.Codecs) != len(tc.keys) {
				t.Fatalf("%d codecs for %d pairs", len(s.Codecs), len(tc.keys))
			}
		})
	}
}

func TestNewCookieStoreCopiesKeys_C3(t *testing.T) {
	pair := KeyPair{Hash: bytes.Repeat([]byte{5}, 32), Block: bytes.Repeat([]byte{6}, 32)}
	m, err := New(mustStore(t, pair))
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser()
	f := b.begin(t, m, testParams)
	pair.Hash[0], pair.Block[0] = 0, 0 // the caller wipes its copy
	if _, err := b.finish(m, f.State); err != nil {
		t.Fatalf("store used the caller's key slices: %v", err)
	}
}

func mustStore(t testing.TB, keys ...KeyPair) *sessions.CookieStore { return newTestStore(t, keys...) }

// TestCookieSize_C4 keeps the flow cookie well under the 4096-byte limit.
func TestCookieSize_C4(t *testing.T) {
	typical := Params{Intent: "connections", Next: "/settings/connections?tab=integrations&from=dashboard",
		ReturnURI: "https://app.example.com/connections/return"}
	largest := Params{Intent: strings.Repeat("i", MaxIntentLength), Next: "/" + strings.Repeat("n", MaxNextLength-1),
		ReturnURI: "https://a.example/" + strings.Repeat("r", MaxReturnURILength-len("https://a.example/"))}
	tests := []struct {
		name     string
		maxFlows int
		begins   int
		p        Params
		limit    int
	}{
		{"default max flows, typical params, with superseded tags", DefaultMaxFlows, 2 * DefaultMaxFlows, typical, 2048},
		{"flows limit, typical params", MaxFlowsLimit, 2 * MaxFlowsLimit, typical, 3600},
		{"flows limit, largest params", MaxFlowsLimit, 2 * MaxFlowsLimit, largest, 3600},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, _ := newTestManager(t, WithMaxFlows(tc.maxFlows))
			b := newBrowser()
			var flows []Flow
			for range tc.begins {
				flows = append(flows, b.begin(t, m, tc.p))
			}
			h := b.Last.Header.Get("Set-Cookie")
			value, _, _ := strings.Cut(h, ";")
			t.Logf("%d flows begun: cookie name=value %d bytes", tc.begins, len(value))
			if len(value) > tc.limit {
				t.Fatalf("cookie is %d bytes, want at most %d", len(value), tc.limit)
			}
			if _, err := b.finish(m, flows[len(flows)-1].State); err != nil {
				t.Fatalf("newest flow: %v", err)
			}
			if _, err := b.finish(m, flows[0].State); !errors.Is(err, ErrSuperseded) && !errors.Is(err, ErrUnknownState) {
				t.Fatalf("oldest flow: %v", err)
			}
		})
	}
}

func TestStoredValueIsCompactString_C4(t *testing.T) {
	m, _ := newTestManager(t)
	b := newBrowser()
	b.begin(t, m, testParams)
	r := b.request()
	s, err := newTestStore(t).Get(r, m.CookieName())
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Values) != 1 {
		t.Fatalf("session holds %d values, want 1", len(s.Values))
	}
	v, ok := s.Values[valueKey].(string)
	if !ok || !strings.HasPrefix(v, formatVersion+"\nf ") || len(v) > 200 {
		t.Fatalf("stored value %T %q: want one short string in the line format", s.Values[valueKey], v)
	}
}
