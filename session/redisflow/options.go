package redisflow

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Defaults of the options.
const (
	// defaultGuardPrefix starts the key of every state [NewReplayGuard]'s guard
	// records.
	defaultGuardPrefix = "handoffkit:used:"
	// defaultTokenPrefix starts the key of every token pair that
	// [NewTokenStore]'s store keeps.
	defaultTokenPrefix = "handoffkit:token:"
	// defaultTimeout bounds each Redis call of the guard and the token store.
	defaultTimeout = 500 * time.Millisecond
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

// WithTimeout bounds each Redis call. Default 500 ms.
func WithTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// WithClock sets the clock that turns an expiry into a key's time to live:
// give the guard the session.Manager's clock. Default time.Now.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithReplicas makes every write wait until n replicas acknowledged it
// (Redis's WAIT), and fail closed otherwise, so that a failover loses no
// used state, lease or pair. Set it to the number of replicas each master
// has. Default 0.
func WithReplicas(n int) Option { return func(c *config) { c.replicas = n } }

// store is what the guard and the token store share: the client and the
// options.
type store struct {
	rdb redis.UniversalClient
	config
}

func newStore(fn string, rdb redis.UniversalClient, defaultPrefix string, opts []Option) (store, error) {
	c := config{prefix: defaultPrefix, timeout: defaultTimeout, now: time.Now}
	for _, o := range opts {
		o(&c)
	}
	var err error
	switch {
	case rdb == nil:
		err = errors.New("nil Redis client")
	case !contextTimeouts(rdb):
		// Without it a stalled Redis holds a call for the client's ReadTimeout.
		err = errors.New("the Redis client needs ContextTimeoutEnabled, so that WithTimeout bounds each call")
	case c.prefix == "":
		err = errors.New("WithKeyPrefix: empty prefix")
	case strings.ContainsAny(c.prefix, "{}"):
		// A hash tag in the prefix would put every key in one cluster slot.
		err = fmt.Errorf("WithKeyPrefix: %q holds a brace, which Redis Cluster reads as a hash tag", c.prefix)
	case c.replicas < 0:
		err = fmt.Errorf("WithReplicas: %d is negative", c.replicas)
	case c.timeout <= 0:
		err = fmt.Errorf("WithTimeout: %v is not positive", c.timeout)
	case c.now == nil:
		err = errors.New("WithClock: nil clock")
	}
	if err != nil {
		return store{}, fmt.Errorf("redisflow: %s: %w", fn, err)
	}
	return store{rdb, c}, nil
}

// contextTimeouts reports whether rdb applies a context's deadline to its
// socket reads and writes (ContextTimeoutEnabled). A client of another
// type is trusted to.
func contextTimeouts(rdb redis.UniversalClient) bool {
	switch c := rdb.(type) {
	case *redis.Client:
		return c.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		return c.Options().ContextTimeoutEnabled
	}
	return true
}
