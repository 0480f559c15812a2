package replay

import (
	"container/heap"
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// consumer is what the benchmarks drive: a Guard or the baseline.
type consumer interface {
	Consume(ctx context.Context, id string, expiresAt time.Time) error
}

// arenaLen is how many distinct ids the benchmarks draw from. Past the end
// they start again, by then (at 0.5 ms of fake time per call) long expired.
const arenaLen = 1 << 23

var arena = sync.OnceValue(func() string { return idArena(arenaLen) })

// steady returns a guard (or baseline) in the steady state of the load the
// default capacity is sized for, after 10 simulated minutes of 2,000
// returns/s, with the clock and the number of ids used.
func steady(b *testing.B, newGuard func(now func() time.Time) consumer) (consumer, *clock, int, *rand.Rand) {
	b.Helper()
	ids := arena()
	r := rand.New(rand.NewPCG(7, 11))
	clk := newClock()
	g := newGuard(clk.Now)
	n := 0
	for ; n < rate*600; n++ {
		clk.Advance(time.Second / rate)
		if err := g.Consume(context.Background(), ids[n:n+64], clk.Now().Add(ttl-delay(r))); err != nil {
			b.Fatal(err)
		}
	}
	return g, clk, n, r
}

func newReplayGuard(now func() time.Time) consumer { return New(now, 0) }
func newBaseline(now func() time.Time) consumer    { return &baseline{now: now, seen: map[string]int64{}} }

// BenchmarkConsume measures one return on a guard holding the steady state
// of 2,000 returns/s (about 660,000 ids), beside the previous design
// written by hand (a map of the id strings and a heap of expiries).
func BenchmarkConsume(b *testing.B) {
	for _, bc := range []struct {
		name string
		new  func(now func() time.Time) consumer
	}{
		{"guard", newReplayGuard},
		{"baseline", newBaseline},
	} {
		b.Run(bc.name+"/fresh", func(b *testing.B) {
			g, clk, n, r := steady(b, bc.new)
			ids := arena()
			ctx := context.Background()
			for b.Loop() {
				clk.Advance(time.Second / rate)
				i := n % arenaLen
				n++
				if err := g.Consume(ctx, ids[i:i+64], clk.Now().Add(ttl-delay(r))); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(bc.name+"/replayed", func(b *testing.B) {
			g, clk, n, _ := steady(b, bc.new)
			ids := arena()
			ctx := context.Background()
			// The last return, still 5 s to 9 min from its expiry.
			id, exp := ids[n-1:n-1+64], clk.Now().Add(ttl-maxDelay)
			if err := g.Consume(ctx, id, exp); !errors.Is(err, ErrReplayed) {
				b.Fatalf("replay: %v", err)
			}
			for b.Loop() {
				if err := g.Consume(ctx, id, exp); err != ErrReplayed {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkConsumeParallel is BenchmarkConsume/guard/fresh from every
// processor at once.
func BenchmarkConsumeParallel(b *testing.B) {
	g, clk, n, _ := steady(b, newReplayGuard)
	ids := arena()
	var next atomic.Int64
	next.Store(int64(n))
	var seed atomic.Uint64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		r := rand.New(rand.NewPCG(seed.Add(1), 0))
		for pb.Next() {
			clk.Advance(time.Second / rate)
			i := int(next.Add(1)) % arenaLen
			if err := g.Consume(ctx, ids[i:i+64], clk.Now().Add(ttl-delay(r))); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// baseline is the design this package replaces, by hand: every id string
// in a map, a heap of expiries to forget them in order, no bound.
type baseline struct {
	now  func() time.Time
	mu   sync.Mutex
	seen map[string]int64
	exp  expiryHeap
}

func (g *baseline) Consume(ctx context.Context, id string, expiresAt time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now, exp := g.now().UnixNano(), expiresAt.UnixNano()
	if exp <= now {
		return ErrExpired
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for len(g.exp) > 0 && g.exp[0].exp <= now {
		delete(g.seen, heap.Pop(&g.exp).(expiry).id)
	}
	if _, ok := g.seen[id]; ok {
		return ErrReplayed
	}
	g.seen[id] = exp
	heap.Push(&g.exp, expiry{id, exp})
	return nil
}

type expiry struct {
	id  string
	exp int64
}

type expiryHeap []expiry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].exp < h[j].exp }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
