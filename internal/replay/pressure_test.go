package replay

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// TestFullGuard fills a small guard with 100 entries spread over ten
// minutes and checks what happens when one more comes: the first to expire
// are forgotten, their replays and older flows refused as expired, never
// accepted, and a fresh flow accepted.
func TestFullGuard(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	g := New(clk.Now, 100)
	expOf := func(k int) time.Time { return t0.Add(time.Duration(k+1) * ttl / 100) }
	for k := range 100 {
		if err := g.Consume(ctx, idFor(uint64(k)), expOf(k)); err != nil {
			t.Fatalf("filling, entry %d: %v", k, err)
		}
	}
	if err := g.Consume(ctx, "fresh", t0.Add(ttl+time.Second)); err != nil {
		t.Fatalf("fresh flow on a full guard: %v", err)
	}
	if n := len(g.ids); n >= 100 || n < 80 {
		t.Fatalf("%d entries after a drop, want a few dropped", n)
	}
	floor := time.Unix(0, g.floor)
	for k := range 100 {
		want := ErrReplayed
		if !expOf(k).After(floor) {
			want = ErrExpired
		}
		err := g.Consume(ctx, idFor(uint64(k)), expOf(k))
		if !errors.Is(err, want) || errors.Is(err, ErrExpired) && errors.Is(err, ErrReplayed) {
			t.Fatalf("replay of entry %d: %v, want %v", k, err, want)
		}
	}
	if err := g.Consume(ctx, "fresh", t0.Add(ttl+time.Second)); !errors.Is(err, ErrReplayed) {
		t.Fatalf("replay of the fresh flow: %v, want ErrReplayed", err)
	}
	// The price: an unseen flow expiring no later than the floor is refused
	// too (the effective TTL shrank by what was dropped).
	if err := g.Consume(ctx, "old", floor); !errors.Is(err, ErrExpired) {
		t.Fatalf("unseen flow at the floor: %v, want ErrExpired", err)
	}
	// An unseen flow just past the floor whose own entries are dropped to
	// make room is accepted unrecorded; the raised floor refuses its replay.
	for k := 0; len(g.ids) < 100; k++ {
		if err := g.Consume(ctx, idFor(uint64(1000+k)), t0.Add(ttl+time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	late := floor.Add(time.Millisecond)
	if err := g.Consume(ctx, "late", late); err != nil {
		t.Fatalf("unseen flow past the floor: %v", err)
	}
	if err := g.Consume(ctx, "late", late); !errors.Is(err, ErrExpired) {
		t.Fatalf("replay of the flow accepted while dropping: %v, want ErrExpired", err)
	}
}

// TestFullGuardOneEntry is the tightest case: a guard of one entry.
func TestFullGuardOneEntry(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	g := New(clk.Now, 1)
	exp := t0.Add(ttl - time.Second)
	if err := g.Consume(ctx, "a", exp); err != nil {
		t.Fatal(err)
	}
	if err := g.Consume(ctx, "b", exp.Add(time.Millisecond)); err != nil {
		t.Fatalf("fresh flow after the only entry: %v", err)
	}
	for _, tc := range []struct {
		id   string
		exp  time.Time
		want error
	}{
		{"a", exp, ErrExpired},
		{"b", exp.Add(time.Millisecond), ErrReplayed},
		{"c", exp.Add(2 * time.Millisecond), nil},
		{"b", exp.Add(time.Millisecond), ErrExpired},
		{"c", exp.Add(2 * time.Millisecond), ErrReplayed},
	} {
		if err := g.Consume(ctx, tc.id, tc.exp); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Fatalf("Consume(%q) = %v, want %v", tc.id, err, tc.want)
		}
	}
}

// TestLoopCannotFailAnotherUsersReturn: one client finishing thousands of
// flows in a tight loop must not make another client's return fail.
func TestLoopCannotFailAnotherUsersReturn(t *testing.T) {
	ctx := context.Background()
	loop := func(g *Guard, clk *clock, n int) {
		for i := range n {
			clk.Advance(time.Millisecond)
			if err := g.Consume(ctx, idFor(uint64(1e9+i)), clk.Now().Add(ttl)); err != nil {
				t.Fatalf("loop return %d: %v", i, err)
			}
		}
	}
	t.Run("default capacity, flow begun before the loop", func(t *testing.T) {
		clk := newClock()
		g := New(clk.Now, DefaultMaxEntries)
		victim := clk.Now().Add(ttl) // began now
		clk.Advance(time.Minute)
		loop(g, clk, 50_000) // 50 s of a return every millisecond
		clk.Advance(time.Minute)
		if err := g.Consume(ctx, "victim", victim); err != nil {
			t.Fatalf("victim's return after the loop: %v", err)
		}
		if g.floor != math.MinInt64 {
			t.Fatal("the guard came under pressure")
		}
	})
	t.Run("small guard, flow begun after the loop", func(t *testing.T) {
		clk := newClock()
		g := New(clk.Now, 1000)
		loop(g, clk, 20_000)
		if g.floor == math.MinInt64 || len(g.ids) > 1000 {
			t.Fatalf("%d entries, floor %d: want drops and at most 1000 entries", len(g.ids), g.floor)
		}
		clk.Advance(time.Millisecond)
		victim := clk.Now().Add(ttl)
		clk.Advance(30 * time.Second)
		if err := g.Consume(ctx, "victim", victim); err != nil {
			t.Fatalf("fresh flow of another client: %v", err)
		}
		if err := g.Consume(ctx, "victim", victim); !errors.Is(err, ErrReplayed) {
			t.Fatalf("its replay: %v, want ErrReplayed", err)
		}
	})
}

// TestOverloadNeverAcceptsReplay runs a guard twenty times too small for
// its load: 2,000 returns/s for 5 minutes into 5,000 entries. It must stay
// within its bound, refuse every replay, refuse valid returns only as
// expired, and accept every flow begun just now.
func TestOverloadNeverAcceptsReplay(t *testing.T) {
	const maxEntries = 5000
	ctx := context.Background()
	r := rand.New(rand.NewPCG(3, 5))
	clk := newClock()
	g := New(clk.Now, maxEntries)
	type consumed struct {
		i   uint64
		exp time.Time
	}
	var done []consumed // every accepted return
	var refusedValid, acceptedReplays int
	for n := range uint64(rate * 5 * 60) {
		if n%2 == 0 {
			clk.Advance(time.Millisecond)
		}
		now := clk.Now()
		exp := now.Add(ttl - delay(r))
		switch err := g.Consume(ctx, idFor(n), exp); {
		case err == nil:
			done = append(done, consumed{n, exp})
		case errors.Is(err, ErrExpired) && !errors.Is(err, ErrReplayed):
			refusedValid++
		default:
			t.Fatalf("return %d: %v, want nil or ErrExpired", n, err)
		}
		if n%10 == 9 && len(done) > 0 {
			c := done[r.IntN(len(done))]
			if c.exp.After(now) {
				if err := g.Consume(ctx, idFor(c.i), c.exp); err == nil {
					acceptedReplays++
				}
			}
		}
		if n%1000 == 999 {
			if err := g.Consume(ctx, "fresh"+idFor(n), now.Add(ttl)); err != nil {
				t.Fatalf("flow begun at t0+%v: %v", now.Sub(t0), err)
			}
			if n := len(g.ids); n > maxEntries {
				t.Fatalf("%d entries: over the bound", n)
			}
		}
	}
	t.Logf("%d accepted, %d valid refused as expired", len(done), refusedValid)
	if acceptedReplays != 0 {
		t.Fatalf("%d replays accepted", acceptedReplays)
	}
	if refusedValid == 0 {
		t.Fatal("no return refused under pressure: the guard was not full")
	}
}
