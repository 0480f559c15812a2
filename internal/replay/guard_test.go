package replay

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestConsume(t *testing.T) {
	type call struct {
		id      string
		exp     time.Duration // expiresAt - t0
		advance time.Duration // clock move before the call
		want    error         // checked with errors.Is; nil means nil
	}
	tests := []struct {
		name  string
		calls []call
	}{
		{"first use then replay", []call{
			{id: "a", exp: ttl, want: nil},
			{id: "a", exp: ttl, want: ErrReplayed},
			{id: "a", exp: ttl, advance: ttl - time.Nanosecond, want: ErrReplayed},
		}},
		{"replay under another expiresAt", []call{
			{id: "a", exp: ttl, want: nil},
			{id: "a", exp: 2 * ttl, want: ErrReplayed},
			{id: "a", exp: time.Minute, want: ErrReplayed},
		}},
		{"distinct ids", []call{
			{id: "a", exp: ttl, want: nil},
			{id: "b", exp: ttl, want: nil},
			{id: "", exp: ttl, want: nil},
			{id: "", exp: ttl, want: ErrReplayed},
		}},
		{"expired at the call", []call{
			{id: "a", exp: 0, want: ErrExpired},
			{id: "b", exp: -time.Hour, want: ErrExpired},
		}},
		{"replay after expiry is expired", []call{
			{id: "a", exp: ttl, want: nil},
			{id: "a", exp: ttl, advance: ttl, want: ErrExpired},
		}},
		{"forgotten after expiry", []call{
			{id: "a", exp: ttl, want: nil},
			// A later flow with the same id (impossible for a fresh state,
			// but it shows the entry is gone).
			{id: "a", exp: 3 * ttl, advance: ttl + time.Minute, want: nil},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			g := New(clk.Now, DefaultMaxEntries)
			for i, c := range tc.calls {
				clk.Advance(c.advance)
				err := g.Consume(context.Background(), c.id, t0.Add(c.exp))
				if c.want == nil && err != nil || !errors.Is(err, c.want) {
					t.Fatalf("call %d: Consume(%q, t0%+v) = %v, want %v", i, c.id, c.exp, err, c.want)
				}
			}
		})
	}
}

// TestConcurrentFirstUse checks that racing returns with one state accept
// it once at most: exactly once when the guard has room.
func TestConcurrentFirstUse(t *testing.T) {
	const ids, workers = 2000, 8
	for _, tc := range []struct {
		name       string
		maxEntries int
		exactly    bool
	}{
		{"default", DefaultMaxEntries, true},
		{"under pressure", 300, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			g := New(clk.Now, tc.maxEntries)
			var accepted [ids]atomic.Int32
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					for i := range ids {
						j := (i + w*ids/workers) % ids // start at different places
						// Later ids expire later, as with flows begun later.
						err := g.Consume(context.Background(), idFor(uint64(j)), t0.Add(ttl+time.Duration(j)*time.Millisecond))
						switch {
						case err == nil:
							accepted[j].Add(1)
						case !errors.Is(err, ErrReplayed) && !errors.Is(err, ErrExpired):
							t.Errorf("id %d: %v", j, err)
						}
						if i%100 == 0 {
							clk.Advance(time.Millisecond)
						}
					}
				})
			}
			wg.Wait()
			for j := range accepted {
				if n := accepted[j].Load(); n > 1 || tc.exactly && n != 1 {
					t.Fatalf("id %d accepted %d times", j, n)
				}
			}
		})
	}
}
