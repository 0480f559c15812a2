package session

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// ReplayGuard records used states server-side, so that each is accepted once
// even when an old copy of the flow cookie, which still lists it, is sent
// again (SECURITY.md B4). A cookie store alone cannot stop that.
//
// Consume records id until expiresAt and returns nil the first time it sees
// id; after that, until expiresAt, it returns an error wrapping
// [ErrReplayed]. id is the hex SHA-256 of the state, never the state itself.
// Any other error (a store outage, a full guard) makes [Manager.Finish] fail
// closed. Implementations must be safe for concurrent use; one shared by all
// instances of an app (Redis) gives one-time use across the fleet.
type ReplayGuard interface {
	Consume(ctx context.Context, id string, expiresAt time.Time) error
}

// DefaultGuardMaxEntries is how many unexpired states a [MemoryGuard] holds
// unless [WithGuardMaxEntries] says otherwise: about 15 MB of memory when
// full.
const DefaultGuardMaxEntries = 100_000

// MemoryGuard is an in-process [ReplayGuard] for one app instance.
//
// It remembers each id until its expiresAt, by its own clock, and forgets it
// after (expired entries are pruned on every call). Memory is bounded: when
// it holds its maximum number of unexpired ids, Consume fails closed with
// [ErrGuardFull] instead of forgetting a used state, until entries expire,
// which takes at most one TTL. Calls to Consume with an expiresAt already
// past return an error wrapping [ErrExpired].
//
// What it guarantees: on a single instance, a state is accepted at most once
// while it is unexpired, including when an old cookie copy is replayed. What
// it does not: it forgets everything on restart, and instances behind a load
// balancer do not share it, so an old cookie copy replayed to another
// instance (or after a restart) within the TTL is accepted once more there.
// Use a shared guard for a fleet.
//
// A MemoryGuard is safe for concurrent use.
type MemoryGuard struct {
	now func() time.Time
	max int

	mu   sync.Mutex
	seen map[string]int64 // id -> expiresAt, unix nanoseconds
	heap []guardEntry     // min-heap by expires: the next id to forget on top
}

type guardEntry struct {
	id      string
	expires int64
}

// GuardOption configures a [MemoryGuard].
type GuardOption func(*MemoryGuard)

// WithGuardClock sets the guard's clock. Default time.Now; nil keeps it.
// [New] gives its default guard the Manager's clock.
func WithGuardClock(now func() time.Time) GuardOption {
	return func(g *MemoryGuard) {
		if now != nil {
			g.now = now
		}
	}
}

// WithGuardMaxEntries sets how many unexpired ids the guard holds before it
// fails closed with [ErrGuardFull]. Default [DefaultGuardMaxEntries]; values
// below 1 keep the default.
func WithGuardMaxEntries(n int) GuardOption {
	return func(g *MemoryGuard) {
		if n >= 1 {
			g.max = n
		}
	}
}

// NewMemoryGuard returns an empty in-memory guard.
func NewMemoryGuard(opts ...GuardOption) *MemoryGuard {
	g := &MemoryGuard{now: time.Now, max: DefaultGuardMaxEntries, seen: make(map[string]int64)}
	for _, o := range opts {
		o(g)
	}
	return g
}

// Consume implements [ReplayGuard].
func (g *MemoryGuard) Consume(ctx context.Context, id string, expiresAt time.Time) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("session: memory guard: %w", err)
	}
	now := g.now().UnixNano()
	exp := expiresAt.UnixNano()
	if exp <= now {
		return fmt.Errorf("session: memory guard: %w", ErrExpired)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.pruneLocked(now)
	if _, ok := g.seen[id]; ok {
		return ErrReplayed
	}
	if len(g.seen) >= g.max {
		return ErrGuardFull
	}
	g.seen[id] = exp
	g.push(guardEntry{id: id, expires: exp})
	return nil
}

// Len returns the number of unexpired ids the guard holds.
func (g *MemoryGuard) Len() int {
	now := g.now().UnixNano()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.pruneLocked(now)
	return len(g.seen)
}

// pruneLocked forgets every id expired at now. Each id is in the heap exactly
// once while it is in seen, so popping the expired top entries is enough.
func (g *MemoryGuard) pruneLocked(now int64) {
	for len(g.heap) > 0 && g.heap[0].expires <= now {
		delete(g.seen, g.pop().id)
	}
}

func (g *MemoryGuard) push(e guardEntry) {
	g.heap = append(g.heap, e)
	for i := len(g.heap) - 1; i > 0; {
		p := (i - 1) / 2
		if g.heap[p].expires <= g.heap[i].expires {
			break
		}
		g.heap[p], g.heap[i] = g.heap[i], g.heap[p]
		i = p
	}
}

func (g *MemoryGuard) pop() guardEntry {
	h := g.heap
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h[last] = guardEntry{}
	h = h[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(h) && h[l].expires < h[m].expires {
			m = l
		}
		if r < len(h) && h[r].expires < h[m].expires {
			m = r
		}
		if m == i {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	g.heap = h
	return top
}
