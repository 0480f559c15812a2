package flow

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/sessions"
	"github.com/handoffkit/handoffkit/internal/replay"
)

var testParams = Params{Intent: "connections", Next: "/settings/connections?tab=google", ReturnURI: "https://app.example/connections/return"}

func TestBeginFinishRoundTrip(t *testing.T) {
	m, clock := newTestManager(t)
	b := newBrowser()
	begun := b.begin(t, m, testParams)
	if len(begun.State.Reveal()) != StateLength {
		t.Fatalf("state length %d", len(begun.State.Reveal()))
	}
	if !begun.IssuedAt.Equal(clock.Now()) || !begun.ExpiresAt.Equal(clock.Now().Add(DefaultTTL)) {
		t.Fatalf("IssuedAt %v ExpiresAt %v, want %v and +%v", begun.IssuedAt, begun.ExpiresAt, clock.Now(), DefaultTTL)
	}
	clock.Advance(time.Minute)
	got, err := b.finish(m, begun.State)
	if err != nil {
		t.Fatalf("Finish: %v", err)
	}
	if got != begun {
		t.Fatalf("Finish returned %+v, want %+v", got, begun)
	}
	if got.Intent != testParams.Intent || got.Next != testParams.Next || got.ReturnURI != testParams.ReturnURI {
		t.Fatalf("params not kept: %#v", got)
	}
	if len(b.Cookies) != 0 {
		t.Fatalf("the last flow finished but the cookie remains: %v", b.Cookies)
	}
}

func TestTwoTabsFinishInEitherOrder_B5(t *testing.T) {
	for _, order := range []string{"first-begun first", "second-begun first"} {
		t.Run(order, func(t *testing.T) {
			m, _ := newTestManager(t)
			b := newBrowser()
			tab1 := b.begin(t, m, Params{Intent: "connections", Next: "/tab1"})
			tab2 := b.begin(t, m, Params{Intent: "connections", Next: "/tab2"})
			flows := []Flow{tab1, tab2}
			if order == "second-begun first" {
				flows = []Flow{tab2, tab1}
			}
			for _, want := range flows {
				got, err := b.finish(m, want.State)
				if err != nil {
					t.Fatalf("finish %s: %v", want.Next, err)
				}
				if got.Next != want.Next {
					t.Fatalf("finished %s, want %s", got.Next, want.Next)
				}
			}
		})
	}
}

func TestSameStateTwice_B4(t *testing.T) {
	m, _ := newTestManager(t)
	b := newBrowser()
	other := b.begin(t, m, testParams) // keeps the cookie alive after the first finish
	f := b.begin(t, m, testParams)
	if _, err := b.finish(m, f.State); err != nil {
		t.Fatal(err)
	}
	if _, err := b.finish(m, f.State); !errors.Is(err, ErrUnknownState) {
		t.Fatalf("second Finish with the same state = %v, want ErrUnknownState", err)
	}
	if _, err := b.finish(m, other.State); err != nil {
		t.Fatalf("the other flow broke: %v", err)
	}
}

// TestOldCookieCopyReplayed_B4 pins what the replay guard is for: a copy of
// the cookie saved before the return still lists the flow.
func TestOldCookieCopyReplayed_B4(t *testing.T) {
	t.Run("memory guard", func(t *testing.T) {
		m, _ := newTestManager(t)
		b := newBrowser()
		f := b.begin(t, m, testParams)
		old := b.copy()
		if _, err := b.finish(m, f.State); err != nil {
			t.Fatal(err)
		}
		if _, err := old.finish(m, f.State); !errors.Is(err, ErrReplayed) {
			t.Fatalf("old cookie copy: %v, want ErrReplayed", err)
		}
	})
	t.Run("guard shared by two instances", func(t *testing.T) {
		guard := replay.New(nil, 0)
		a, _ := newTestManager(t, WithReplayGuard(guard))
		bm, _ := newTestManager(t, WithReplayGuard(guard))
		br := newBrowser()
		f := br.begin(t, a, testParams)
		old := br.copy()
		if _, err := br.finish(a, f.State); err != nil {
			t.Fatal(err)
		}
		if _, err := old.finish(bm, f.State); !errors.Is(err, ErrReplayed) {
			t.Fatalf("old cookie copy on the other instance: %v, want ErrReplayed", err)
		}
	})
	t.Run("no guard: documented unsafe, the copy finishes again", func(t *testing.T) {
		m, _ := newTestManager(t, WithReplayGuard(nil))
		b := newBrowser()
		f := b.begin(t, m, testParams)
		old := b.copy()
		if _, err := b.finish(m, f.State); err != nil {
			t.Fatal(err)
		}
		if _, err := old.finish(m, f.State); err != nil {
			t.Fatalf("without a guard the old copy finishes again (documented), got %v", err)
		}
		if _, err := b.finish(m, f.State); !errors.Is(err, ErrNoFlow) {
			t.Fatalf("the browser's own cookie (deleted by Finish): %v, want ErrNoFlow", err)
		}
	})
}

func TestAttackerStateWithVictimCookie_B2(t *testing.T) {
	m, _ := newTestManager(t)
	victim, attacker := newBrowser(), newBrowser()
	victim.begin(t, m, testParams)
	af := attacker.begin(t, m, testParams)
	if _, err := victim.finish(m, af.State); !errors.Is(err, ErrUnknownState) {
		t.Fatalf("attacker's state with the victim's cookie: %v, want ErrUnknownState", err)
	}
	if _, err := attacker.finish(m, af.State); err != nil {
		t.Fatalf("the attacker's own flow is unaffected: %v", err)
	}
}

func TestExpiry_B4(t *testing.T) {
	tests := []struct {
		name    string
		ttl     time.Duration
		elapsed time.Duration
		want    error
	}{
		{"11 minutes with the 10-minute default", 0, 11 * time.Minute, ErrExpired},
		{"exactly the TTL", 0, DefaultTTL, ErrExpired},
		{"just inside the TTL", 0, DefaultTTL - time.Millisecond, nil},
		{"custom TTL", 2 * time.Minute, 3 * time.Minute, ErrExpired},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var opts []Option
			if tc.ttl != 0 {
				opts = append(opts, WithTTL(tc.ttl))
			}
			m, clock := newTestManager(t, opts...)
			b := newBrowser()
			f := b.begin(t, m, testParams)
			clock.Advance(tc.elapsed)
			_, err := b.finish(m, f.State)
			if tc.want == nil && err != nil || !errors.Is(err, tc.want) {
				t.Fatalf("Finish after %v = %v, want %v", tc.elapsed, err, tc.want)
			}
			if tc.want != nil {
				if _, err := b.finish(m, f.State); !errors.Is(err, ErrNoFlow) {
					t.Fatalf("the expired flow was not removed: %v", err)
				}
			}
		})
	}
}

func TestExpiredFlowLeavesFreshOne_B4(t *testing.T) {
	m, clock := newTestManager(t)
	b := newBrowser()
	old := b.begin(t, m, Params{Next: "/old"})
	clock.Advance(DefaultTTL - time.Second)
	fresh := b.begin(t, m, Params{Next: "/fresh"})
	clock.Advance(time.Second)
	if _, err := b.finish(m, old.State); !errors.Is(err, ErrExpired) {
		t.Fatalf("old flow: %v, want ErrExpired", err)
	}
	if _, err := b.finish(m, old.State); !errors.Is(err, ErrUnknownState) {
		t.Fatalf("old flow again: %v, want ErrUnknownState", err)
	}
	if got, err := b.finish(m, fresh.State); err != nil || got.Next != "/fresh" {
		t.Fatalf("fresh flow: %v", err)
	}
}

func TestBadCookieIsNoFlow_C5(t *testing.T) {
	m, _ := newTestManager(t)
	tests := []struct {
		name   string
		mangle func(b *browser)
	}{
		{"no cookie", func(b *browser) { clear(b.Cookies) }},
		{"tampered", func(b *browser) {
			v := []byte(b.Cookies[m.CookieName()])
			v[len(v)/2] ^= 1
			b.Cookies[m.CookieName()] = string(v)
		}},
		{"truncated", func(b *browser) { b.Cookies[m.CookieName()] = b.Cookies[m.CookieName()][:40] }},
		{"garbage", func(b *browser) { b.Cookies[m.CookieName()] = "not-a-cookie" }},
		{"under another name", func(b *browser) {
			b.Cookies["__Host-other"] = b.Cookies[m.CookieName()]
			delete(b.Cookies, m.CookieName())
		}},
		{"oversize", func(b *browser) { b.Cookies[m.CookieName()] = strings.Repeat("A", 5000) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBrowser()
			f := b.begin(t, m, testParams)
			tc.mangle(b)
			if _, err := b.finish(m, f.State); !errors.Is(err, ErrNoFlow) {
				t.Fatalf("Finish = %v, want ErrNoFlow", err)
			}
			if strings.Contains(fmt.Sprint(b.Last.Header), "securecookie") {
				t.Fatal("decode error text reached the response")
			}
			if _, err := b.finishLatest(m); !errors.Is(err, ErrNoFlow) {
				t.Fatalf("FinishLatest = %v, want ErrNoFlow", err)
			}
			// Begin starts fresh on a bad cookie.
			g := b.begin(t, m, testParams)
			if _, err := b.finish(m, g.State); err != nil {
				t.Fatalf("flow begun over a bad cookie: %v", err)
			}
		})
	}
}

func TestSuperseded_B5(t *testing.T) {
	m, clock := newTestManager(t)
	b := newBrowser()
	var flows []Flow
	for i := range DefaultMaxFlows + 1 {
		flows = append(flows, b.begin(t, m, Params{Intent: "connections", Next: fmt.Sprintf("/tab%d", i)}))
		clock.Advance(time.Second)
	}
	if _, err := b.finish(m, flows[0].State); !errors.Is(err, ErrSuperseded) {
		t.Fatalf("the oldest of %d flows: %v, want ErrSuperseded", len(flows), err)
	}
	if _, err := b.finish(m, flows[0].State); !errors.Is(err, ErrUnknownState) {
		t.Fatalf("superseded twice: %v, want ErrUnknownState", err)
	}
	for _, f := range flows[1:] {
		got, err := b.finish(m, f.State)
		if err != nil || got.Next != f.Next {
			t.Fatalf("flow %s: %v", f.Next, err)
		}
	}

	t.Run("superseded flow past its TTL", func(t *testing.T) {
		m, clock := newTestManager(t, WithMaxFlows(1))
		b := newBrowser()
		first := b.begin(t, m, testParams)
		second := b.begin(t, m, testParams)
		clock.Advance(DefaultTTL)
		if _, err := b.finish(m, first.State); !errors.Is(err, ErrExpired) {
			t.Fatalf("superseded flow after its TTL: %v, want ErrExpired", err)
		}
		if _, err := b.finish(m, second.State); !errors.Is(err, ErrExpired) {
			t.Fatalf("second flow after its TTL: %v, want ErrExpired", err)
		}
	})
}

func TestMalformedStateRejectedBeforeLookup_B3(t *testing.T) {
	valid := strings.Repeat("A", StateLength)
	tests := []struct{ name, state string }{
		{"empty", ""},
		{"short", valid[1:]},
		{"long", valid + "A"},
		{"oversize", strings.Repeat("A", 10000)},
		{"plus", "+" + valid[1:]},
		{"slash", "/" + valid[1:]},
		{"padding", valid[1:] + "="},
		{"space", " " + valid[1:]},
		{"NUL", "\x00" + valid[1:]},
		{"non-ASCII", "é" + valid[2:]},
		{"percent-encoded", "%41" + valid[3:]},
	}
	store := &countingStore{Store: newTestStore(t)}
	m, err := New(store)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			if _, err := m.Finish(rec, newBrowser().request(), tc.state); !errors.Is(err, ErrMalformedState) {
				t.Fatalf("Finish(%q) = %v, want ErrMalformedState", tc.state, err)
			}
			if store.gets != 0 || len(rec.Result().Cookies()) != 0 {
				t.Fatalf("the cookie was read (%d) or written before the state was checked", store.gets)
			}
		})
	}
}

type countingStore struct {
	sessions.Store
	gets int
}

func (s *countingStore) Get(r *http.Request, name string) (*sessions.Session, error) {
	s.gets++
	return s.Store.Get(r, name)
}

func TestFinishLatest(t *testing.T) {
	t.Run("most recent unexpired flow", func(t *testing.T) {
		m, clock := newTestManager(t)
		b := newBrowser()
		older := b.begin(t, m, Params{Next: "/older"})
		clock.Advance(time.Minute)
		b.begin(t, m, Params{Next: "/newer"})
		got, err := b.finishLatest(m)
		if err != nil || got.Next != "/newer" {
			t.Fatalf("FinishLatest = %v, %v; want /newer", got.Next, err)
		}
		got, err = b.finishLatest(m)
		if err != nil || got.State != older.State {
			t.Fatalf("second FinishLatest = %v, %v; want /older", got.Next, err)
		}
		if _, err := b.finishLatest(m); !errors.Is(err, ErrNoFlow) {
			t.Fatalf("third FinishLatest = %v, want ErrNoFlow", err)
		}
	})
	t.Run("skips expired flows", func(t *testing.T) {
		m, clock := newTestManager(t)
		b := newBrowser()
		b.begin(t, m, Params{Next: "/a"})
		clock.Advance(11 * time.Minute)
		if _, err := b.finishLatest(m); !errors.Is(err, ErrExpired) {
			t.Fatalf("FinishLatest after 11 minutes = %v, want ErrExpired", err)
		}
		if _, err := b.finishLatest(m); !errors.Is(err, ErrNoFlow) {
			t.Fatalf("expired flows were not removed: %v", err)
		}
	})
	t.Run("old cookie copy", func(t *testing.T) {
		m, _ := newTestManager(t)
		b := newBrowser()
		b.begin(t, m, testParams)
		old := b.copy()
		if _, err := b.finishLatest(m); err != nil {
			t.Fatal(err)
		}
		if _, err := old.finishLatest(m); !errors.Is(err, ErrReplayed) {
			t.Fatalf("old cookie copy: %v, want ErrReplayed", err)
		}
	})
}

func TestInvalidParams(t *testing.T) {
	m, _ := newTestManager(t)
	for _, p := range []Params{
		{Intent: strings.Repeat("i", MaxIntentLength+1)},
		{Next: "/" + strings.Repeat("n", MaxNextLength)},
		{ReturnURI: "https://a.example/" + strings.Repeat("r", MaxReturnURILength)},
		{Next: "/a b"},
		{Next: "/a\nb"},
		{ReturnURI: "https://app.example/é"},
		{Intent: "con nections"},
	} {
		rec := httptest.NewRecorder()
		if _, err := m.Begin(rec, newBrowser().request(), p); !errors.Is(err, ErrInvalidParams) {
			t.Errorf("Begin(%q) = %v, want ErrInvalidParams", p, err)
		}
		if len(rec.Result().Cookies()) != 0 {
			t.Errorf("Begin(%q) wrote a cookie", p)
		}
	}
}

func TestBeginTwiceInOneRequest(t *testing.T) {
	m, _ := newTestManager(t)
	b := newBrowser()
	r := b.request()
	rec := httptest.NewRecorder()
	f1, err1 := m.Begin(rec, r, Params{Next: "/1"})
	f2, err2 := m.Begin(rec, r, Params{Next: "/2"})
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	b.Keep(rec) // the last Set-Cookie wins, as in a browser
	for _, f := range []Flow{f1, f2} {
		if _, err := b.finish(m, f.State); err != nil {
			t.Fatalf("flow %s: %v", f.Next, err)
		}
	}
}

type failingStore struct{ sessions.Store }

var errDiskFull = errors.New("disk full")

func (failingStore) Save(*http.Request, http.ResponseWriter, *sessions.Session) error {
	return errDiskFull
}

func TestSaveErrorReturnedWrapped_C4(t *testing.T) {
	m, err := New(failingStore{newTestStore(t)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Begin(httptest.NewRecorder(), newBrowser().request(), testParams)
	if !errors.Is(err, errDiskFull) || !strings.HasPrefix(err.Error(), "session: ") {
		t.Fatalf("Begin = %v, want a wrapped store error", err)
	}
}

type brokenGuard struct{}

var errGuardDown = errors.New("guard down")

func (brokenGuard) Consume(context.Context, string, time.Time) error { return errGuardDown }

func TestGuardErrorFailsClosed_B4(t *testing.T) {
	m, _ := newTestManager(t, WithReplayGuard(brokenGuard{}))
	b := newBrowser()
	f := b.begin(t, m, testParams)
	if _, err := b.finish(m, f.State); !errors.Is(err, errGuardDown) {
		t.Fatalf("Finish = %v, want the guard's error", err)
	}
	if _, err := b.finish(m, f.State); !errors.Is(err, ErrNoFlow) && !errors.Is(err, ErrUnknownState) {
		t.Fatalf("the flow survived a failed guard: %v", err)
	}
}

func TestWorksWithFilesystemStore(t *testing.T) {
	store := sessions.NewFilesystemStore(t.TempDir(), testKeys.Hash, testKeys.Block)
	m, err := New(store, WithClock(newFakeClock().Now))
	if err != nil {
		t.Fatal(err)
	}
	if store.Options.MaxAge != int(DefaultTTL.Seconds()) {
		t.Fatalf("store MaxAge %d, want the TTL", store.Options.MaxAge)
	}
	b := newBrowser()
	f1 := b.begin(t, m, Params{Next: "/1"})
	f2 := b.begin(t, m, Params{Next: "/2"})
	old := b.copy()
	for _, f := range []Flow{f2, f1} {
		if got, err := b.finish(m, f.State); err != nil || got.Next != f.Next {
			t.Fatalf("flow %s: %v", f.Next, err)
		}
	}
	if _, err := old.finish(m, f1.State); err == nil {
		t.Fatal("old cookie copy finished again")
	}
}

// TestSecureFollowsTheCookieOption: Secure reports the flow cookie's Secure
// attribute, which the handlers' flash cookie follows.
func TestSecureFollowsTheCookieOption(t *testing.T) {
	store, err := NewCookieStore(testKeys)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		opts []Option
		want bool
	}{{nil, true}, {[]Option{WithInsecureCookies()}, false}} {
		m, err := New(store, tc.opts...)
		if err != nil {
			t.Fatal(err)
		}
		if m.Secure() != tc.want {
			t.Errorf("Secure() = %v, want %v", m.Secure(), tc.want)
		}
	}
}

// failingGuard refuses every state with its error.
type failingGuard struct{ err error }

func (g failingGuard) Consume(context.Context, string, time.Time) error { return g.err }

// TestGuardFailureIsUnavailable: a guard that cannot answer (a cancelled
// request, a refused command) fails the flow closed as ErrUnavailable, not
// as a replay or an unknown state; a guard's replay and expiry keep their
// meaning.
func TestGuardFailureIsUnavailable(t *testing.T) {
	for _, tc := range []struct {
		guardErr error
		want     error
	}{
		{context.Canceled, ErrUnavailable},
		{errors.New("refused"), ErrUnavailable},
		{ErrReplayed, ErrReplayed},
		{fmt.Errorf("late: %w", ErrExpired), ErrExpired},
	} {
		m, _ := newTestManager(t, WithReplayGuard(failingGuard{tc.guardErr}))
		b := newBrowser()
		f := b.begin(t, m, testParams)
		_, err := b.finish(m, f.State)
		if !errors.Is(err, tc.want) {
			t.Errorf("guard error %v: Finish error %v, want %v", tc.guardErr, err, tc.want)
		}
	}
}
