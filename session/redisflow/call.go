package redisflow

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// within runs f under a timeout and returns when f does or when the time is
// up, whichever comes first.
//
// go-redis applies a context's deadline to socket reads and writes only
// with Options.ContextTimeoutEnabled; without it a stalled server holds a
// command for the client's ReadTimeout (5 s by default). Running f on its
// own goroutine keeps the promise of [WithTimeout] whatever the client's
// options: the request fails closed on time, and the abandoned command ends
// by the client's own timeouts. A result that is ready when the time runs
// out wins over the timeout.
func within[T any](ctx context.Context, timeout time.Duration, f func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := f(ctx)
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		select {
		case r := <-done:
			return r.v, r.err
		default:
		}
		var zero T
		return zero, ctx.Err()
	}
}

// write queues a write on c and, with replicas > 0, sends it in one
// pipeline with WAIT replicas on the master of key, so that WAIT counts
// the acknowledgements of this write (WAIT applies to the connection that
// wrote). Without replicas, c is rdb and the write runs at once. The
// caller reads the queued commands' results after write returns nil.
//
// WAIT's own timeout is half of the call's, so that it answers with the
// count, and a clear error, before the call gives up.
func write(ctx context.Context, rdb redis.UniversalClient, replicas int, timeout time.Duration, key string, queue func(c redis.Cmdable)) error {
	if replicas == 0 {
		queue(rdb)
		return nil
	}
	var c redis.Cmdable = rdb
	if cc, ok := rdb.(*redis.ClusterClient); ok {
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
	queue(p)
	wait := p.Do(ctx, "WAIT", replicas, max(1, (timeout/2).Milliseconds()))
	if _, err := p.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return err
	}
	n, err := wait.Int()
	if err != nil {
		return err
	}
	if n < replicas {
		return fmt.Errorf("the write reached %d of %d replicas in time (WAIT): %w", n, replicas, errNotReplicated)
	}
	return nil
}

// errNotReplicated: fewer replicas than WithReplicas acknowledged a write.
var errNotReplicated = errors.New("not acknowledged by enough replicas")
