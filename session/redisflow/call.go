package redisflow

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/handoffkit/handoffkit/session"
)

// write runs the write cmd issues on c within WithTimeout and returns its
// error. With WithReplicas it sends the write in one pipeline with WAIT on
// the master of key, so that WAIT counts the acknowledgements of this
// write (WAIT applies to the connection that wrote), and fails when too
// few did.
//
// WAIT's own timeout is half of the call's, so that it answers with the
// count, and a clear error, before the call gives up. When too few
// replicas acknowledged the write, undo (if not nil) takes back what the
// master applied, where a write that failed closed must not stay: a
// lease, or a state marked used.
func (s store) write(ctx context.Context, key string, cmd func(ctx context.Context, c redis.Cmdable) redis.Cmder, undo func(ctx context.Context)) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if s.replicas == 0 {
		return cmd(ctx, s.rdb).Err()
	}
	var c redis.Cmdable = s.rdb
	if cc, ok := s.rdb.(*redis.ClusterClient); ok {
		// A keyless WAIT would go to a random node: pin the pipeline to
		// the key's master. A slot that moves meanwhile is a MOVED error,
		// which fails the call closed.
		m, err := cc.MasterForKey(ctx, key)
		if err != nil {
			return err
		}
		c = m
	}
	p := c.Pipeline()
	cmd(ctx, p)
	wait := p.Do(ctx, "WAIT", s.replicas, max(1, (s.timeout/2).Milliseconds()))
	if _, err := p.Exec(ctx); err != nil {
		return err
	}
	n, err := wait.Int()
	if err != nil {
		return err
	}
	if n < s.replicas {
		if undo != nil {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
			defer cancel()
			undo(ctx)
		}
		return fmt.Errorf("the write reached %d of %d replicas in time (WAIT)", n, s.replicas)
	}
	return nil
}

// unavailable wraps a Redis or context error in [session.ErrUnavailable].
func unavailable(what string, err error) error {
	return fmt.Errorf("%w (%s): %w", errUnavailable, what, err)
}

// errUnavailable: Redis could not be reached, did not answer in time or
// refused the command. Both fail closed on it; the handlers answer 503.
// The wrapped error says what Redis or the client reported, and never
// holds a state, a token or a key.
var errUnavailable = fmt.Errorf("redisflow: redis unavailable: %w", session.ErrUnavailable)
