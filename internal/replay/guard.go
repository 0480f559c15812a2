package replay

import (
	"cmp"
	"context"
	"fmt"
	"hash/maphash"
	"math"
	"slices"
	"sync"
	"time"
)

// DefaultMaxEntries is how many ids a [Guard] holds unless [New] is given
// another bound. The worst case of 2,000 returns/s arriving 5 s to 9 min
// after their flow began, with a 10-minute TTL, is 1,310,000; see the
// package documentation for the arithmetic and the memory (under 64 MiB).
const DefaultMaxEntries = 1_500_000

// bucketWidth is the span of expiry times one bucket holds, in nanoseconds.
// It trades memory for lookups: an id is held until the end of its bucket,
// up to a bucket width past its expiresAt (2,000 returns/s × 60 s = 120,000
// ids at most), and each call looks in every live bucket, TTL/bucketWidth+1
// of them: 11 for the default TTL, 61 for an hour. Each look is a cache
// miss on a large guard, 0.1 to 0.2 µs; with 10 s buckets a call took 7 µs.
// A drop under pressure gives up at most one bucket width of the TTL.
const bucketWidth = int64(time.Minute)

// Guard remembers consumed ids until they expire, so that each is accepted
// once, in bounded memory: at most the maxEntries given to [New]. It fails
// closed: what it cannot vouch for is refused, never accepted (see the
// package documentation for a full guard). Create it with [New]; it is safe
// for concurrent use.
type Guard struct {
	now  func() time.Time
	max  int
	seed maphash.Seed

	mu      sync.Mutex
	buckets []*bucket // live buckets, the first to end first
	entries int       // ids in all buckets; at most max
	floor   int64     // unix ns: expiresAt <= floor is refused; MinInt64 until a drop
	dropped uint64
	refused uint64
}

// bucket holds the digests of the ids expiring in (end-bucketWidth, end].
type bucket struct {
	end    int64 // unix ns
	latest int64 // the latest expiresAt recorded, unix ns
	ids    map[uint64]struct{}
}

// New returns an empty guard reading the time from now (time.Now when nil)
// that holds at most maxEntries ids ([DefaultMaxEntries] when maxEntries <=
// 0).
func New(now func() time.Time, maxEntries int) *Guard {
	if now == nil {
		now = time.Now
	}
	if maxEntries <= 0 {
		maxEntries = DefaultMaxEntries
	}
	return &Guard{now: now, max: maxEntries, seed: maphash.MakeSeed(), floor: math.MinInt64}
}

// Consume records id as used until expiresAt and returns nil the first time
// it sees id. After that, until expiresAt, it returns [ErrReplayed], whatever
// expiresAt the later call gives. It returns [ErrExpired] when expiresAt is
// not after the guard's clock, and an error wrapping ErrExpired when the
// guard, under pressure, has dropped ids expiring at or after expiresAt and
// can no longer tell a first use from a replay (fail closed). A done ctx
// returns an error wrapping ctx.Err() and records nothing.
//
// id is the hex SHA-256 of the state (any string unique to it will do), and
// expiresAt the end of the flow's life. Once a full guard has dropped an
// id, only the floor refuses its replays, so that guarantee needs what
// package session does: the same expiresAt at every call for one id.
func (g *Guard) Consume(ctx context.Context, id string, expiresAt time.Time) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	now := g.now().UnixNano()
	exp := expiresAt.UnixNano()
	if exp <= now {
		return ErrExpired
	}
	d := maphash.String(g.seed, id)

	g.mu.Lock()
	defer g.mu.Unlock()
	g.expireLocked(now)
	if exp <= g.floor {
		g.refused++
		return ErrUnderPressure
	}
	// Every live bucket, not only exp's: a later call may give another
	// expiresAt for the same id.
	for _, b := range g.buckets {
		if _, ok := b.ids[d]; ok {
			return ErrReplayed
		}
	}
	for g.entries >= g.max {
		g.dropOldestLocked()
	}
	if exp <= g.floor {
		// Its own bucket was just dropped. It was not held, so this is a
		// first use, and the raised floor refuses any replay of it.
		return nil
	}
	g.bucketLocked(exp).ids[d] = struct{}{}
	g.entries++
	return nil
}

// expireLocked forgets the buckets that ended at or before now, in O(1)
// each. Their ids have all expired: a call naming one fails as expired
// before any lookup.
func (g *Guard) expireLocked(now int64) {
	n := 0
	for n < len(g.buckets) && g.buckets[n].end <= now {
		g.entries -= len(g.buckets[n].ids)
		n++
	}
	if n > 0 {
		g.buckets = slices.Delete(g.buckets, 0, n)
	}
}

// dropOldestLocked forgets the bucket that ends first, before its time, and
// raises the floor to the latest expiry it held. The guard is not empty.
func (g *Guard) dropOldestLocked() {
	b := g.buckets[0]
	g.buckets = slices.Delete(g.buckets, 0, 1)
	g.entries -= len(b.ids)
	g.dropped += uint64(len(b.ids))
	g.floor = max(g.floor, b.latest)
}

// bucketLocked returns the bucket exp falls in, adding it if needed, with
// exp counted in its latest.
func (g *Guard) bucketLocked(exp int64) *bucket {
	end := bucketEnd(exp)
	i, ok := slices.BinarySearchFunc(g.buckets, end, func(b *bucket, end int64) int { return cmp.Compare(b.end, end) })
	if !ok {
		g.buckets = slices.Insert(g.buckets, i, &bucket{end: end, latest: exp, ids: make(map[uint64]struct{})})
	}
	b := g.buckets[i]
	b.latest = max(b.latest, exp)
	return b
}

// bucketEnd rounds exp up to a multiple of bucketWidth, saturating.
func bucketEnd(exp int64) int64 {
	q := exp / bucketWidth // truncates toward zero: already the ceiling below zero
	if exp%bucketWidth > 0 {
		q++
	}
	if q > math.MaxInt64/bucketWidth {
		return math.MaxInt64
	}
	return q * bucketWidth
}
