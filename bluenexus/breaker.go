package bluenexus

import (
	"context"
	"errors"
	"time"

	"github.com/sony/gobreaker/v2"
)

// newBreaker is the client's github.com/sony/gobreaker/v2 breaker. It
// counts one outcome per call, retries included: timeouts, transport
// errors and 5xx answers are failures; the caller's cancellation does not
// count.
func newBreaker(c *Client, s BreakerSettings) *gobreaker.CircuitBreaker[okReply] {
	failures := uint32(s.ConsecutiveFailures)
	return gobreaker.NewCircuitBreaker[okReply](gobreaker.Settings{
		Name:         "bluenexus",
		MaxRequests:  uint32(s.HalfOpenMaxRequests),
		Timeout:      s.OpenTimeout,
		ReadyToTrip:  func(n gobreaker.Counts) bool { return n.ConsecutiveFailures >= failures },
		IsExcluded:   func(err error) bool { return errors.Is(err, context.Canceled) },
		IsSuccessful: func(err error) bool { return !isFailure(err) },
		OnStateChange: func(_ string, from, to gobreaker.State) {
			if to == gobreaker.StateOpen {
				c.openUntil.Store(c.now().Add(s.OpenTimeout).UnixNano())
			}
			if s.OnStateChange != nil {
				s.OnStateChange(from.String(), to.String())
			}
		},
	})
}

// isFailure reports whether err counts as a failure: a timeout, a
// transport error or a 5xx answer.
func isFailure(err error) bool {
	ae, ok := errors.AsType[*APIError](err)
	return errors.Is(err, ErrTimeout) || errors.Is(err, ErrConnection) || ok && ae.StatusCode >= 500
}

// through runs f through the breaker, if any.
func (c *Client) through(f func() (okReply, error)) (okReply, error) {
	if c.cb == nil {
		return f()
	}
	a, err := c.cb.Execute(f)
	switch {
	case errors.Is(err, gobreaker.ErrOpenState):
		wait := time.Duration(c.openUntil.Load() - c.now().UnixNano())
		return a, &circuitOpenError{wait: max(wait, 0)}
	case errors.Is(err, gobreaker.ErrTooManyRequests): // half-open, probes in flight
		return a, &circuitOpenError{wait: c.timeout}
	}
	return a, err
}
