package replay

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"
	"time"
)

// TestFullGuard fills a small guard with 100 entries in ten buckets and
// checks what happens when one more comes.
func TestFullGuard(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	g := New(clk.Now, 100)
	// Entry k is the (k%10+1)th of bucket k/10, which ends at t0 + w*(k/10+2).
	w := time.Duration(bucketWidth)
	expOf := func(k int) time.Time { return t0.Add(w*time.Duration(k/10+1) + w*time.Duration(k%10+1)/20) }
	for k := range 100 {
		if err := g.Consume(ctx, idFor(uint64(k)), expOf(k)); err != nil {
			t.Fatalf("filling, entry %d: %v", k, err)
		}
	}
	check := func(when string, want Stats) {
		t.Helper()
		if s := g.Stats(); s != want {
			t.Fatalf("%s: Stats() = %+v, want %+v", when, s, want)
		}
	}
	check("full", Stats{Entries: 100})

	// A fresh flow is accepted: the first bucket (entries 0-9) goes.
	if err := g.Consume(ctx, "fresh", t0.Add(ttl)); err != nil {
		t.Fatalf("fresh flow on a full guard: %v", err)
	}
	floor := expOf(9)
	check("after one drop", Stats{Entries: 91, Floor: floor, Dropped: 10})

	steps := []struct {
		name string
		id   string
		exp  time.Time
		want error
	}{
		{"replay of a dropped id is refused as expired", idFor(3), expOf(3), ErrExpired},
		{"replay of the last dropped id is refused as expired", idFor(9), expOf(9), ErrExpired},
		{"replay of a kept id is replayed", idFor(50), expOf(50), ErrReplayed},
		{"replay of the first kept id is replayed", idFor(10), expOf(10), ErrReplayed},
		{"replay of the fresh flow is replayed", "fresh", t0.Add(ttl), ErrReplayed},
		// The price: an unseen flow expiring no later than the floor is
		// refused too (the effective TTL shrank by what was dropped).
		{"unseen flow at the floor is refused", "old", floor, ErrExpired},
	}
	for _, st := range steps {
		err := g.Consume(ctx, st.id, st.exp)
		if !errors.Is(err, st.want) {
			t.Fatalf("%s: Consume = %v, want %v", st.name, err, st.want)
		}
		if errors.Is(err, ErrExpired) && errors.Is(err, ErrReplayed) {
			t.Fatalf("%s: %v is both expired and replayed", st.name, err)
		}
	}
	check("after the refusals", Stats{Entries: 91, Floor: floor, Dropped: 10, RefusedUnderPressure: 3})

	// Fill the free slots, then an unseen flow just past the floor, in the
	// second bucket: that bucket is dropped to make room, so the flow
	// (first use) is accepted unrecorded and its replay refused by the new
	// floor.
	for k := 100; k < 109; k++ {
		if err := g.Consume(ctx, idFor(uint64(k)), t0.Add(ttl)); err != nil {
			t.Fatal(err)
		}
	}
	late := expOf(15).Add(100 * time.Millisecond)
	if err := g.Consume(ctx, "late", late); err != nil {
		t.Fatalf("unseen flow past the floor: %v", err)
	}
	if err := g.Consume(ctx, "late", late); !errors.Is(err, ErrExpired) {
		t.Fatalf("replay of the flow accepted in a dropped bucket: %v, want ErrExpired", err)
	}
	check("after the second drop", Stats{Entries: 90, Floor: expOf(19), Dropped: 20, RefusedUnderPressure: 4})

	// Once the floor is past, Stats shows no floor and time alone expires.
	clk.ns.Store(expOf(19).UnixNano())
	check("floor passed", Stats{Entries: 90, Dropped: 20, RefusedUnderPressure: 4})
	clk.ns.Store(t0.Add(4 * w).UnixNano()) // the end of entries 20-29
	check("third bucket ended", Stats{Entries: 80, Dropped: 20, RefusedUnderPressure: 4})
}

// TestFullGuardOneBucket is the tightest case: every entry in the bucket
// the new flow belongs to.
func TestFullGuardOneBucket(t *testing.T) {
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
		g := New(clk.Now, 0)
		victim := clk.Now().Add(ttl) // began now
		clk.Advance(time.Minute)
		loop(g, clk, 50_000) // 50 s of a return every millisecond
		clk.Advance(time.Minute)
		if err := g.Consume(ctx, "victim", victim); err != nil {
			t.Fatalf("victim's return after the loop: %v", err)
		}
		if s := g.Stats(); s.Dropped != 0 || s.RefusedUnderPressure != 0 {
			t.Fatalf("Stats() = %+v, want no pressure", s)
		}
	})
	t.Run("small guard, flow begun after the loop", func(t *testing.T) {
		clk := newClock()
		g := New(clk.Now, 1000)
		loop(g, clk, 20_000)
		s := g.Stats()
		if s.Dropped == 0 || s.Entries > 1000 {
			t.Fatalf("Stats() = %+v, want drops and at most 1000 entries", s)
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
			if s := g.Stats(); s.Entries > maxEntries {
				t.Fatalf("Stats() = %+v: over the bound", s)
			}
		}
	}
	s := g.Stats()
	t.Logf("%d accepted, %d valid refused as expired; %+v", len(done), refusedValid, s)
	if acceptedReplays != 0 {
		t.Fatalf("%d replays accepted", acceptedReplays)
	}
	if s.Dropped == 0 || s.RefusedUnderPressure == 0 || int(s.RefusedUnderPressure) < refusedValid {
		t.Fatalf("Stats() = %+v: want drops and refusals counted", s)
	}
}
