package replay

import "time"

// Stats is a snapshot of a [Guard], for metrics.
type Stats struct {
	// Entries is how many consumed ids the guard holds, at most the bound
	// given to [New]. It includes ids up to one minute past their
	// expiresAt, whose bucket has not ended.
	Entries int
	// Floor is the latest expiresAt among the ids dropped under pressure,
	// while it is in the future: until then every flow expiring at or
	// before it is refused as expired. Zero when no drop is in effect.
	Floor time.Time
	// Dropped counts the ids dropped before their expiry because the guard
	// was full, since [New].
	Dropped uint64
	// RefusedUnderPressure counts the calls refused because their expiresAt
	// was at or before the floor, since [New].
	RefusedUnderPressure uint64
}

// Stats returns a snapshot of g. Like [Guard.Consume] it first forgets the
// buckets that have ended, in O(1) each.
func (g *Guard) Stats() Stats {
	now := g.now().UnixNano()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.expireLocked(now)
	s := Stats{Entries: g.entries, Dropped: g.dropped, RefusedUnderPressure: g.refused}
	if g.floor > now {
		s.Floor = time.Unix(0, g.floor)
	}
	return s
}
