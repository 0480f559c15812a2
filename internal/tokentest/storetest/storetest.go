// Package storetest is the contract suite of bluenexus.TokenStore, run by
// the tests of every store the kit has: bluenexus.NewMemoryTokenStore,
// redisflow.NewTokenStore and pgtokens.New. It says in code what the TokenStore
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
// expiry keeps them. Leases run out by the store's own clock: the suite
// takes one for a millisecond and waits (at most 10 s) for it to run out.
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
	save := func(t *testing.T, s bluenexus.TokenStore, user string, tok bluenexus.Token) {
		t.Helper()
		if err := s.Save(ctx, user, tok); err != nil {
			t.Fatalf("Save(%q): %v", user, err)
		}
	}
	cas := func(t *testing.T, s bluenexus.TokenStore, user string, old bluenexus.RefreshToken, next bluenexus.Token) bool {
		t.Helper()
		swapped, err := s.CompareAndSwap(ctx, user, old, next)
		if err != nil {
			t.Fatalf("CompareAndSwap(%q): %v", user, err)
		}
		return swapped
	}
	lease := func(t *testing.T, s bluenexus.TokenStore, user string, rt bluenexus.RefreshToken, holder string, ttl time.Duration) bool {
		t.Helper()
		ok, err := s.Lease(ctx, user, rt, holder, ttl)
		if err != nil {
			t.Fatalf("Lease(%q, %q): %v", user, holder, err)
		}
		return ok
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
	const long = time.Hour

	t.Run("absent is not an error", func(t *testing.T) {
		none(t, newStore(t), "nobody")
	})
	t.Run("save replaces", func(t *testing.T) {
		s := newStore(t)
		save(t, s, "u", pair(1))
		want(t, s, "u", pair(1))
		save(t, s, "u", pair(2))
		want(t, s, "u", pair(2))
	})
	t.Run("swap only from the stored refresh token", func(t *testing.T) {
		s := newStore(t)
		save(t, s, "u", pair(1))
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
	t.Run("a dead pair is stored", func(t *testing.T) {
		s := newStore(t)
		save(t, s, "u", pair(1))
		if !cas(t, s, "u", pair(1).RefreshToken, bluenexus.Token{}) {
			t.Fatal("swap to a pair with no refresh token refused")
		}
		want(t, s, "u", bluenexus.Token{})
		save(t, s, "u", pair(2)) // the user signs in again
		want(t, s, "u", pair(2))
	})
	t.Run("zero refresh expiry", func(t *testing.T) {
		s := newStore(t)
		p := pair(4)
		p.RefreshExpiry = time.Time{}
		p.Scope = ""
		save(t, s, "u", p)
		want(t, s, "u", p)
	})
	t.Run("users are apart", func(t *testing.T) {
		s := newStore(t)
		// UTF-8 without NUL bytes: what the SQL's text user_id holds.
		users := []string{"a", "A", "a ", "{a}", "user:1", "user:1:lock", "ü", strings.Repeat("x", 4096)}
		for i, u := range users {
			save(t, s, u, pair(10+i))
		}
		if !lease(t, s, "a", pair(10).RefreshToken, "h1", long) {
			t.Fatal("lease of a refused")
		}
		for i, u := range users {
			want(t, s, u, pair(10+i))
			if i > 0 && !lease(t, s, u, pair(10+i).RefreshToken, "h2", long) {
				t.Fatalf("lease of %q refused beside a's", u)
			}
		}
	})
	t.Run("lease is exclusive", func(t *testing.T) {
		s := newStore(t)
		save(t, s, "u", pair(1))
		if !lease(t, s, "u", pair(1).RefreshToken, "h1", long) {
			t.Fatal("lease of an unleased pair refused")
		}
		if lease(t, s, "u", pair(1).RefreshToken, "h2", long) {
			t.Fatal("a second holder leased a leased pair")
		}
		want(t, s, "u", pair(1)) // a lease does not change the pair
	})
	t.Run("lease is idempotent for its holder", func(t *testing.T) {
		s := newStore(t)
		save(t, s, "u", pair(1))
		lease(t, s, "u", pair(1).RefreshToken, "h1", long)
		if !lease(t, s, "u", pair(1).RefreshToken, "h1", long) {
			t.Fatal("the holder's second lease (a retry after a lost reply) refused")
		}
		if lease(t, s, "u", pair(1).RefreshToken, "h2", long) {
			t.Fatal("another holder leased after the retry")
		}
	})
	t.Run("lease only of the stored refresh token", func(t *testing.T) {
		s := newStore(t)
		if lease(t, s, "u", pair(1).RefreshToken, "h1", long) {
			t.Fatal("leased a user with no pair")
		}
		none(t, s, "u")
		save(t, s, "u", pair(1))
		if lease(t, s, "u", "rt-other", "h1", long) {
			t.Fatal("leased a refresh token that is not stored")
		}
	})
	t.Run("lease runs out", func(t *testing.T) {
		s := newStore(t)
		save(t, s, "u", pair(1))
		if !lease(t, s, "u", pair(1).RefreshToken, "h1", time.Millisecond) {
			t.Fatal("lease refused")
		}
		deadline := time.Now().Add(10 * time.Second)
		for !lease(t, s, "u", pair(1).RefreshToken, "h2", long) {
			if time.Now().After(deadline) {
				t.Fatal("a 1 ms lease still held after 10 s")
			}
			time.Sleep(5 * time.Millisecond)
		}
		if lease(t, s, "u", pair(1).RefreshToken, "h1", long) {
			t.Fatal("the first holder leased again over the second's lease")
		}
	})
	t.Run("swap clears the lease", func(t *testing.T) {
		s := newStore(t)
		save(t, s, "u", pair(1))
		lease(t, s, "u", pair(1).RefreshToken, "h1", long)
		if !cas(t, s, "u", pair(1).RefreshToken, pair(2)) {
			t.Fatal("the holder's swap refused")
		}
		if !lease(t, s, "u", pair(2).RefreshToken, "h2", long) {
			t.Fatal("the new pair is leased after a swap")
		}
	})
	t.Run("swap onto itself releases the lease", func(t *testing.T) {
		s := newStore(t)
		save(t, s, "u", pair(1))
		lease(t, s, "u", pair(1).RefreshToken, "h1", long)
		if !cas(t, s, "u", pair(1).RefreshToken, pair(1)) {
			t.Fatal("swap onto itself refused")
		}
		want(t, s, "u", pair(1))
		if !lease(t, s, "u", pair(1).RefreshToken, "h2", long) {
			t.Fatal("the pair is still leased after a swap onto itself")
		}
	})
	t.Run("save clears the lease", func(t *testing.T) {
		s := newStore(t)
		save(t, s, "u", pair(1))
		lease(t, s, "u", pair(1).RefreshToken, "h1", long)
		save(t, s, "u", pair(1)) // the same pair saved again
		if !lease(t, s, "u", pair(1).RefreshToken, "h2", long) {
			t.Fatal("the pair is still leased after Save")
		}
		save(t, s, "u", pair(2))
		if lease(t, s, "u", pair(1).RefreshToken, "h3", long) {
			t.Fatal("leased the refresh token Save replaced")
		}
		if !lease(t, s, "u", pair(2).RefreshToken, "h3", long) {
			t.Fatal("the saved pair is leased")
		}
	})
	t.Run("one holder among concurrent leases", func(t *testing.T) {
		s := newStore(t)
		save(t, s, "u", pair(1))
		var wins atomic.Int64
		var wg sync.WaitGroup
		for i := range 32 {
			wg.Go(func() {
				ok, err := s.Lease(ctx, "u", pair(1).RefreshToken, "h"+strconv.Itoa(i), long)
				if err != nil {
					t.Error(err)
				}
				if ok {
					wins.Add(1)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("%d concurrent leases of one pair won, want 1", wins.Load())
		}
	})
	t.Run("one winner among concurrent swaps", func(t *testing.T) {
		s := newStore(t)
		save(t, s, "u", pair(1))
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
		save(t, s, "u", pair(1))
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, _, err := s.Load(cctx, "u"); err == nil {
			t.Error("Load with a cancelled context: no error")
		}
		if err := s.Save(cctx, "u", pair(3)); err == nil {
			t.Error("Save with a cancelled context: no error")
		}
		if _, err := s.Lease(cctx, "u", pair(1).RefreshToken, "h1", long); err == nil {
			t.Error("Lease with a cancelled context: no error")
		}
		if _, err := s.CompareAndSwap(cctx, "u", pair(1).RefreshToken, pair(2)); err == nil {
			t.Error("CompareAndSwap with a cancelled context: no error")
		}
		want(t, s, "u", pair(1))
		if !lease(t, s, "u", pair(1).RefreshToken, "h2", long) {
			t.Error("a cancelled Lease left the pair leased")
		}
	})
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
