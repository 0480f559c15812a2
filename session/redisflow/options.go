package redisflow

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Defaults of the options.
const (
	// defaultGuardPrefix starts the key of every state [NewReplayGuard]'s guard
	// records.
	defaultGuardPrefix = "handoffkit:used:"
	// defaultTimeout bounds each Redis call of the guard and the token store.
	defaultTimeout = 500 * time.Millisecond
	// maxTimeout is the longest [WithTimeout] accepts: a call stuck longer
	// would hold the user's request for nothing.
	maxTimeout = 10 * time.Second
	// maxReplicas bounds [WithReplicas].
	maxReplicas = 16
)

// Option configures [NewReplayGuard] and [NewTokenStore]. Options apply in order
// over the defaults; the constructor then validates the result.
type Option func(*config)

type config struct {
	prefix   string
	timeout  time.Duration
	now      func() time.Time
	replicas int
}

// WithKeyPrefix sets the prefix of every Redis key written: default
// "handoffkit:used:" for the guard, "handoffkit:token:" for the token
// store. Give each app, and the guard and the token store, their own.
func WithKeyPrefix(prefix string) Option {
	return func(c *config) { c.prefix = prefix }
}

// WithTimeout bounds each Redis call. Default 500 ms; at most 10 s.
func WithTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// WithClock sets the clock that turns an expiry into a key's time to live:
// give the guard the session.Manager's clock. Default time.Now.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithReplicas makes every write wait until n replicas acknowledged it
// (Redis's WAIT), and fail closed otherwise, so that a failover loses no
// used state, lease or pair. Set it to the number of replicas each master
// has. Default 0.
func WithReplicas(n int) Option { return func(c *config) { c.replicas = n } }

func newConfig(fn, defaultPrefix string, opts []Option) (config, error) {
	c := config{prefix: defaultPrefix, timeout: defaultTimeout, now: time.Now}
	for _, o := range opts {
		o(&c)
	}
	switch {
	case c.prefix == "":
		return c, fmt.Errorf("redisflow: %s: WithKeyPrefix: empty prefix", fn)
	case strings.ContainsAny(c.prefix, "{}"):
		// A hash tag in the prefix would put every key in one cluster slot.
		return c, fmt.Errorf("redisflow: %s: WithKeyPrefix: %q holds a brace, which Redis Cluster reads as a hash tag", fn, c.prefix)
	case c.replicas < 0 || c.replicas > maxReplicas:
		return c, fmt.Errorf("redisflow: %s: WithReplicas: %d out of range [0, %d]", fn, c.replicas, maxReplicas)
	case c.timeout <= 0 || c.timeout > maxTimeout:
		return c, fmt.Errorf("redisflow: %s: WithTimeout: %v out of range (0, %v]", fn, c.timeout, maxTimeout)
	case c.now == nil:
		return c, fmt.Errorf("redisflow: %s: WithClock: nil clock", fn)
	}
	return c, nil
}

var errNilClient = errors.New("nil Redis client")
