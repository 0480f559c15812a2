package bluenexus

import (
	"errors"
	"time"

	"github.com/sony/gobreaker/v2"
)

// The breaker is github.com/sony/gobreaker/v2 in its two-step form: the
// client asks before a call and reports one outcome per call (retries
// included). The breaker sees these values, never the call's own error.
var (
	errFailure  = errors.New("failure")
	errExcluded = errors.New("excluded")
)

// outcome is what one call means to the breaker.
type outcome uint8

const (
	succeeded outcome = iota // BlueNexus answered (2xx, 3xx, 4xx, bad body)
	failed                   // timeout, 5xx, transport error
	excluded                 // the caller cancelled
)

func (o outcome) err() error {
	switch o {
	case failed:
		return errFailure
	case excluded:
		return errExcluded
	}
	return nil
}

func newBreaker(c *Client, s BreakerSettings) *gobreaker.TwoStepCircuitBreaker[struct{}] {
	failures := uint32(s.ConsecutiveFailures)
	return gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        "bluenexus",
		MaxRequests: uint32(s.HalfOpenMaxRequests),
		Timeout:     s.OpenTimeout,
		ReadyToTrip: func(n gobreaker.Counts) bool { return n.ConsecutiveFailures >= failures },
		IsExcluded:  func(err error) bool { return err == errExcluded },
		OnStateChange: func(_ string, from, to gobreaker.State) {
			if to == gobreaker.StateOpen {
				c.openUntil.Store(c.now().Add(c.openTimeout).UnixNano())
			}
			if c.onChange != nil {
				c.onChange(from.String(), to.String())
			}
		},
	})
}

// allow asks the breaker for a call. It returns the function that reports
// the call's outcome, or the circuit-open error.
func (c *Client) allow() (func(outcome), error) {
	if c.cb == nil {
		return func(outcome) {}, nil
	}
	done, err := c.cb.Allow()
	switch {
	case err == nil:
		return func(o outcome) { done(o.err()) }, nil
	case errors.Is(err, gobreaker.ErrOpenState):
		wait := time.Duration(c.openUntil.Load() - c.now().UnixNano())
		return nil, &circuitOpenError{wait: max(wait, 0)}
	default: // half-open, probes in flight: they end within the budget
		return nil, &circuitOpenError{wait: c.timeout}
	}
}

// breakerState returns the breaker's state name, for tests.
func (c *Client) breakerState() string {
	if c.cb == nil {
		return "off"
	}
	return c.cb.State().String()
}
