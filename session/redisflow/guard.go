package redisflow

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/handoffkit/handoffkit/session"
)

// unmarkScript deletes KEYS[1] if it holds ARGV[1]: Consume's undo, so
// that a state whose mark the replicas did not acknowledge, and whose
// return failed closed, can be returned again.
const unmarkScript = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`

// replayGuard is NewReplayGuard's guard.
type replayGuard struct {
	store
	nonce func() string // the value each call writes; a seam for tests
}

// NewReplayGuard returns a [session.ReplayGuard] on Redis that every
// instance of the app shares: a state is accepted once across the fleet
// until it expires (docs/SECURITY.md B4). Each first use is one SET NX PX
// of the state's hash; a Redis that cannot answer fails the return closed
// with [session.ErrUnavailable]. It does no I/O.
func NewReplayGuard(rdb redis.UniversalClient, opts ...Option) (session.ReplayGuard, error) {
	s, err := newStore("NewReplayGuard", rdb, defaultGuardPrefix, opts)
	if err != nil {
		return nil, err
	}
	return &replayGuard{store: s, nonce: rand.Text}, nil
}

// Consume implements [session.ReplayGuard].
func (g *replayGuard) Consume(ctx context.Context, id string, expiresAt time.Time) error {
	if len(id) != 64 || strings.Trim(id, "0123456789abcdef") != "" {
		return errors.New("redisflow: guard: id is not a hex SHA-256")
	}
	ttl := expiresAt.Sub(g.now())
	if ttl <= 0 {
		return fmt.Errorf("redisflow: guard: %w", session.ErrExpired)
	}
	ttl = (ttl + time.Millisecond - 1).Truncate(time.Millisecond) // round up: never 0, never shorter than the flow
	key := g.prefix + id
	nonce := g.nonce()
	ctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	var set *redis.BoolCmd
	err := g.write(ctx, key, func(ctx context.Context, c redis.Cmdable) redis.Cmder {
		set = c.SetNX(ctx, key, nonce, ttl)
		return set
	}, func(ctx context.Context) { g.rdb.Eval(ctx, unmarkScript, []string{key}, nonce) })
	if err == nil && !set.Val() {
		// Another call's write, or this call's, retried by the client.
		var v string
		v, err = g.rdb.Get(ctx, key).Result()
		if errors.Is(err, redis.Nil) || err == nil && v != nonce {
			return fmt.Errorf("redisflow: guard: %w", session.ErrReplayed)
		}
	}
	if err != nil {
		return unavailable("guard", err)
	}
	return nil
}
