package session

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestMemoryGuard_B4(t *testing.T) {
	clock := newFakeClock()
	g := NewMemoryGuard(WithGuardClock(clock.Now), WithGuardMaxEntries(2))
	ctx := context.Background()
	exp := clock.Now().Add(10 * time.Minute)

	if err := g.Consume(ctx, "a", exp); err != nil {
		t.Fatalf("first use: %v", err)
	}
	if err := g.Consume(ctx, "a", exp); !errors.Is(err, ErrReplayed) {
		t.Fatalf("second use: %v, want ErrReplayed", err)
	}
	if err := g.Consume(ctx, "b", exp.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := g.Consume(ctx, "c", exp); !errors.Is(err, ErrGuardFull) {
		t.Fatalf("at the cap: %v, want ErrGuardFull (fail closed, never forget a used state)", err)
	}
	if err := g.Consume(ctx, "a", exp); !errors.Is(err, ErrReplayed) {
		t.Fatalf("a used id at the cap: %v, want ErrReplayed", err)
	}
	if g.Len() != 2 {
		t.Fatalf("Len = %d, want 2", g.Len())
	}

	clock.Advance(10 * time.Minute) // "a" expires; "b" has a minute left
	if g.Len() != 1 {
		t.Fatalf("Len after expiry = %d, want 1", g.Len())
	}
	if err := g.Consume(ctx, "c", clock.Now().Add(time.Minute)); err != nil {
		t.Fatalf("after expiry frees room: %v", err)
	}
	if err := g.Consume(ctx, "b", exp.Add(time.Minute)); !errors.Is(err, ErrReplayed) {
		t.Fatalf("unexpired b: %v, want ErrReplayed", err)
	}
	clock.Advance(time.Minute) // "b" expires too
	if err := g.Consume(ctx, "a", clock.Now().Add(time.Minute)); err != nil {
		t.Fatalf("an expired id is forgotten: %v", err)
	}
}

func TestMemoryGuardRejectsPastExpiry(t *testing.T) {
	clock := newFakeClock()
	g := NewMemoryGuard(WithGuardClock(clock.Now))
	for _, exp := range []time.Time{clock.Now(), clock.Now().Add(-time.Second)} {
		if err := g.Consume(context.Background(), "x", exp); !errors.Is(err, ErrExpired) {
			t.Fatalf("expiresAt %v at %v: %v, want ErrExpired", exp, clock.Now(), err)
		}
	}
}

func TestMemoryGuardHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := NewMemoryGuard().Consume(ctx, "x", time.Now().Add(time.Minute)); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled context: %v", err)
	}
}

func TestMemoryGuardOptionDefaults(t *testing.T) {
	g := NewMemoryGuard(WithGuardClock(nil), WithGuardMaxEntries(0))
	if g.now == nil || g.max != DefaultGuardMaxEntries {
		t.Fatalf("invalid options changed the defaults: max %d", g.max)
	}
}

func TestMemoryGuardPrunesInExpiryOrder(t *testing.T) {
	clock := newFakeClock()
	g := NewMemoryGuard(WithGuardClock(clock.Now))
	base := clock.Now()
	// Insert out of expiry order, as flows finish in a different order than
	// they begin.
	for _, min := range []int{7, 3, 9, 1, 5, 8, 2, 6, 4, 10} {
		if err := g.Consume(context.Background(), fmt.Sprint(min), base.Add(time.Duration(min)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	for min := 1; min <= 10; min++ {
		clock.Advance(time.Minute)
		if got := g.Len(); got != 10-min {
			t.Fatalf("after %d minutes Len = %d, want %d", min, got, 10-min)
		}
	}
}

func TestMemoryGuardConcurrentSameID(t *testing.T) {
	g := NewMemoryGuard()
	var ok atomic.Int32
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			if g.Consume(context.Background(), "same", time.Now().Add(time.Minute)) == nil {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 {
		t.Fatalf("%d concurrent Consume calls succeeded, want exactly 1", ok.Load())
	}
}

// TestMemoryGuardMemory measures what DefaultGuardMaxEntries costs, to keep
// its documentation honest.
func TestMemoryGuardMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates")
	}
	const n = 20_000
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	g := NewMemoryGuard()
	exp := time.Now().Add(time.Hour)
	for i := range n {
		if err := g.Consume(context.Background(), guardID(fmt.Sprint(i)), exp); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(after.HeapAlloc-before.HeapAlloc) / n
	t.Logf("%.0f bytes per entry; %.1f MB at DefaultGuardMaxEntries", per, per*DefaultGuardMaxEntries/1e6)
	if per*DefaultGuardMaxEntries > 20e6 {
		t.Fatalf("%.0f bytes per entry: DefaultGuardMaxEntries costs more than the documented ~15 MB", per)
	}
	runtime.KeepAlive(g)
}
