package redisflow

import (
	"errors"
	"fmt"
	"time"
)

// Defaults of the options.
const (
	// DefaultGuardPrefix starts the key of every state a [ReplayGuard]
	// records.
	DefaultGuardPrefix = "handoffkit:used:"
	// DefaultStorePrefix starts the key of every flow record a [Store]
	// keeps.
	DefaultStorePrefix = "handoffkit:flow:"
	// DefaultTimeout bounds each Redis call of the guard and the store.
	DefaultTimeout = 500 * time.Millisecond
	// MaxTimeout is the longest [WithTimeout] accepts: a call stuck longer
	// would hold the user's request for nothing.
	MaxTimeout = 10 * time.Second
)

// Option configures [NewReplayGuard] and [NewStore]. Options apply in order
// over the defaults; the constructor then validates the result.
type Option func(*config)

type config struct {
	prefix  string
	timeout time.Duration
	now     func() time.Time
}

// WithKeyPrefix sets the prefix of every Redis key written. Default
// [DefaultGuardPrefix] for the guard and [DefaultStorePrefix] for the store.
// It must not be empty. Give each app (and each environment sharing a
// Redis) its own prefix, and never give the guard and the store the same
// one.
func WithKeyPrefix(prefix string) Option {
	return func(c *config) { c.prefix = prefix }
}

// WithTimeout bounds each Redis call, through its context, on top of the
// request's own deadline. Default [DefaultTimeout]; it must be positive and
// at most [MaxTimeout]. A call that runs out of time fails closed with
// [ErrUnavailable].
func WithTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// WithClock sets the guard's clock, which turns a state's expiry time into
// the Redis key's time to live. Give it the clock of the session.Manager
// (session.WithClock). Default time.Now. The store ignores it: record and
// cookie lifetimes are durations.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

func newConfig(fn, defaultPrefix string, opts []Option) (config, error) {
	c := config{prefix: defaultPrefix, timeout: DefaultTimeout, now: time.Now}
	for _, o := range opts {
		o(&c)
	}
	switch {
	case c.prefix == "":
		return c, fmt.Errorf("redisflow: %s: WithKeyPrefix: empty prefix", fn)
	case c.timeout <= 0 || c.timeout > MaxTimeout:
		return c, fmt.Errorf("redisflow: %s: WithTimeout: %v out of range (0, %v]", fn, c.timeout, MaxTimeout)
	case c.now == nil:
		return c, fmt.Errorf("redisflow: %s: WithClock: nil clock", fn)
	}
	return c, nil
}

var errNilClient = errors.New("nil Redis client")
