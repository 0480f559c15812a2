package bluenexus

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/handoffkit/handoffkit/internal/tokentest"
)

// TestE9_WrappedStoreOneRefreshFleetWide: two TokenSources ("instances")
// on one store wrapped the way an app wraps it to log or measure it make
// one token call between them for 100 concurrent calls at expiry
// (SECURITY.md E1, E9): the lease is in the store's contract, not found by
// a type assertion.
func TestE9_WrappedStoreOneRefreshFleetWide(t *testing.T) {
	h := newHarness(t)
	tok := h.seed(t, "u")
	wrapped := struct{ TokenStore }{h.store}
	a, eva, _ := h.source(t, wrapped)
	b, evb, _ := h.source(t, wrapped)
	h.clk.Set(tok.Expiry)
	arrived, release := h.ep.Hold()
	defer release()
	var i atomic.Int64
	got := runConcurrently(t, 100, func() (AccessToken, error) {
		if i.Add(1)%2 == 0 {
			return b.Token(evb.ctx, "u")
		}
		return a.Token(eva.ctx, "u")
	}, arrived, release)
	checkOneNewToken(t, h, got, tok)
}

// leaseStore is a store whose Lease can be told to fail.
type leaseStore struct {
	TokenStore
	leases atomic.Int64
	lease  func(n int64, ctx context.Context, user string, rt RefreshToken, holder string, ttl time.Duration) (bool, error)
}

func (s *leaseStore) Lease(ctx context.Context, user string, rt RefreshToken, holder string, ttl time.Duration) (bool, error) {
	return s.lease(s.leases.Add(1), ctx, user, rt, holder, ttl)
}

// TestLeaseReplyLost: a Lease whose reply is lost (the lease taken, an
// error returned) is taken again by the same holder, then used or
// released: it is never left held.
func TestLeaseReplyLost(t *testing.T) {
	for _, fault := range []bool{false, true} {
		name := "refresh succeeds"
		if fault {
			name = "refresh fails"
		}
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			tok := h.seed(t, "u")
			st := &leaseStore{TokenStore: h.store}
			st.lease = func(n int64, ctx context.Context, user string, rt RefreshToken, holder string, ttl time.Duration) (bool, error) {
				ok, err := h.store.Lease(ctx, user, rt, holder, ttl)
				if n == 1 && err == nil {
					return false, errors.New("store: connection reset")
				}
				return ok, err
			}
			ts, ev, _ := h.source(t, st)
			h.clk.Set(tok.Expiry)
			if fault {
				h.ep.SetFault(func(w http.ResponseWriter, r *http.Request) {
					tokentest.Reply(w, 503, `{"error":"ServiceUnavailable","message":"down","statusCode":503}`)
				})
			}
			_, err := ts.Token(ev.ctx, "u")
			if fault != (err != nil) {
				t.Fatalf("Token: %v", err)
			}
			if n := h.ep.Calls(); n != 1 {
				t.Errorf("%d token calls, want 1", n)
			}
			stored := h.stored(t, "u")
			if fault != (stored == tok) {
				t.Fatal("the stored pair is not the one expected")
			}
			if ok, err := h.store.Lease(context.Background(), "u", stored.RefreshToken, "another", time.Hour); err != nil || !ok {
				t.Fatalf("the pair was left leased: %v %v", ok, err)
			}
		})
	}
}

// TestLeaseHeldElsewhere: a source that does not get the lease waits for
// the pair its holder stores and uses it, without a token call; and when
// the holder dies, it takes the lease once the lease runs out by the
// store's clock, and refreshes.
func TestLeaseHeldElsewhere(t *testing.T) {
	t.Run("holder stores a new pair", func(t *testing.T) {
		h := newHarness(t)
		tok := h.seed(t, "u")
		if ok, _ := h.store.Lease(context.Background(), "u", tok.RefreshToken, "other-instance", time.Minute); !ok {
			t.Fatal("lease refused")
		}
		at, rt := h.ep.Seed()
		fresher := Token{AccessToken: AccessToken(at), RefreshToken: RefreshToken(rt), Expiry: tok.Expiry.Add(15 * time.Minute)}
		ts, ev, sleeps := h.source(t, h.store)
		ts.sleep = func(ctx context.Context, d time.Duration) error {
			*sleeps = append(*sleeps, d)
			if len(*sleeps) == 3 { // the other instance is done
				h.put(t, "u", tok.RefreshToken, fresher)
			}
			return nil
		}
		h.clk.Set(tok.Expiry)
		got, err := ts.Token(ev.ctx, "u")
		if err != nil || got != fresher.AccessToken {
			t.Fatalf("Token = %v", err)
		}
		if n := h.ep.Calls(); n != 0 {
			t.Errorf("%d token calls, want 0", n)
		}
		if len(*sleeps) != 3 || (*sleeps)[0] >= (*sleeps)[2] {
			t.Errorf("pauses %v, want 3 growing", *sleeps)
		}
	})
	t.Run("holder died", func(t *testing.T) {
		h := newHarness(t)
		h.store.(*memoryTokenStore).now = h.clk.Now
		tok := h.seed(t, "u")
		h.clk.Set(tok.Expiry)
		if ok, _ := h.store.Lease(context.Background(), "u", tok.RefreshToken, "dead-instance", 30*time.Second); !ok {
			t.Fatal("lease refused")
		}
		ts, ev, _ := h.source(t, h.store)
		ts.sleep = func(ctx context.Context, d time.Duration) error {
			h.clk.Advance(d)
			return nil
		}
		start := h.clk.Now()
		if _, err := ts.Token(ev.ctx, "u"); err != nil {
			t.Fatalf("Token: %v", err)
		}
		if waited := h.clk.Now().Sub(start); waited < 30*time.Second {
			t.Errorf("refreshed after %v, before the lease ran out", waited)
		}
		if n := h.ep.Calls(); n != 1 {
			t.Errorf("%d token calls, want 1", n)
		}
	})
}

// TestLeaseStoreDown: a lease that cannot be taken (the store fails) is
// an error that says so, and no refresh is attempted without it.
func TestLeaseStoreDown(t *testing.T) {
	h := newHarness(t)
	tok := h.seed(t, "u")
	st := &leaseStore{TokenStore: h.store}
	st.lease = func(int64, context.Context, string, RefreshToken, string, time.Duration) (bool, error) {
		return false, errors.New("store: down")
	}
	ts, ev, _ := h.source(t, st)
	h.clk.Set(tok.Expiry)
	_, err := ts.Token(ev.ctx, "u")
	if err == nil || errors.Is(err, ErrReauthRequired) {
		t.Fatalf("Token: %v", err)
	}
	if n := st.leases.Load(); n != leaseTries {
		t.Errorf("%d lease attempts, want %d", n, leaseTries)
	}
	if n := h.ep.Calls(); n != 0 {
		t.Errorf("%d token calls without the lease", n)
	}
	if ev.count(eventFailed) != 1 {
		t.Errorf("%d failed events", ev.count(eventFailed))
	}
}

// TestLeaseLandedUnreported: leases that land but fail on every try of a
// flight (writes the store's replicas did not acknowledge) and a release
// that fails are taken again by the user's next flight as their holder:
// it refreshes at once, without waiting for them to run out.
func TestLeaseLandedUnreported(t *testing.T) {
	for _, failing := range []string{"lease", "release"} {
		t.Run(failing, func(t *testing.T) {
			h := newHarness(t)
			h.store.(*memoryTokenStore).now = h.clk.Now
			tok := h.seed(t, "u")
			st := &leaseStore{TokenStore: h.store}
			st.lease = func(n int64, ctx context.Context, user string, rt RefreshToken, holder string, ttl time.Duration) (bool, error) {
				ok, err := h.store.Lease(ctx, user, rt, holder, ttl)
				if failing == "lease" && n <= leaseTries && err == nil {
					return false, errors.New("store: the write reached 0 of 1 replicas")
				}
				return ok, err
			}
			var release *casFailer
			store := TokenStore(st)
			if failing == "release" {
				release = &casFailer{TokenStore: st}
				release.fail.Store(true)
				store = release
				h.ep.SetFault(func(w http.ResponseWriter, r *http.Request) {
					tokentest.Reply(w, 503, `{"error":"ServiceUnavailable","message":"down","statusCode":503}`)
				})
			}
			ts, ev, _ := h.source(t, store)
			ts.sleep = func(ctx context.Context, d time.Duration) error {
				h.clk.Advance(d)
				return nil
			}
			h.clk.Set(tok.Expiry)
			if _, err := ts.Token(ev.ctx, "u"); err == nil {
				t.Fatal("Token succeeded")
			}
			if release != nil {
				release.fail.Store(false)
				h.ep.SetFault(nil)
			}
			start := h.clk.Now()
			if _, err := ts.Token(ev.ctx, "u"); err != nil {
				t.Fatalf("Token after the fault: %v", err)
			}
			if waited := h.clk.Now().Sub(start); waited > time.Second {
				t.Errorf("refreshed after %v: waited for its own lease", waited)
			}
			if stored := h.stored(t, "u"); stored == tok {
				t.Error("the pair was not refreshed")
			}
		})
	}
}

// casFailer is a store whose CompareAndSwap fails while fail is set.
type casFailer struct {
	TokenStore
	fail atomic.Bool
}

func (s *casFailer) CompareAndSwap(ctx context.Context, user string, old RefreshToken, next Token) (bool, error) {
	if !s.fail.Load() {
		return s.TokenStore.CompareAndSwap(ctx, user, old, next)
	}
	return false, errors.New("store: down")
}
