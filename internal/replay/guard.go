package replay

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"sync"
	"time"
)

// Errors returned by [Guard.Consume]. Their messages carry the session
// package's prefix because package session re-exports them as its own
// sentinels (session.ErrReplayed, session.ErrExpired).
var (
	// ErrReplayed means the id was consumed before and its expiresAt has not
	// passed: the return is a replay of a used state.
	ErrReplayed = errors.New("session: state already used")
	// ErrExpired means the flow is past its expiresAt.
	ErrExpired = errors.New("session: flow expired")
	// ErrUnderPressure means a full guard dropped ids expiring at or after
	// the flow's expiresAt, and so refuses it as expired.
	ErrUnderPressure = fmt.Errorf("replay: refused as expired: replay guard under pressure: %w", ErrExpired)
)

// DefaultMaxEntries is the bound on the ids a [Guard] holds that package
// session gives [New]; see the package documentation for the arithmetic.
const DefaultMaxEntries = 1_500_000

// Guard remembers consumed ids until they expire, so that each is accepted
// once, in bounded memory. It fails closed: what it cannot vouch for is
// refused, never accepted. Create it with [New]; it is safe for concurrent
// use.
type Guard struct {
	now  func() time.Time
	max  int
	seed maphash.Seed

	mu      sync.Mutex
	ids     map[uint64]int64 // digest of id → expiresAt, unix ns
	sweepAt int64            // unix ns: the next sweep of expired ids
	floor   int64            // unix ns: expiresAt <= floor is refused
}

// New returns an empty guard reading the time from now that holds at most
// maxEntries ids.
func New(now func() time.Time, maxEntries int) *Guard {
	return &Guard{now: now, max: maxEntries, seed: maphash.MakeSeed(), ids: map[uint64]int64{}, floor: math.MinInt64}
}

// Consume records id as used until expiresAt and returns nil the first time
// it sees id. After that, until expiresAt, it returns [ErrReplayed], whatever
// expiresAt the later call gives. It returns [ErrExpired] when expiresAt is
// not after the guard's clock, and [ErrUnderPressure] when a full guard has
// dropped ids expiring at or after expiresAt (fail closed). It does not
// wait, so it ignores ctx.
func (g *Guard) Consume(_ context.Context, id string, expiresAt time.Time) error {
	now := g.now().UnixNano()
	exp := expiresAt.UnixNano()
	if exp <= now {
		return ErrExpired
	}
	d := maphash.String(g.seed, id)

	g.mu.Lock()
	defer g.mu.Unlock()
	if exp <= g.floor {
		return ErrUnderPressure
	}
	if held, ok := g.ids[d]; ok && held > now {
		return ErrReplayed
	}
	if now >= g.sweepAt || len(g.ids) >= g.max {
		g.sweepLocked(now, now)
	}
	if len(g.ids) >= g.max {
		// Full of unexpired ids: forget the eighth of their expiry span
		// that ends first, and refuse what expires in it from now on.
		lo, hi := int64(math.MaxInt64), now
		for _, e := range g.ids {
			lo, hi = min(lo, e), max(hi, e)
		}
		g.floor = lo + (hi-lo)/8
		g.sweepLocked(g.floor, now)
	}
	g.ids[d] = exp
	return nil
}

// sweepLocked forgets the ids expiring at or before cutoff, and sets the
// next sweep a minute after now. It copies the others to a new map: a map
// deleted from keeps growing under churn.
func (g *Guard) sweepLocked(cutoff, now int64) {
	ids := make(map[uint64]int64)
	for d, e := range g.ids {
		if e > cutoff {
			ids[d] = e
		}
	}
	g.ids = ids
	g.sweepAt = now + int64(time.Minute)
}
