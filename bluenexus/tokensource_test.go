package bluenexus

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/handoffkit/handoffkit/internal/obsctx"
	"github.com/handoffkit/handoffkit/internal/testkit"
	"github.com/handoffkit/handoffkit/internal/tokentest"
)

// tsHarness is a TokenSource on a memory store, refreshing against a fake
// token endpoint, with the client and the source on one fake clock.
type tsHarness struct {
	ep     *tokentest.Endpoint
	clk    *testkit.Clock
	client *Client
	store  TokenStore
	ts     *TokenSource
	ev     *eventLog
	sleeps *[]time.Duration
}

func newHarness(t *testing.T, opts ...Option) *tsHarness {
	t.Helper()
	h := &tsHarness{ep: tokentest.New(t), clk: testkit.NewClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))}
	h.client = tsClient(t, h.ep.URL, h.clk, opts...)
	h.store = NewMemoryTokenStore()
	h.ts, h.ev, h.sleeps = h.source(t, h.store)
	return h
}

// tsClient is a client of the endpoint at base, on clk.
func tsClient(t *testing.T, base string, clk *testkit.Clock, opts ...Option) *Client {
	t.Helper()
	c, err := NewClient(append([]Option{WithBaseURL(base), WithClientCredentials("my-app", "s3cret")}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	c.now = clk.Now
	t.Cleanup(c.hc.CloseIdleConnections)
	return c
}

// source returns another TokenSource of the harness's client on store,
// with its events and its recorded save pauses (which return at once).
func (h *tsHarness) source(t *testing.T, store TokenStore) (*TokenSource, *eventLog, *[]time.Duration) {
	t.Helper()
	ts, err := NewTokenSource(h.client, store)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	sleeps := new([]time.Duration)
	ts.sleep = func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		*sleeps = append(*sleeps, d)
		mu.Unlock()
		runtime.Gosched()
		return ctx.Err()
	}
	return ts, newEventLog(), sleeps
}

// seed stores a live pair for user as a sign-in would: fresh for 15
// minutes, its refresh token for 7 days.
func (h *tsHarness) seed(t *testing.T, user string) Token {
	t.Helper()
	at, rt := h.ep.Seed()
	tok := Token{AccessToken: AccessToken(at), RefreshToken: RefreshToken(rt), Expiry: h.clk.Now().Add(15 * time.Minute),
		RefreshExpiry: h.clk.Now().Add(7 * 24 * time.Hour)}
	h.put(t, user, "", tok)
	return tok
}

func (h *tsHarness) put(t *testing.T, user string, old RefreshToken, tok Token) {
	t.Helper()
	if old == "" {
		if err := h.store.Save(context.Background(), user, tok); err != nil {
			t.Fatalf("storing the pair: %v", err)
		}
		return
	}
	if ok, err := h.store.CompareAndSwap(context.Background(), user, old, tok); err != nil || !ok {
		t.Fatalf("storing the pair: %v %v", ok, err)
	}
}

// stored returns the user's stored pair.
func (h *tsHarness) stored(t *testing.T, user string) Token {
	t.Helper()
	tok, ok, err := h.store.Load(context.Background(), user)
	if err != nil || !ok {
		t.Fatalf("Load: %v %v", ok, err)
	}
	return tok
}

// noSecret fails the test if err shows a token in any format.
func (h *tsHarness) noSecret(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		h.ep.CheckNoSecret(t, "error", err.Error()+fmt.Sprintf(" %v %+v %#v", err, err, err))
	}
}

// eventLog counts a TokenSource's events.
// eventLog counts the events of the calls made with its ctx, as a kit
// does.
type eventLog struct {
	ctx context.Context
	mu  sync.Mutex
	n   map[string]int
	ch  chan string
}

func newEventLog() *eventLog {
	ev := &eventLog{n: map[string]int{}, ch: make(chan string, 100000)}
	ev.ctx = obsctx.WithTokens(context.Background(), &obsctx.Tokens{Event: func(e string) {
		ev.mu.Lock()
		ev.n[e]++
		ev.mu.Unlock()
		select {
		case ev.ch <- e:
		default:
		}
	}})
	return ev
}

func (ev *eventLog) count(e string) int {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	return ev.n[e]
}

// await waits for event e (a refresh that no caller waits for any more).
func (ev *eventLog) await(t *testing.T, e string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case got := <-ev.ch:
			if got == e {
				return
			}
		case <-deadline:
			t.Fatalf("no %q event", e)
		}
	}
}

func TestNewTokenSourceValidates(t *testing.T) {
	noCreds, err := NewClient()
	if err != nil {
		t.Fatal(err)
	}
	withCreds, err := NewClient(WithClientCredentials("app", ""))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		c     *Client
		store TokenStore
		want  string
	}{
		{"nil client", nil, NewMemoryTokenStore(), "nil client"},
		{"no credentials", noCreds, NewMemoryTokenStore(), "WithClientCredentials"},
		{"nil store", withCreds, nil, "nil store"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts, err := NewTokenSource(tc.c, tc.store)
			if err == nil || ts != nil || !strings.HasPrefix(err.Error(), "bluenexus: NewTokenSource: ") ||
				!strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewTokenSource = %v, %v", ts, err)
			}
		})
	}
	if _, err := NewTokenSource(withCreds, NewMemoryTokenStore()); err != nil {
		t.Fatal(err)
	}
}

// TestE4_FreshTokenNoRefresh: 1,000 calls with a fresh token make no token
// call and read the store once.
func TestE4_FreshTokenNoRefresh(t *testing.T) {
	h := newHarness(t)
	tok := h.seed(t, "u")
	loads := &countingStore{TokenStore: h.store}
	ts, ev, _ := h.source(t, loads)
	for range 1000 {
		got, err := ts.Token(ev.ctx, "u")
		if err != nil || got != tok.AccessToken {
			t.Fatalf("Token = %v, %v", got == tok.AccessToken, err)
		}
	}
	if n := h.ep.Calls(); n != 0 {
		t.Errorf("%d token-endpoint calls for a fresh token, want 0", n)
	}
	if n := loads.loads.Load(); n != 1 {
		t.Errorf("%d store loads, want 1 (then the cache)", n)
	}
	if n := ev.count(eventCached); n != 1000 {
		t.Errorf("%d cached events, want 1000", n)
	}
}

// TestE4_RefreshSkew: the token is refreshed when it expires within 60 s
// at the moment of use, not before.
func TestE4_RefreshSkew(t *testing.T) {
	for _, tc := range []struct {
		left      time.Duration // of the access token's life
		wantCalls int64
	}{
		{61 * time.Second, 0},
		{60 * time.Second, 1},
		{time.Second, 1},
		{-time.Hour, 1},
	} {
		t.Run(tc.left.String(), func(t *testing.T) {
			h := newHarness(t)
			tok := h.seed(t, "u")
			h.clk.Set(tok.Expiry.Add(-tc.left))
			got, err := h.ts.Token(h.ev.ctx, "u")
			if err != nil {
				t.Fatal(err)
			}
			if n := h.ep.Calls(); n != tc.wantCalls {
				t.Fatalf("%d calls, want %d", n, tc.wantCalls)
			}
			if (got == tok.AccessToken) != (tc.wantCalls == 0) {
				t.Fatalf("got the seeded token: %v", got == tok.AccessToken)
			}
			if st := h.stored(t, "u"); st.AccessToken != got {
				t.Fatal("the token handed out is not the stored one")
			}
		})
	}
}

// TestE1_OneRefreshFor100Callers: 100 goroutines asking for the token at
// the moment it expires share one token call, and all get the new token.
func TestE1_OneRefreshFor100Callers(t *testing.T) {
	h := newHarness(t)
	tok := h.seed(t, "u")
	loads := &countingStore{TokenStore: h.store}
	ts, ev, _ := h.source(t, loads)
	h.clk.Set(tok.Expiry)
	arrived, release := h.ep.Hold()
	defer release()
	got := runConcurrently(t, 100, func() (AccessToken, error) { return ts.Token(ev.ctx, "u") }, arrived, release)
	checkOneNewToken(t, h, got, tok)
	if n := ev.count(eventRefreshed); n != 1 {
		t.Errorf("%d refreshed events, want 1", n)
	}
	// The callers shared one flight: one load, then the lease (not one
	// per caller, as a lock convoy would make).
	if n := loads.loads.Load(); n != 1 {
		t.Errorf("%d store loads, want 1", n)
	}
}

// runConcurrently runs n calls of f at once, holding the token endpoint
// until all have started, the first refresh has arrived and every wait
// has returned.
func runConcurrently(t *testing.T, n int, f func() (AccessToken, error), arrived <-chan struct{}, release func(), waits ...func()) []AccessToken {
	t.Helper()
	got := make([]AccessToken, n)
	errs := make([]error, n)
	var started, done sync.WaitGroup
	for i := range n {
		started.Add(1)
		done.Go(func() {
			started.Done()
			got[i], errs[i] = f()
		})
	}
	started.Wait()
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("no refresh reached the endpoint")
	}
	for _, w := range waits {
		w()
	}
	release()
	done.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return got
}

// checkOneNewToken: exactly one token call, no replay, every caller got the
// new stored token.
func checkOneNewToken(t *testing.T, h *tsHarness, got []AccessToken, old Token) {
	t.Helper()
	if n := h.ep.Calls(); n != 1 {
		t.Errorf("%d token-endpoint calls, want 1", n)
	}
	if n := h.ep.Replays(); n != 0 {
		t.Errorf("%d replays, want 0", n)
	}
	st := h.stored(t, "u")
	if st.RefreshToken == old.RefreshToken || st.AccessToken == old.AccessToken {
		t.Fatal("the store still holds the old pair")
	}
	for i, g := range got {
		if g != st.AccessToken {
			t.Fatalf("caller %d got another token than the stored one", i)
		}
	}
}

// TestE3_Reauth: every way the user must sign in again ends in
// ErrReauthRequired, and a second call makes no token call.
func TestE3_Reauth(t *testing.T) {
	for _, tc := range []struct {
		name      string
		setup     func(t *testing.T, h *tsHarness)
		wantCalls int64
	}{
		{"no pair stored", func(t *testing.T, h *tsHarness) {}, 0},
		{"refresh token expired", func(t *testing.T, h *tsHarness) {
			tok := h.seed(t, "u")
			h.clk.Set(tok.RefreshExpiry)
		}, 0},
		{"invalid_grant", func(t *testing.T, h *tsHarness) {
			h.put(t, "u", "", Token{AccessToken: "at-x", RefreshToken: "rt-unknown-to-bluenexus", Expiry: h.clk.Now()})
		}, 1},
		{"replay of a spent refresh token", func(t *testing.T, h *tsHarness) {
			tok := h.seed(t, "u")
			if _, err := h.client.Refresh(context.Background(), tok.RefreshToken); err != nil { // spent elsewhere
				t.Fatal(err)
			}
			h.clk.Set(tok.Expiry)
		}, 2},
		{"no refresh token stored", func(t *testing.T, h *tsHarness) {
			h.put(t, "u", "", Token{AccessToken: "at-x", Expiry: h.clk.Now()})
		}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			tc.setup(t, h)
			for i := range 3 {
				got, err := h.ts.Token(h.ev.ctx, "u")
				if !errors.Is(err, ErrReauthRequired) || got != "" {
					t.Fatalf("call %d: Token = %q, %v; want ErrReauthRequired", i, got.Reveal(), err)
				}
				h.noSecret(t, err)
				if n := h.ep.Calls(); n != tc.wantCalls {
					t.Fatalf("call %d: %d token-endpoint calls, want %d", i, n, tc.wantCalls)
				}
			}
			refused := 0
			if tc.wantCalls > 0 {
				refused = 1 // BlueNexus refused it once; then the dead pair is known
			}
			if n, m := h.ev.count(eventRefused), h.ev.count(eventReauth); n != refused || m != 3-refused {
				t.Errorf("%d refused and %d reauth events, want %d and %d", n, m, refused, 3-refused)
			}
			// Renew knows it too, and so does a source started afresh on
			// the same store (a restart, another instance).
			if _, err := h.ts.Renew(h.ev.ctx, "u", "at-x"); !errors.Is(err, ErrReauthRequired) {
				t.Fatalf("Renew: %v", err)
			}
			restarted, ev, _ := h.source(t, h.store)
			if _, err := restarted.Token(ev.ctx, "u"); !errors.Is(err, ErrReauthRequired) {
				t.Fatalf("Token after a restart: %v", err)
			}
			if n := h.ep.Calls(); n != tc.wantCalls {
				t.Fatalf("%d token calls after Renew and a restart, want %d", n, tc.wantCalls)
			}
			if tc.wantCalls > 0 {
				if st := h.stored(t, "u"); st.RefreshToken != "" {
					t.Error("the refused pair was not stored as dead")
				}
			}
			// Once the user signs in again, the new pair works.
			at, rt := h.ep.Seed()
			if err := h.ts.Save(h.ev.ctx, "u", Token{AccessToken: AccessToken(at), RefreshToken: RefreshToken(rt), Expiry: h.clk.Now()}); err != nil {
				t.Fatal(err)
			}
			if got, err := h.ts.Token(h.ev.ctx, "u"); err != nil || got != h.stored(t, "u").AccessToken {
				t.Fatalf("after a new sign-in: %v", err)
			}
			if n := h.ep.Calls(); n != tc.wantCalls+1 {
				t.Fatalf("%d calls after a new sign-in, want %d", n, tc.wantCalls+1)
			}
		})
	}
}

// TestE3_UpstreamFailureKeepsPair: 429, 5xx and a timeout are errors of
// their own, bounded in time, never "sign in again",
// and leave the stored pair as it was, so the next call refreshes with it.
func TestE3_UpstreamFailureKeepsPair(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault http.HandlerFunc
		check func(error) bool
	}{
		{"429", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "30")
			tokentest.Reply(w, 429, `{"error":"TooManyRequestsError","message":"Rate limit exceeded","statusCode":429}`)
		}, func(err error) bool { ae, ok := errors.AsType[*APIError](err); return ok && ae.StatusCode == 429 }},
		{"503", func(w http.ResponseWriter, r *http.Request) {
			tokentest.Reply(w, 503, `{"error":"ServiceUnavailable","message":"down","statusCode":503}`)
		}, func(err error) bool { ae, ok := errors.AsType[*APIError](err); return ok && ae.StatusCode == 503 }},
		{"timeout", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		}, func(err error) bool { return errors.Is(err, ErrTimeout) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, WithTimeout(300*time.Millisecond))
			tok := h.seed(t, "u")
			h.clk.Set(tok.Expiry)
			h.ep.SetFault(tc.fault)
			start := time.Now()
			got, err := h.ts.Token(h.ev.ctx, "u")
			if got != "" || err == nil || !tc.check(err) || errors.Is(err, ErrReauthRequired) {
				t.Fatalf("Token = %q, %v", got.Reveal(), err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
			h.noSecret(t, err)
			if st := h.stored(t, "u"); st != tok {
				t.Fatal("the stored pair changed")
			}
			if n := h.ev.count(eventFailed); n != 1 {
				t.Errorf("%d failed events, want 1", n)
			}
			h.ep.SetFault(nil)
			if _, err := h.ts.Token(h.ev.ctx, "u"); err != nil {
				t.Fatalf("after the fault: %v", err)
			}
			if n := h.ep.Replays(); n != 0 {
				t.Errorf("%d replays", n)
			}
		})
	}
}

// TestE2_SaveRetried: a save that fails is tried again, with short pauses,
// before the new token is handed out.
func TestE2_SaveRetried(t *testing.T) {
	for _, tc := range []struct {
		name   string
		store  func(TokenStore) *flakyStore
		sleeps []time.Duration
	}{
		{"two errors", func(s TokenStore) *flakyStore { return &flakyStore{TokenStore: s, failures: 2} }, []time.Duration{50 * time.Millisecond, 100 * time.Millisecond}},
		{"an error after the write landed", func(s TokenStore) *flakyStore {
			return &flakyStore{TokenStore: s, failures: 1, landed: true}
		}, []time.Duration{50 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			tok := h.seed(t, "u")
			flaky := tc.store(h.store)
			ts, ev, sleeps := h.source(t, flaky)
			h.clk.Set(tok.Expiry)
			got, err := ts.Token(ev.ctx, "u")
			if err != nil {
				t.Fatal(err)
			}
			if st := h.stored(t, "u"); st.AccessToken != got || st.RefreshToken == tok.RefreshToken {
				t.Fatal("the new pair was not stored")
			}
			if fmt.Sprint(*sleeps) != fmt.Sprint(tc.sleeps) {
				t.Errorf("pauses %v, want %v", *sleeps, tc.sleeps)
			}
			if ev.count(eventRefreshed) != 1 || h.ep.Calls() != 1 {
				t.Errorf("%d refreshed, %d calls", ev.count(eventRefreshed), h.ep.Calls())
			}
		})
	}
}

// TestE2_SaveLost: a save that keeps failing drops the new pair: the error
// says what was lost, matches ErrReauthRequired and the store's error, the
// new token is never handed out, and the spent refresh token is never
// presented again.
func TestE2_SaveLost(t *testing.T) {
	h := newHarness(t)
	tok := h.seed(t, "u")
	flaky := &flakyStore{TokenStore: h.store, failures: 1 << 30}
	ts, ev, sleeps := h.source(t, flaky)
	var early atomic.Int64
	flaky.during = func() {
		// While the save is pending, the cache must not serve the new
		// token (a cancelled context reads the cache and starts nothing).
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if at, _ := ts.Token(ctx, "u"); at != "" {
			early.Add(1)
		}
	}
	h.clk.Set(tok.Expiry)
	got, err := ts.Token(ev.ctx, "u")
	if got != "" || !errors.Is(err, ErrReauthRequired) || !errors.Is(err, errFlaky) ||
		!strings.HasPrefix(err.Error(), "bluenexus: the refreshed token pair could not be saved: ") {
		t.Fatalf("Token = %q, %v", got.Reveal(), err)
	}
	h.noSecret(t, err)
	if n := early.Load(); n != 0 {
		t.Errorf("the new token was served %d times before it was saved", n)
	}
	// Attempts go on, with pauses growing to saveMaxPause, until the
	// pauses fill the budget: a store that fails over gets saveBudget.
	var paused time.Duration
	for i, d := range *sleeps {
		if want := min(time.Duration(i+1)*saveBackoff, saveMaxPause); d != want {
			t.Errorf("pause %d: %v, want %v", i+1, d, want)
		}
		paused += d
	}
	if paused > saveBudget || paused+saveMaxPause <= saveBudget {
		t.Errorf("pauses add up to %v, want the budget of %v filled: %v", paused, saveBudget, *sleeps)
	}
	if n := flaky.attempts.Load(); n != int64(len(*sleeps)+1) {
		t.Errorf("%d save attempts after %d pauses", n, len(*sleeps))
	}
	if ev.count(eventFailed) != 1 {
		t.Errorf("%d failed events", ev.count(eventFailed))
	}
	// The new token is nowhere: not cached, not stored, not handed out.
	for i := range 3 {
		got, err := ts.Token(ev.ctx, "u")
		if got != "" || !errors.Is(err, ErrReauthRequired) {
			t.Fatalf("call %d after the lost save: %q, %v", i, got.Reveal(), err)
		}
		if got, err := ts.Renew(ev.ctx, "u", tok.AccessToken); got != "" || !errors.Is(err, ErrReauthRequired) {
			t.Fatalf("Renew %d after the lost save: %q, %v", i, got.Reveal(), err)
		}
	}
	if n := h.ep.Calls(); n != 1 {
		t.Errorf("%d token calls, want 1: the spent refresh token was presented again", n)
	}
	if st := h.stored(t, "u"); st != tok {
		t.Error("the store changed")
	}
}

// TestE2_ConflictKeepsTheOtherPair: a pair stored by another writer during
// the refresh is never overwritten, and the refreshed pair is not used.
func TestE2_ConflictKeepsTheOtherPair(t *testing.T) {
	h := newHarness(t)
	tok := h.seed(t, "u")
	h.clk.Set(tok.Expiry)
	arrived, release := h.ep.Hold()
	defer release()
	type result struct {
		at  AccessToken
		err error
	}
	done := make(chan result, 1)
	go func() {
		at, err := h.ts.Token(h.ev.ctx, "u")
		done <- result{at, err}
	}()
	<-arrived
	// The user signs in again meanwhile (without the lock, as an app's
	// sign-in does).
	at, rt := h.ep.Seed()
	signIn := Token{AccessToken: AccessToken(at), RefreshToken: RefreshToken(rt), Expiry: h.clk.Now().Add(15 * time.Minute)}
	h.put(t, "u", tok.RefreshToken, signIn)
	release()
	r := <-done
	if r.at != "" || !errors.Is(r.err, errConflict) || errors.Is(r.err, ErrReauthRequired) {
		t.Fatalf("Token = %q, %v", r.at.Reveal(), r.err)
	}
	if st := h.stored(t, "u"); st != signIn {
		t.Fatal("the other writer's pair was overwritten")
	}
	got, err := h.ts.Token(h.ev.ctx, "u")
	if err != nil || got != signIn.AccessToken {
		t.Fatalf("next Token = %v", err)
	}
	if n := h.ep.Calls(); n != 1 {
		t.Errorf("%d calls, want 1", n)
	}
}

// TestRenew: a 401 to the current token refreshes once for all who report
// it; a report of an old token gets the current one without a call.
func TestRenew(t *testing.T) {
	h := newHarness(t)
	tok := h.seed(t, "u")
	if _, err := h.ts.Token(h.ev.ctx, "u"); err != nil { // cached
		t.Fatal(err)
	}
	arrived, release := h.ep.Hold()
	defer release()
	var i atomic.Int64
	got := runConcurrently(t, 50, func() (AccessToken, error) {
		if i.Add(1)%5 == 0 {
			// Requests that ask for the token meanwhile never get the
			// rejected one (the store still holds it): they wait too.
			return h.ts.Token(h.ev.ctx, "u")
		}
		return h.ts.Renew(h.ev.ctx, "u", tok.AccessToken)
	}, arrived, release)
	checkOneNewToken(t, h, got, tok)
	// Token no longer serves the rejected one.
	if at, err := h.ts.Token(h.ev.ctx, "u"); err != nil || at != got[0] {
		t.Fatalf("Token after Renew = %v", err)
	}
	// A late report of the old token: the stored one is fresh and differs.
	if at, err := h.ts.Renew(h.ev.ctx, "u", tok.AccessToken); err != nil || at != got[0] {
		t.Fatalf("late Renew = %v", err)
	}
	if n := h.ep.Calls(); n != 1 {
		t.Errorf("%d calls, want 1", n)
	}
	for _, tc := range []struct {
		user     string
		rejected AccessToken
	}{{"", "at"}, {"u", ""}} {
		if _, err := h.ts.Renew(h.ev.ctx, tc.user, tc.rejected); err == nil ||
			!strings.HasPrefix(err.Error(), "bluenexus: TokenSource.Renew: empty") {
			t.Errorf("Renew(%q, %q) = %v", tc.user, tc.rejected.Reveal(), err)
		}
	}
	if _, err := h.ts.Token(h.ev.ctx, ""); err == nil || !strings.HasPrefix(err.Error(), "bluenexus: TokenSource.Token: empty") {
		t.Errorf("Token(\"\") = %v", err)
	}
}

// TestCallerLeavesRefreshCompletes: a caller whose context ends returns at
// once, and the refresh it started still saves its pair.
func TestCallerLeavesRefreshCompletes(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  func(ctx context.Context) (context.Context, func())
		want func(error) bool
	}{
		{"cancel", func(ctx context.Context) (context.Context, func()) {
			ctx, cancel := context.WithCancel(ctx)
			return ctx, cancel
		}, func(err error) bool {
			return errors.Is(err, context.Canceled) && !errors.Is(err, ErrTimeout)
		}},
		{"deadline", func(ctx context.Context) (context.Context, func()) {
			ctx, cancel := context.WithDeadline(ctx, time.Now().Add(-time.Second))
			return ctx, cancel
		}, func(err error) bool {
			return errors.Is(err, ErrTimeout) && errors.Is(err, context.DeadlineExceeded)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			tok := h.seed(t, "u")
			h.clk.Set(tok.Expiry)
			arrived, release := h.ep.Hold()
			defer release()
			ctx, end := tc.end(h.ev.ctx)
			defer end()
			if tc.name == "cancel" {
				errc := make(chan error, 1)
				go func() {
					_, err := h.ts.Token(ctx, "u")
					errc <- err
				}()
				<-arrived
				end()
				if err := <-errc; !tc.want(err) {
					t.Fatalf("Token = %v", err)
				}
				release()
				h.ev.await(t, eventRefreshed)
				if got, err := h.ts.Token(h.ev.ctx, "u"); err != nil || got != h.stored(t, "u").AccessToken {
					t.Fatalf("next Token: %v", err)
				}
				if n := h.ep.Calls(); n != 1 {
					t.Errorf("%d calls, want 1", n)
				}
				return
			}
			// A context already past its deadline starts nothing.
			if _, err := h.ts.Token(ctx, "u"); !tc.want(err) {
				t.Fatalf("Token = %v", err)
			}
			if n := h.ep.Calls(); n != 0 {
				t.Errorf("%d calls, want 0", n)
			}
		})
	}
}

// TestTwoObserversOneSource: two kits on one source (two observers in
// their calls' contexts) hear a refresh they shared once in all, by the
// observer of the call that started it, and each hears its own cached calls.
func TestTwoObserversOneSource(t *testing.T) {
	h := newHarness(t)
	tok := h.seed(t, "u")
	a, b := newEventLog(), newEventLog()
	h.clk.Set(tok.Expiry)
	arrived, release := h.ep.Hold()
	defer release()
	var i atomic.Int64
	runConcurrently(t, 20, func() (AccessToken, error) {
		ctx := a.ctx
		if i.Add(1)%2 == 0 {
			ctx = b.ctx
		}
		return h.ts.Token(ctx, "u")
	}, arrived, release)
	if na, nb := a.count(eventRefreshed), b.count(eventRefreshed); na+nb != 1 {
		t.Errorf("observers heard %d and %d refreshed events, want 1 in all", na, nb)
	}
	ca, cb := a.count(eventCached), b.count(eventCached)
	if _, err := h.ts.Token(a.ctx, "u"); err != nil {
		t.Fatal(err)
	}
	if a.count(eventCached) != ca+1 || b.count(eventCached) != cb {
		t.Errorf("a's call: cached events a %d→%d, b %d→%d", ca, a.count(eventCached), cb, b.count(eventCached))
	}
}

// countingStore counts loads.
type countingStore struct {
	TokenStore
	loads atomic.Int64
}

func (s *countingStore) Load(ctx context.Context, user string) (Token, bool, error) {
	s.loads.Add(1)
	return s.TokenStore.Load(ctx, user)
}

var errFlaky = errors.New("store: disk full")

// flakyStore fails its first failures saves with errFlaky; with landed,
// the failed saves write anyway (the reply was lost).
type flakyStore struct {
	TokenStore
	failures int64
	landed   bool
	attempts atomic.Int64
	during   func() // when set, called at each save
}

func (s *flakyStore) CompareAndSwap(ctx context.Context, user string, old RefreshToken, next Token) (bool, error) {
	if s.during != nil {
		s.during()
	}
	if s.attempts.Add(1) <= s.failures {
		if s.landed {
			s.TokenStore.CompareAndSwap(ctx, user, old, next)
		}
		return false, errFlaky
	}
	return s.TokenStore.CompareAndSwap(ctx, user, old, next)
}

// BenchmarkTokenCached is the read of a fresh, cached token: the path of
// every request but one per user every 14 minutes.
func BenchmarkTokenCached(b *testing.B) {
	ts := benchSource(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ts.Token(ctx, "user-42"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTokenCachedParallel is the same read from 1 to 64 goroutines
// per GOMAXPROCS at once: it must stay flat (no lock convoy).
func BenchmarkTokenCachedParallel(b *testing.B) {
	ts := benchSource(b)
	ctx := context.Background()
	for _, p := range []int{1, 4, 16, 64} {
		b.Run(fmt.Sprintf("goroutines=%dxGOMAXPROCS", p), func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(p)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := ts.Token(ctx, "user-42"); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkTokenCachedBaseline does the same read by hand the obvious way,
// a map under a sync.RWMutex, for comparison.
func BenchmarkTokenCachedBaseline(b *testing.B) {
	var mu sync.RWMutex
	m := map[string]Token{"user-42": {AccessToken: "at", Expiry: time.Now().Add(time.Hour)}}
	for _, p := range []int{1, 4, 16, 64} {
		b.Run(fmt.Sprintf("goroutines=%dxGOMAXPROCS", p), func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(p)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					mu.RLock()
					t, ok := m["user-42"]
					mu.RUnlock()
					if !ok || !time.Now().Add(tokenSkew).Before(t.Expiry) {
						b.Error("stale")
						return
					}
				}
			})
		})
	}
}

func benchSource(b *testing.B) *TokenSource {
	c, err := NewClient(WithClientCredentials("app", "secret"))
	if err != nil {
		b.Fatal(err)
	}
	store := NewMemoryTokenStore()
	store.Save(context.Background(), "user-42", Token{AccessToken: "at", RefreshToken: "rt",
		Expiry: time.Now().Add(time.Hour)})
	ts, err := NewTokenSource(c, store)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := ts.Token(context.Background(), "user-42"); err != nil {
		b.Fatal(err)
	}
	return ts
}
