package flow

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gorilla/sessions"

	"github.com/handoffkit/handoffkit/internal/testkit"
)

// testKeys is a fixed key pair: tests never use random keys either.
var testKeys = KeyPair{Hash: bytes.Repeat([]byte{0x11}, 32), Block: bytes.Repeat([]byte{0x22}, 32)}

// newFakeClock returns an injected clock that only moves when told.
func newFakeClock() *testkit.Clock {
	return testkit.NewClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
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
func newTestManager(t testing.TB, opts ...Option) (*Manager, *testkit.Clock) {
	t.Helper()
	clock := newFakeClock()
	m, err := New(newTestStore(t), append([]Option{WithClock(clock.Now)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return m, clock
}

// browser carries cookies between direct handler calls, like a cookie jar.
type browser struct{ *testkit.Browser }

func newBrowser() *browser { return &browser{testkit.NewBrowser()} }

// copy returns a second browser holding the same cookies: an old copy.
func (b *browser) copy() *browser { return &browser{b.Copy()} }

// request returns a return-endpoint request carrying the browser's cookies.
func (b *browser) request() *http.Request {
	return b.Request(http.MethodGet, "https://app.example/connections/return")
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
	b.Keep(rec)
	return f, err
}

func (b *browser) finish(m *Manager, state State) (Flow, error) {
	rec := httptest.NewRecorder()
	f, err := m.Finish(rec, b.request(), state.Reveal())
	b.Keep(rec)
	return f, err
}

func (b *browser) finishLatest(m *Manager) (Flow, error) {
	rec := httptest.NewRecorder()
	f, err := m.FinishLatest(rec, b.request())
	b.Keep(rec)
	return f, err
}
