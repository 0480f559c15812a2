// Package storetest is the contract suite of bluenexus.TokenStore (and of
// bluenexus.TokenLocker, when a store implements it), run by the tests of
// every store the kit has: bluenexus.NewMemoryTokenStore and
// redisflow.NewTokenStore. It says in code what the TokenStore
// documentation says in words.
package storetest

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/handoffkit/handoffkit/bluenexus"
)

// pair returns a distinct pair for n.
func pair(n int) bluenexus.Token {
	s := strconv.Itoa(n)
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	return bluenexus.Token{
		AccessToken:   bluenexus.AccessToken("at-contract-" + s),
		RefreshToken:  bluenexus.RefreshToken("rt-contract-" + s),
		Expiry:        t0.Add(time.Duration(n) * time.Minute),
		RefreshExpiry: t0.Add(7 * 24 * time.Hour),
		Scope:         "connections " + s,
	}
}

// Contract runs the suite on stores from newStore, one per subtest. Pairs
// expire in 2030, so a store that sets a time to live from the refresh
// expiry keeps them.
func Contract(t *testing.T, newStore func(t *testing.T) bluenexus.TokenStore) {
	ctx := context.Background()
	load := func(t *testing.T, s bluenexus.TokenStore, user string) (bluenexus.Token, bool) {
		t.Helper()
		tok, ok, err := s.Load(ctx, user)
		if err != nil {
			t.Fatalf("Load(%q): %v", user, err)
		}
		return tok, ok
	}
	cas := func(t *testing.T, s bluenexus.TokenStore, user string, old bluenexus.RefreshToken, next bluenexus.Token) bool {
		t.Helper()
		swapped, err := s.CompareAndSwap(ctx, user, old, next)
		if err != nil {
			t.Fatalf("CompareAndSwap(%q): %v", user, err)
		}
		return swapped
	}
	want := func(t *testing.T, s bluenexus.TokenStore, user string, w bluenexus.Token) {
		t.Helper()
		got, ok := load(t, s, user)
		if !ok {
			t.Fatalf("Load(%q): no pair, want %s", user, w.AccessToken.Reveal())
		}
		if !same(got, w) {
			t.Fatalf("Load(%q) = %s %s %v %v %q, want %s %s %v %v %q", user,
				got.AccessToken.Reveal(), got.RefreshToken.Reveal(), got.Expiry, got.RefreshExpiry, got.Scope,
				w.AccessToken.Reveal(), w.RefreshToken.Reveal(), w.Expiry, w.RefreshExpiry, w.Scope)
		}
	}
	none := func(t *testing.T, s bluenexus.TokenStore, user string) {
		t.Helper()
		if got, ok := load(t, s, user); ok {
			t.Fatalf("Load(%q) = %s, want no pair", user, got.AccessToken.Reveal())
		}
	}

	t.Run("absent is not an error", func(t *testing.T) {
		none(t, newStore(t), "nobody")
	})
	t.Run("seed only when absent", func(t *testing.T) {
		s := newStore(t)
		if !cas(t, s, "u", "", pair(1)) {
			t.Fatal("seed of an absent user not swapped")
		}
		want(t, s, "u", pair(1))
		if cas(t, s, "u", "", pair(2)) {
			t.Fatal("second seed swapped over a stored pair")
		}
		want(t, s, "u", pair(1))
	})
	t.Run("swap only from the stored refresh token", func(t *testing.T) {
		s := newStore(t)
		cas(t, s, "u", "", pair(1))
		if cas(t, s, "u", "rt-other", pair(2)) {
			t.Fatal("swapped from a refresh token that is not stored")
		}
		want(t, s, "u", pair(1))
		if !cas(t, s, "u", pair(1).RefreshToken, pair(2)) {
			t.Fatal("swap from the stored refresh token refused")
		}
		want(t, s, "u", pair(2))
		// A slow writer holding the older pair cannot overwrite the newer.
		if cas(t, s, "u", pair(1).RefreshToken, pair(3)) {
			t.Fatal("swapped from a refresh token already replaced")
		}
		want(t, s, "u", pair(2))
	})
	t.Run("no swap onto an absent user", func(t *testing.T) {
		s := newStore(t)
		if cas(t, s, "u", pair(1).RefreshToken, pair(2)) {
			t.Fatal("swapped for a user with no pair")
		}
		none(t, s, "u")
	})
	t.Run("zero refresh expiry", func(t *testing.T) {
		s := newStore(t)
		p := pair(4)
		p.RefreshExpiry = time.Time{}
		p.Scope = ""
		cas(t, s, "u", "", p)
		want(t, s, "u", p)
	})
	t.Run("users are apart", func(t *testing.T) {
		s := newStore(t)
		users := []string{"a", "A", "a ", "{a}", "user:1", "user:1:lock", "ü", strings.Repeat("x", 4096), "a\x00b"}
		for i, u := range users {
			if !cas(t, s, u, "", pair(10+i)) {
				t.Fatalf("seed of %q not swapped", u)
			}
		}
		for i, u := range users {
			want(t, s, u, pair(10+i))
		}
	})
	t.Run("one winner among concurrent swaps", func(t *testing.T) {
		s := newStore(t)
		cas(t, s, "u", "", pair(1))
		var wins atomic.Int64
		var winner atomic.Int64
		var wg sync.WaitGroup
		for i := range 32 {
			wg.Go(func() {
				swapped, err := s.CompareAndSwap(ctx, "u", pair(1).RefreshToken, pair(100+i))
				if err != nil {
					t.Error(err)
				}
				if swapped {
					wins.Add(1)
					winner.Store(int64(100 + i))
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("%d concurrent swaps from one refresh token won, want 1", wins.Load())
		}
		want(t, s, "u", pair(int(winner.Load())))
	})
	t.Run("a cancelled context is an error", func(t *testing.T) {
		s := newStore(t)
		cas(t, s, "u", "", pair(1))
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, _, err := s.Load(cctx, "u"); err == nil {
			t.Error("Load with a cancelled context: no error")
		}
		if _, err := s.CompareAndSwap(cctx, "u", pair(1).RefreshToken, pair(2)); err == nil {
			t.Error("CompareAndSwap with a cancelled context: no error")
		}
		want(t, s, "u", pair(1))
	})
	if _, ok := newStore(t).(bluenexus.TokenLocker); ok {
		t.Run("locker", func(t *testing.T) { lockerContract(t, newStore) })
	}
}

// lockerContract: one holder per user; unlock releases only its own lock,
// once; users do not block each other; the wait honours ctx.
func lockerContract(t *testing.T, newStore func(t *testing.T) bluenexus.TokenStore) {
	ctx := context.Background()
	l := newStore(t).(bluenexus.TokenLocker)
	// held reports whether user's lock is held, by trying to take it within
	// a short wait (released again when it was free).
	held := func(t *testing.T, user string) bool {
		t.Helper()
		cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		unlock, err := l.Lock(cctx, user)
		if err != nil {
			return true
		}
		unlock()
		return false
	}
	unlockA, err := l.Lock(ctx, "u")
	if err != nil {
		t.Fatal(err)
	}
	if !held(t, "u") {
		t.Fatal("a second holder took a held lock")
	}
	if held(t, "v") {
		t.Fatal("another user's lock blocked by u's")
	}
	unlockA()
	unlockB, err := l.Lock(ctx, "u")
	if err != nil {
		t.Fatalf("Lock after unlock: %v", err)
	}
	unlockA() // a second call must not release B's lock
	if !held(t, "u") {
		t.Fatal("an old holder's second unlock released the new holder's lock")
	}
	// A waiter gets the lock when the holder releases it.
	got := make(chan error, 1)
	go func() {
		unlock, err := l.Lock(ctx, "u")
		if err == nil {
			unlock()
		}
		got <- err
	}()
	unlockB()
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("waiter: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("waiter never got the released lock")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if unlock, err := l.Lock(cctx, "w"); err == nil {
		unlock()
		t.Error("Lock with a cancelled context: no error")
	}
}

// same compares pairs, times to the second.
func same(a, b bluenexus.Token) bool {
	closeTo := func(x, y time.Time) bool {
		if x.IsZero() || y.IsZero() {
			return x.IsZero() == y.IsZero()
		}
		d := x.Sub(y)
		return d < time.Second && d > -time.Second
	}
	return a.AccessToken == b.AccessToken && a.RefreshToken == b.RefreshToken && a.Scope == b.Scope &&
		closeTo(a.Expiry, b.Expiry) && closeTo(a.RefreshExpiry, b.RefreshExpiry)
}
