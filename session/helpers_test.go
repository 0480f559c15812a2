package session

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/sessions"
)

// testKeys is a fixed key pair: tests never use random keys either.
var testKeys = KeyPair{Hash: bytes.Repeat([]byte{0x11}, 32), Block: bytes.Repeat([]byte{0x22}, 32)}

// fakeClock is an injected clock that only moves when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newTestStore(t testing.TB, keys ...KeyPair) *sessions.CookieStore {
	t.Helper()
	if len(keys) == 0 {
		keys = []KeyPair{testKeys}
	}
	s, err := NewCookieStore(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// newTestManager returns a Manager on a fresh cookie store and a fake clock.
func newTestManager(t testing.TB, opts ...Option) (*Manager, *fakeClock) {
	t.Helper()
	clock := newFakeClock()
	m, err := New(newTestStore(t), append([]Option{WithClock(clock.Now)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return m, clock
}

// browser carries cookies between direct handler calls, like a cookie jar.
type browser struct {
	cookies map[string]string
	last    *http.Response // the last response, for header checks
}

func newBrowser() *browser { return &browser{cookies: map[string]string{}} }

// copy returns a second browser holding the same cookies: an old copy.
func (b *browser) copy() *browser {
	c := newBrowser()
	for k, v := range b.cookies {
		c.cookies[k] = v
	}
	return c
}

func (b *browser) request() *http.Request {
	r := httptest.NewRequest(http.MethodGet, "https://app.example/connections/return", nil)
	for name, v := range b.cookies {
		r.AddCookie(&http.Cookie{Name: name, Value: v})
	}
	return r
}

func (b *browser) keep(rec *httptest.ResponseRecorder) {
	b.last = rec.Result()
	for _, c := range b.last.Cookies() {
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c.Value
		}
	}
}

func (b *browser) begin(t testing.TB, m *Manager, p Params) Flow {
	t.Helper()
	f, err := b.tryBegin(m, p)
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	return f
}

func (b *browser) tryBegin(m *Manager, p Params) (Flow, error) {
	rec := httptest.NewRecorder()
	f, err := m.Begin(rec, b.request(), p)
	b.keep(rec)
	return f, err
}

func (b *browser) finish(m *Manager, state State) (Flow, error) {
	rec := httptest.NewRecorder()
	f, err := m.Finish(rec, b.request(), state.Reveal())
	b.keep(rec)
	return f, err
}

func (b *browser) finishLatest(m *Manager) (Flow, error) {
	rec := httptest.NewRecorder()
	f, err := m.FinishLatest(rec, b.request())
	b.keep(rec)
	return f, err
}
