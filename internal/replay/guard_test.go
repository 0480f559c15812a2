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
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	timedOut, cancel2 := context.WithDeadline(context.Background(), time.Unix(1, 0))
	defer cancel2()

	type call struct {
		ctx     context.Context // nil: Background
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
			{id: "a", exp: 3 * ttl, advance: ttl + time.Duration(bucketWidth), want: nil},
		}},
		{"cancelled context records nothing", []call{
			{ctx: cancelled, id: "a", exp: ttl, want: context.Canceled},
			{ctx: timedOut, id: "a", exp: ttl, want: context.DeadlineExceeded},
			{id: "a", exp: ttl, want: nil},
		}},
		{"cancelled context before replay check", []call{
			{id: "a", exp: ttl, want: nil},
			{ctx: cancelled, id: "a", exp: ttl, want: context.Canceled},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			g := New(clk.Now, 0)
			for i, c := range tc.calls {
				clk.Advance(c.advance)
				ctx := c.ctx
				if ctx == nil {
					ctx = context.Background()
				}
				err := g.Consume(ctx, c.id, t0.Add(c.exp))
				if c.want == nil && err != nil || !errors.Is(err, c.want) {
					t.Fatalf("call %d: Consume(%q, t0%+v) = %v, want %v", i, c.id, c.exp, err, c.want)
				}
			}
		})
	}
}

func TestStatsForgetsEndedBuckets(t *testing.T) {
	w := time.Duration(bucketWidth)
	clk := newClock()
	g := New(clk.Now, 0)
	for i := range 30 {
		// A tenth of a bucket apart: three buckets, (t0+w, t0+2w] and on.
		exp := t0.Add(w + time.Duration(i)*w/10 + time.Millisecond)
		if err := g.Consume(context.Background(), idFor(uint64(i)), exp); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		at   time.Duration
		want int
	}{
		{0, 30},
		{2*w - 1, 30},
		{2 * w, 20}, // the first bucket ended
		{3 * w, 10},
		{4 * w, 0},
	} {
		clk.ns.Store(t0.Add(tc.at).UnixNano())
		if s := g.Stats(); s.Entries != tc.want || s.Dropped != 0 || !s.Floor.IsZero() {
			t.Errorf("at t0+%v: Stats() = %+v, want %d entries, no drop", tc.at, s, tc.want)
		}
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
		{"default", 0, true},
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
							_ = g.Stats()
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

func TestNewDefaults(t *testing.T) {
	for _, max := range []int{0, -1} {
		if g := New(nil, max); g.max != DefaultMaxEntries || g.now == nil {
			t.Errorf("New(nil, %d): max %d, now set %v; want %d and time.Now", max, g.max, g.now != nil, DefaultMaxEntries)
		}
	}
	// time.Now by default: a flow a minute from now is accepted, one a minute ago expired.
	g := New(nil, 0)
	if err := g.Consume(context.Background(), "a", time.Now().Add(time.Minute)); err != nil {
		t.Errorf("fresh flow on the real clock: %v", err)
	}
	if err := g.Consume(context.Background(), "b", time.Now().Add(-time.Minute)); !errors.Is(err, ErrExpired) {
		t.Errorf("expired flow on the real clock: %v, want ErrExpired", err)
	}
}

func TestBucketEnd(t *testing.T) {
	w := bucketWidth
	for _, tc := range []struct{ exp, want int64 }{
		{0, 0}, {1, w}, {w - 1, w}, {w, w}, {w + 1, 2 * w},
		{-1, 0}, {-w + 1, 0}, {-w, -w}, {-w - 1, -w},
		{1<<63 - 1, 1<<63 - 1},
	} {
		if got := bucketEnd(tc.exp); got != tc.want {
			t.Errorf("bucketEnd(%d) = %d, want %d", tc.exp, got, tc.want)
		}
	}
}
