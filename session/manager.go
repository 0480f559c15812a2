package session

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gorilla/sessions"

	"github.com/handoffkit/handoffkit/internal/flow"
)

// Manager keeps the flows of the kit's handlers in a cookie of their own,
// through a gorilla [sessions.Store], with a [ReplayGuard]. Create it with
// [New] and give it to handlers.WithFlows; it is safe for concurrent use.
// The handlers build one with the defaults when none is given.
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

// WithTTL sets how long a flow may take from its start to the return, and
// the flow cookie's Max-Age (rounded up to whole seconds). Default 10
// minutes; it must be from one second to one hour.
func WithTTL(ttl time.Duration) Option {
	return func(c *config) { c.opts = append(c.opts, flow.WithTTL(ttl)) }
}

// WithMaxFlows sets how many flows one browser may have pending, for example
// in several tabs. Default 5, from 1 to 20. Beginning one more pushes out
// the oldest, whose return then fails as superseded (never a silent
// overwrite, SECURITY.md B5).
func WithMaxFlows(n int) Option {
	return func(c *config) { c.opts = append(c.opts, flow.WithMaxFlows(n)) }
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
// Default time.Now. The cookie codecs keep using the real time for their own
// signature timestamps.
func WithClock(now func() time.Time) Option {
	return func(c *config) {
		if now == nil {
			c.fail("WithClock: nil clock")
			return
		}
		c.opts = append(c.opts, flow.WithClock(now))
	}
}

// WithInsecureCookies drops the Secure attribute, for development on plain
// http loopback only (SECURITY.md C1). The default cookie name becomes
// "handoffkit-flow" (browsers refuse a __Host- cookie without Secure). The
// handlers' outcome cookie follows.
func WithInsecureCookies() Option {
	return func(c *config) { c.opts = append(c.opts, flow.WithInsecureCookies()) }
}

// New returns a Manager keeping flows in store: [NewCookieStore] gives one
// with the right defaults, package redisflow a server-side one. Give the
// Manager a store of its own: New sets the store's lifetime to the TTL with
// the store's MaxAge(int) method, when it has one, so that the codecs reject
// older cookies (SECURITY.md C2).
func New(store sessions.Store, opts ...Option) (*Manager, error) {
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
	m, err := flow.New(store, c.opts...)
	if err != nil {
		return nil, err
	}
	return &Manager{m: m}, nil
}

// ReplayGuard records used states server-side, so that each is accepted once
// even when an old copy of the flow cookie, which still lists it, is sent
// again (SECURITY.md B4). A cookie store alone cannot stop that.
//
// Consume records id until expiresAt and returns nil the first time it sees
// id; after that, until expiresAt, it returns an error wrapping
// [ErrReplayed]. An expiresAt already past is an error wrapping
// [ErrExpired]. id is the hex SHA-256 of the state, never the state itself.
// Any other error (a store outage) makes the return fail closed; wrap
// [ErrUnavailable] for an outage. Implementations must be safe for
// concurrent use; one shared by all instances of an app (Redis) gives
// one-time use across the fleet.
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
	// ErrUnavailable: the flow state could not be checked or stored right
	// now (a shared guard or a server-side store did not answer). The return
	// fails closed with a 503 and may succeed once it is back.
	ErrUnavailable = flow.ErrUnavailable
)
