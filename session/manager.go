package session

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/handoffkit/handoffkit/internal/flow"
)

// Manager seals the flows of the kit's handlers into their state and opens
// them at the return, with a [ReplayGuard]. Create it with [New] and give it
// to handlers.WithFlows; it is safe for concurrent use. The handlers build
// one with the defaults when none is given.
type Manager struct{ m *flow.Manager }

func init() {
	flow.Of = func(v any) (*flow.Manager, bool) {
		m, ok := v.(*Manager)
		if !ok || m == nil || m.m == nil {
			return nil, false
		}
		return m.m, true
	}
}

// Option configures a [Manager]. A nil, zero or empty argument is an error
// at [New], never a silent default.
type Option func(*config)

type config struct {
	opts []flow.Option
	errs []error
}

func (c *config) fail(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("session: "+format, args...))
}

// WithTTL sets how long a flow may take from its start to the return (and
// the Max-Age of the flow cookies of a fixed redirectUri, rounded up to
// whole seconds). Default 10 minutes; it must be from one second to one
// hour.
func WithTTL(ttl time.Duration) Option {
	return func(c *config) { c.opts = append(c.opts, flow.WithTTL(ttl)) }
}

// WithReplayGuard sets the server-side record of used states. Default: an
// in-memory guard on the Manager's clock, strict one-time use on a single
// instance; a fleet needs a shared guard (package redisflow). nil is an
// error: there is no way to run without a guard.
func WithReplayGuard(g ReplayGuard) Option {
	return func(c *config) {
		if g == nil {
			c.fail("WithReplayGuard: nil guard")
			return
		}
		c.opts = append(c.opts, flow.WithReplayGuard(g))
	}
}

// WithClock sets the clock flows are stamped and expired by, for tests.
// Default time.Now.
func WithClock(now func() time.Time) Option {
	return func(c *config) {
		if now == nil {
			c.fail("WithClock: nil clock")
			return
		}
		c.opts = append(c.opts, flow.WithClock(now))
	}
}

// WithInsecureCookies drops the Secure attribute of the kit's cookies (the
// flow cookies of a fixed redirectUri and the handlers' outcome cookie), for
// development on plain http loopback only (SECURITY.md C1). Their names then
// lose the __Host- prefix, which browsers refuse without Secure.
func WithInsecureCookies() Option {
	return func(c *config) { c.opts = append(c.opts, flow.WithInsecureCookies()) }
}

// New returns a Manager that seals flows with keys, newest first: the first
// pair seals, every pair opens (see the package documentation for
// rotation). At least one pair; keys come from configuration ([ParseKeys]),
// never from a random source at start-up.
func New(keys []KeyPair, opts ...Option) (*Manager, error) {
	var c config
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("session: New: nil Option")
		}
		o(&c)
	}
	if err := errors.Join(c.errs...); err != nil {
		return nil, err
	}
	fk := make([]flow.KeyPair, len(keys))
	for i, k := range keys {
		fk[i] = flow.KeyPair(k)
	}
	m, err := flow.New(fk, c.opts...)
	if err != nil {
		return nil, err
	}
	return &Manager{m: m}, nil
}

// ReplayGuard records used flows server-side, so that each state is
// accepted once (SECURITY.md B4): a sealed state carries itself, and only a
// server-side record can say it was used.
//
// Consume records id until expiresAt and returns nil the first time it sees
// id; after that, until expiresAt, it returns an error wrapping
// [ErrReplayed]. An expiresAt already past is an error wrapping
// [ErrExpired]. id is 64 hexadecimal digits (the SHA-256 of the flow's
// nonce), never the state itself. Any other error (a store outage) makes
// the return fail closed; wrap [ErrUnavailable] for an outage.
// Implementations must be safe for concurrent use; one shared by all
// instances of an app (Redis) gives one-time use across the fleet.
type ReplayGuard interface {
	Consume(ctx context.Context, id string, expiresAt time.Time) error
}

// Errors a [ReplayGuard] returns.
var (
	// ErrReplayed: the state was already used.
	ErrReplayed = flow.ErrReplayed
	// ErrExpired: the flow is past its expiry (or, for the in-memory guard
	// under pressure, older than the entries it had to drop).
	ErrExpired = flow.ErrExpired
	// ErrUnavailable: the flow state could not be checked right now (a
	// shared guard did not answer). The return fails closed with a 503 and
	// may succeed once it is back.
	ErrUnavailable = flow.ErrUnavailable
)
