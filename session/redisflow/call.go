package redisflow

import (
	"context"
	"time"
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
