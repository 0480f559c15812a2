package bluenexus

import (
	"context"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestCacheBounded: the source keeps at most WithCacheSize pairs in
// memory; a dropped user's pair is loaded again from the store.
func TestCacheBounded(t *testing.T) {
	h := newHarness(t)
	ts, err := NewTokenSource(h.client, h.store, WithCacheSize(2))
	if err != nil {
		t.Fatal(err)
	}
	loads := &countingStore{TokenStore: h.store}
	ts.store = loads
	for _, u := range []string{"a", "b", "c"} {
		h.seed(t, u)
	}
	for _, u := range []string{"a", "b", "a", "c", "a", "b"} {
		if _, err := ts.Token(context.Background(), u); err != nil {
			t.Fatal(err)
		}
		if n := ts.users.len(); n > 2 {
			t.Fatalf("%d pairs in memory, want at most 2", n)
		}
	}
	// a, b, c: loaded, c dropping a or b; of the next a and b, the one
	// dropped is loaded again (and may drop the other).
	if n := loads.loads.Load(); n < 4 || n > 5 {
		t.Errorf("%d store loads, want 4 or 5", n)
	}
	for _, n := range []int{0, -1} {
		if _, err := NewTokenSource(h.client, h.store, WithCacheSize(n)); err == nil || !strings.Contains(err.Error(), "WithCacheSize") {
			t.Errorf("WithCacheSize(%d): %v", n, err)
		}
	}
}

// TestSaveReplaces: TokenSource.Save replaces the stored pair and the
// cached one, so the next Token hands out the new access token.
func TestSaveReplaces(t *testing.T) {
	h := newHarness(t)
	old := h.seed(t, "u")
	if got, err := h.ts.Token(h.ev.ctx, "u"); err != nil || got != old.AccessToken {
		t.Fatalf("Token = %v", err)
	}
	at, rt := h.ep.Seed()
	next := Token{AccessToken: AccessToken(at), RefreshToken: RefreshToken(rt), Expiry: h.clk.Now().Add(15 * time.Minute)}
	if err := h.ts.Save(h.ev.ctx, "u", next); err != nil {
		t.Fatal(err)
	}
	if got, err := h.ts.Token(h.ev.ctx, "u"); err != nil || got != next.AccessToken {
		t.Fatalf("Token after Save = %v, want the saved pair's token", err)
	}
	if h.stored(t, "u") != next {
		t.Error("the store does not hold the saved pair")
	}
	if err := h.ts.Save(h.ev.ctx, "", next); err == nil {
		t.Error("Save with an empty user: no error")
	}
}

// computedStore makes every user's pair up on Load and keeps nothing, so
// that a benchmark's heap is the source's own.
type computedStore struct{ TokenStore }

func (computedStore) Load(_ context.Context, user string) (Token, bool, error) {
	return Token{AccessToken: AccessToken("at-" + user), RefreshToken: RefreshToken("rt-" + user),
		Expiry: time.Now().Add(time.Hour), RefreshExpiry: time.Now().Add(7 * 24 * time.Hour), Scope: "connections"}, true, nil
}

// BenchmarkTokenSourceMillionUsers serves 1,000,000 distinct users, each
// once, and reports the heap in use afterwards (MiB): the source's cache
// is bounded (10,000 pairs by default), so the figure stays flat however
// many users it has served.
func BenchmarkTokenSourceMillionUsers(b *testing.B) {
	const users = 1_000_000
	c, err := NewClient(WithClientCredentials("app", "secret"))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var heap uint64
	for b.Loop() {
		ts, err := NewTokenSource(c, computedStore{})
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		for i := range users {
			if _, err := ts.Token(ctx, "user-"+strconv.Itoa(i)); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		heap = after.HeapInuse - min(after.HeapInuse, before.HeapInuse)
		if ts.users.len() != defaultCacheSize {
			b.Fatalf("%d pairs cached, want %d", ts.users.len(), defaultCacheSize)
		}
		runtime.KeepAlive(ts)
	}
	b.ReportMetric(float64(heap)/(1<<20), "MiB-heap")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*users), "ns/user")
}
