package replay

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"
)

// maxBytesPerEntry bounds what one id held costs in the guard's map: a
// slot for a uint64 key and an int64 value is 16 bytes plus one control
// byte, and a table is between 7/16 and 7/8 full, so 17 / (7/16) ≈ 38.9
// bytes at worst.
const maxBytesPerEntry = 17.0 * 16 / 7

const budget = 64 << 20 // 64 MiB

// liveHeap returns the bytes of the heap still reachable after collection.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestSustainedLoad is the proof of the default capacity: 2,000 returns/s
// for 25 simulated minutes, each arriving 5 s to 9 min after its flow began
// (uniformly), with a replay of an earlier, unexpired, consumed state after
// every 50th return. No valid return may be refused, no replay accepted,
// and the guard must stay under 64 MiB at its peak.
func TestSustainedLoad(t *testing.T) {
	const (
		simulated = 25 * time.Minute
		step      = 10 * time.Millisecond     // the clock moves in steps of 10 ms...
		perStep   = rate * step / time.Second // ...with 20 returns each
		steps     = int(simulated / step)
		total     = steps * int(perStep)
		perMinute = int(time.Minute / step)
	)
	// A return consumed more than maxLife ago has expired; the ring keeps
	// the returns of the last maxLife to draw replays from.
	const maxLife = ttl - minDelay
	type consumed struct {
		i   int
		exp int64
	}
	ring := make([]consumed, int(maxLife/time.Second)*rate)

	ctx := context.Background()
	r := rand.New(rand.NewPCG(7, 11))
	ids := idArena(total) // id of return n: ids[n:n+64]
	// One goroutine: a plain variable is clock enough, and spares the race
	// detector an atomic load per call.
	now := t0.UnixNano()
	before := liveHeap()
	g := New(func() time.Time { return time.Unix(0, now) }, DefaultMaxEntries)

	var (
		refused, accepted, replays int
		peakHeld                   int
		peakHeap                   uint64
		heaps                      []uint64 // at the end of each minute
	)
	measure := func() {
		peakHeld = max(peakHeld, len(g.ids))
		h := liveHeap() - before
		heaps = append(heaps, h)
		if h > peakHeap {
			peakHeap = h
		}
	}
	n := 0
	for st := 1; st <= steps; st++ {
		now += int64(step)
		for range perStep {
			exp := now - int64(delay(r)) + int64(ttl)
			if err := g.Consume(ctx, ids[n:n+64], time.Unix(0, exp)); err != nil {
				refused++
				if refused <= 5 {
					t.Errorf("return %d at t0+%v refused: %v", n, time.Duration(now-t0.UnixNano()), err)
				}
			}
			ring[n%len(ring)] = consumed{n, exp}
			n++

			if n%50 == 0 {
				// Draw earlier returns until one is still unexpired (half
				// of them are); the one just made always is.
				var c consumed
				for range 20 {
					if c = ring[r.IntN(min(n, len(ring)))]; c.exp > now {
						break
					}
				}
				if c.exp <= now {
					c = ring[(n-1)%len(ring)]
				}
				replays++
				if err := g.Consume(ctx, ids[c.i:c.i+64], time.Unix(0, c.exp)); !errors.Is(err, ErrReplayed) {
					accepted++
					if accepted <= 5 {
						t.Errorf("replay of return %d at t0+%v: %v, want ErrReplayed", c.i, time.Duration(now-t0.UnixNano()), err)
					}
				}
			}
		}
		if st%perMinute == perMinute-1 {
			// The last step before a whole minute, when the guard sweeps:
			// it is at the top of its sawtooth.
			measure()
		}
	}
	runtime.KeepAlive(ids)
	runtime.KeepAlive(ring)
	t.Logf("%d returns over %v, %d replays; peak %d ids held, live heap %.1f MiB (%.1f B/id)",
		total, simulated, replays, peakHeld, float64(peakHeap)/(1<<20), float64(peakHeap)/float64(peakHeld))

	if refused != 0 || accepted != 0 {
		t.Fatalf("%d valid returns refused, %d replays accepted; want none", refused, accepted)
	}
	if g.floor != math.MinInt64 {
		t.Fatal("the guard came under pressure")
	}
	// Little's law: rate × mean life, 10 min − mean delay, plus the minute
	// since the last sweep.
	life := ttl - (minDelay+maxDelay)/2 + time.Minute
	if want := rate * life.Seconds(); float64(peakHeld) > 1.02*want || float64(peakHeld) < 0.98*want {
		t.Errorf("peak %d ids held, want about %.0f (rate × %v)", peakHeld, want, life)
	}
	if bound := float64(peakHeld) * maxBytesPerEntry; bound >= budget {
		t.Errorf("computed bound %.1f MiB for %d ids, want under 64 MiB", bound/(1<<20), peakHeld)
	}
	if peakHeap >= budget {
		t.Errorf("measured %.1f MiB at the peak, want under 64 MiB", float64(peakHeap)/(1<<20))
	}
	// From minute 11 the load is steady: memory must not creep.
	if steady, last := heaps[10], heaps[len(heaps)-1]; float64(last) > 1.05*float64(steady) {
		t.Errorf("heap grew from %.1f MiB at minute 11 to %.1f MiB at minute 25 under a steady load",
			float64(steady)/(1<<20), float64(last)/(1<<20))
	}
}

// TestDefaultCapacityMemory fills a guard to DefaultMaxEntries, the most it
// ever holds, with expiries spread over one TTL, and measures it. It runs
// under the race detector too: the live heap it measures is the same.
func TestDefaultCapacityMemory(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	ids := idArena(DefaultMaxEntries) // id i is ids[i:i+64], no allocation per call
	before := liveHeap()
	g := New(clk.Now, DefaultMaxEntries)
	span := int64(ttl)
	for i := range DefaultMaxEntries {
		exp := t0.Add(time.Second + time.Duration(int64(i)*span/DefaultMaxEntries))
		if err := g.Consume(ctx, ids[i:i+64], exp); err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
	}
	heap := liveHeap() - before
	t.Logf("%d entries: live heap %.1f MiB (%.1f B/entry)",
		len(g.ids), float64(heap)/(1<<20), float64(heap)/float64(len(g.ids)))
	if len(g.ids) != DefaultMaxEntries || g.floor != math.MinInt64 {
		t.Fatalf("%d entries, floor %d: want %d and no drop", len(g.ids), g.floor, DefaultMaxEntries)
	}
	if heap >= budget {
		t.Fatalf("full default guard: %.1f MiB, want under 64 MiB", float64(heap)/(1<<20))
	}
	if bound := DefaultMaxEntries * maxBytesPerEntry; bound >= budget {
		t.Fatalf("computed bound %.1f MiB, want under 64 MiB", bound/(1<<20))
	}
	// One more drops the eighth of the span that expires first.
	if err := g.Consume(ctx, "one more", t0.Add(ttl)); err != nil {
		t.Fatal(err)
	}
	want := DefaultMaxEntries - DefaultMaxEntries/8
	if n := len(g.ids); n < want-2 || n > want+2 {
		t.Fatalf("after one more: %d entries, want about %d", n, want)
	}
	runtime.KeepAlive(g)
	runtime.KeepAlive(ids)
}
