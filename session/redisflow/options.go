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

// WithKeyPrefix sets the prefix of every Redis key written. Default
// "handoffkit:used:" for the guard.
// It must not be empty. Give each app (and each environment sharing a
// Redis) its own prefix, and never give the guard and the token store the
// same one.
func WithKeyPrefix(prefix string) Option {
	return func(c *config) { c.prefix = prefix }
}

// WithTimeout bounds each Redis call, through its context, on top of the
// request's own deadline. Default 500 ms; it must be positive and
// at most 10 s. A call that runs out of time fails closed with
// [session.ErrUnavailable].
func WithTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// WithClock sets the clock that turns an expiry time into a Redis key's time
// to live: a state's expiry for the guard (give it the clock of the
// session.Manager, session.WithClock), a refresh token's for the token
// store. Default time.Now.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithReplicas makes every write wait until n replicas have acknowledged
// it, with Redis's WAIT on the connection that wrote, and fail closed
// (an error wrapping [session.ErrUnavailable]) when fewer do within the
// timeout. Default 0: a write is done when the master has it.
//
// Set it to the number of replicas each master has, behind Sentinel or in
// a Redis Cluster with replicas. Redis replicates asynchronously: a write
// the master acknowledged and lost before a replica copied it is gone
// after a failover, and a lost state lets a replay through, a lost lock
// lets two instances refresh, and a lost token pair strands a spent
// refresh token. With WithReplicas(1) and one replica, every write the
// kit relied on is on the replica that Sentinel promotes. A write whose
// acknowledgement did not come may still be on the master; the kit
// treats it as failed, which is always the safe reading. WAIT does not
// make Redis strongly consistent (two failures in a row can still lose
// a write); docs/scale.md measures what a failover costs.
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
