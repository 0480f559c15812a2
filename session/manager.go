package session

import (
	"errors"
	"fmt"
	"time"

	"github.com/handoffkit/handoffkit/internal/flow"
)

// Manager seals the flows of the kit's handlers into their state and opens
// them at the return, with a [ReplayGuard]. Create it with [New] and give it
// to handlers.WithFlows; it is safe for concurrent use. The handlers build
// one with the defaults when none is given.
type Manager = flow.Manager

// Option configures a [Manager]. A nil or out-of-range argument is an
// error at [New].
type Option func(*flow.Config)

func check(c *flow.Config, ok bool, msg string) {
	if !ok {
		c.Errs = append(c.Errs, errors.New("session: "+msg))
	}
}

// WithTTL sets how long a flow may take from its start to the return (and
// the Max-Age of the flow cookies of a fixed redirectUri, rounded up to
// whole seconds). Default 10 minutes; from one second to one hour.
func WithTTL(ttl time.Duration) Option {
	return func(c *flow.Config) {
		check(c, ttl >= time.Second && ttl <= time.Hour, fmt.Sprintf("WithTTL: %v is not from 1s to 1h", ttl))
		c.TTL = ttl
	}
}

// WithReplayGuard sets the server-side record of used states. Default: an
// in-memory guard on the Manager's clock, strict one-time use on a single
// instance; a fleet needs a shared guard (package redisflow).
func WithReplayGuard(g ReplayGuard) Option {
	return func(c *flow.Config) { check(c, g != nil, "WithReplayGuard: nil guard"); c.Guard = g }
}

// WithClock sets the clock flows are stamped and expired by, for tests.
// Default time.Now.
func WithClock(now func() time.Time) Option {
	return func(c *flow.Config) { check(c, now != nil, "WithClock: nil clock"); c.Now = now }
}

// WithInsecureCookies drops the Secure attribute and the __Host- prefix of
// the kit's cookies (the flow cookies of a fixed redirectUri and the
// handlers' outcome cookie), for development on plain http loopback only.
func WithInsecureCookies() Option { return func(c *flow.Config) { c.Insecure = true } }

// New returns a Manager that seals flows with keys, newest first: the first
// pair seals, every pair opens (see the package documentation for
// rotation). At least one pair, from configuration ([ParseKeys]).
func New(keys []KeyPair, opts ...Option) (*Manager, error) {
	c := flow.Config{TTL: 10 * time.Minute, Now: time.Now}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("session: New: nil Option")
		}
		o(&c)
	}
	if err := errors.Join(c.Errs...); err != nil {
		return nil, err
	}
	return flow.New(keys, c)
}

// ReplayGuard records used flows server-side, so that each state is
// accepted once (docs/SECURITY.md B4).
//
// Consume records id until expiresAt and returns nil the first time it sees
// id; after that, until expiresAt, an error wrapping [ErrReplayed]. An
// expiresAt already past is an error wrapping [ErrExpired]. id is 64 hex
// digits (the SHA-256 of the flow's nonce), never the state. Any other
// error fails the return closed; wrap [ErrUnavailable] for an outage.
// Implementations must be safe for concurrent use.
type ReplayGuard = flow.ReplayGuard

// Errors a [ReplayGuard] returns.
var (
	// ErrReplayed: the state was already used.
	ErrReplayed = flow.ErrReplayed
	// ErrExpired: the flow is past its expiry (or, for the in-memory guard
	// under pressure, older than the entries it had to drop).
	ErrExpired = flow.ErrExpired
	// ErrUnavailable: the flow state could not be checked right now; the
	// return fails closed with a 503.
	ErrUnavailable = flow.ErrUnavailable
)
