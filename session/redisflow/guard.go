package redisflow

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/handoffkit/handoffkit/session"
)

// replayGuard is NewReplayGuard's guard.
type replayGuard struct {
	rdb      redis.UniversalClient
	prefix   string
	timeout  time.Duration
	replicas int
	now      func() time.Time
	nonce    func() string // the value each call writes; a seam for tests
}

// NewReplayGuard returns a [session.ReplayGuard] on Redis, shared by every
// instance of an app: a state is accepted once across the whole fleet
// until it expires (SECURITY.md B4). It records used states in rdb, under
// "handoffkit:used:" unless [WithKeyPrefix] says otherwise, with each
// call bounded by [WithTimeout] (default 500 ms). It does no I/O: an
// unreachable Redis shows on the first return, not at start-up. It is safe
// for concurrent use.
//
// Pass it to session.WithReplayGuard on every instance, with the same
// Redis (or cluster) and prefix, and [WithClock] set to the Manager's clock
// when the Manager has one.
//
// Each first use is one command, SET key nonce NX PX ttl, where key is the
// prefix followed by the id the Manager passes (the hex SHA-256 of the
// state, never the state) and ttl is what is left of the flow's life. An
// id already set is a replay: [session.ErrReplayed]. Anything else that
// keeps the SET from answering (Redis down, slow, read-only, out of memory,
// or fewer replicas than [WithReplicas] acknowledging it) is
// [session.ErrUnavailable], and the Manager fails the return closed. A
// state whose expiry is not after the guard's clock is [session.ErrExpired],
// and nothing is written.
//
// The id must be what the Manager passes: 64 lowercase hexadecimal digits.
// Anything else is refused before any Redis call, so that no state can end
// up in Redis by mistake.
//
// The value written is a random nonce of the call: when go-redis retries a
// SET whose reply was lost, the guard finds its own nonce and still
// reports the first use, instead of a false replay. A SET that outlives
// the timeout may still land: the state then counts as used, which is
// harmless, since the return it belonged to has already failed closed.
func NewReplayGuard(rdb redis.UniversalClient, opts ...Option) (session.ReplayGuard, error) {
	if rdb == nil {
		return nil, fmt.Errorf("redisflow: NewReplayGuard: %w", errNilClient)
	}
	c, err := newConfig("NewReplayGuard", defaultGuardPrefix, opts)
	if err != nil {
		return nil, err
	}
	return &replayGuard{rdb: rdb, prefix: c.prefix, timeout: c.timeout, replicas: c.replicas, now: c.now, nonce: rand.Text}, nil
}

// Consume implements [session.ReplayGuard].
func (g *replayGuard) Consume(ctx context.Context, id string, expiresAt time.Time) error {
	if !isSHA256Hex(id) {
		return errBadID
	}
	ttl := expiresAt.Sub(g.now())
	if ttl <= 0 {
		return fmt.Errorf("redisflow: guard: %w", session.ErrExpired)
	}
	ttl = (ttl + time.Millisecond - 1).Truncate(time.Millisecond) // round up: never 0, never shorter than the flow
	key := g.prefix + id
	nonce := g.nonce()
	replayed, err := within(ctx, g.timeout, func(ctx context.Context) (bool, error) {
		var cmd *redis.BoolCmd
		if err := write(ctx, g.rdb, g.replicas, g.timeout, key, func(c redis.Cmdable) { cmd = c.SetNX(ctx, key, nonce, ttl) }); err != nil {
			return false, err
		}
		set, err := cmd.Result()
		if err != nil || set {
			return false, err
		}
		v, err := g.rdb.Get(ctx, key).Result()
		switch {
		case err == nil:
			return v != nonce, nil // its own nonce: this call's write, retried by the client
		case errors.Is(err, redis.Nil):
			return true, nil // set by another call, expired since
		}
		return false, err
	})
	switch {
	case err != nil:
		return unavailable("guard", err)
	case replayed:
		return fmt.Errorf("redisflow: guard: %w", session.ErrReplayed)
	}
	return nil
}

var errBadID = errors.New("redisflow: guard: id is not a hex SHA-256")

// isSHA256Hex reports whether id is 64 lowercase hexadecimal digits.
func isSHA256Hex(id string) bool {
	if len(id) != 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// unavailable wraps a Redis or context error in [session.ErrUnavailable].
func unavailable(what string, err error) error {
	return fmt.Errorf("%w (%s): %w", errUnavailable, what, err)
}
