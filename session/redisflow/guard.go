package redisflow

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
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

// NewReplayGuard returns a [session.ReplayGuard] on Redis that every
// instance of the app shares: a state is accepted once across the fleet
// until it expires (docs/SECURITY.md B4). Each first use is one SET NX PX
// of the state's hash; a Redis that cannot answer fails the return closed
// with [session.ErrUnavailable]. It does no I/O.
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
	_, err := hex.DecodeString(id)
	return err == nil && len(id) == 64 && strings.ToLower(id) == id
}

// unavailable wraps a Redis or context error in [session.ErrUnavailable].
func unavailable(what string, err error) error {
	return fmt.Errorf("%w (%s): %w", errUnavailable, what, err)
}
