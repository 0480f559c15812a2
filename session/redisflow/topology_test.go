package redisflow_test

// The fleet on the Redis topologies real deployments run: a 3-master Redis
// Cluster and one master with a replica behind three Sentinels, started by
// scripts/redis-topology.sh (scripts/with-redis.sh starts both for `make
// test`). The longer runs are `make soak`.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/internal/tokentest/storetest"
	"github.com/handoffkit/handoffkit/session"
	"github.com/handoffkit/handoffkit/session/redisflow"
)

// topologyEnv returns the variable scripts/with-redis.sh sets for a
// topology, or stops the test: skipped loudly, failed under CI=true.
func topologyEnv(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		fleetNeedRedis(t, name+" is not set")
	}
	return v
}

// clusterClient is one app instance's client of the test cluster.
func clusterClient(t *testing.T) *redis.ClusterClient {
	t.Helper()
	addrs := strings.Split(topologyEnv(t, "HANDOFFKIT_REDIS_CLUSTER"), ",")
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, ContextTimeoutEnabled: true})
	t.Cleanup(func() { c.Close() })
	if err := c.ForEachMaster(t.Context(), func(ctx context.Context, m *redis.Client) error { return m.Ping(ctx).Err() }); err != nil {
		t.Fatalf("Redis Cluster at %v: %v", addrs, err)
	}
	return c
}

// sentinelClient is one app instance's client of the master behind the
// test's Sentinels, as go-redis finds it (redis.NewFailoverClient).
func sentinelClient(t *testing.T) *redis.Client {
	t.Helper()
	sentinels := strings.Split(topologyEnv(t, "HANDOFFKIT_REDIS_SENTINELS"), ",")
	c := redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName: topologyEnv(t, "HANDOFFKIT_REDIS_MASTER"), SentinelAddrs: sentinels,
		ContextTimeoutEnabled: true, MaxRetries: -1,
		DialTimeout: 500 * time.Millisecond, ReadTimeout: time.Second, WriteTimeout: time.Second,
	})
	t.Cleanup(func() { c.Close() })
	return c
}

// dropPrefix deletes every key under prefix on every master of rdb at
// cleanup.
func dropPrefix(t *testing.T, rdb redis.UniversalClient, prefix string) {
	t.Cleanup(func() {
		del := func(ctx context.Context, c redis.Cmdable) error {
			for _, k := range scanKeys(t, c, prefix) {
				c.Del(ctx, k)
			}
			return nil
		}
		ctx := context.Background()
		if cc, ok := rdb.(*redis.ClusterClient); ok {
			cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error { return del(ctx, m) })
			return
		}
		del(ctx, rdb)
	})
}

// TestClusterFleet: the guard, the flow store and the token store on a
// 3-master Redis Cluster, each instance with its own cluster client: keys
// spread over the masters, a token pair and its lock share a slot, and the
// whole flow, its replay and a fleet-wide refresh behave as on one node.
func TestClusterFleet(t *testing.T) {
	prefix := fmt.Sprintf("handoffkit:test:cluster:%d:", time.Now().UnixNano())
	admin := clusterClient(t)
	dropPrefix(t, admin, prefix)

	t.Run("token store contract", func(t *testing.T) {
		n := 0
		storetest.Contract(t, func(t *testing.T) bluenexus.TokenStore {
			n++
			s, err := redisflow.NewTokenStore(clusterClient(t), redisflow.WithKeyPrefix(fmt.Sprintf("%scontract%d:", prefix, n)), fleetTimeout)
			if err != nil {
				t.Fatal(err)
			}
			return s
		})
	})

	t.Run("states spread over the masters, each used once", func(t *testing.T) {
		a, err := redisflow.NewReplayGuard(clusterClient(t), redisflow.WithKeyPrefix(prefix+"used:"), fleetTimeout)
		if err != nil {
			t.Fatal(err)
		}
		b, err := redisflow.NewReplayGuard(clusterClient(t), redisflow.WithKeyPrefix(prefix+"used:"), fleetTimeout)
		if err != nil {
			t.Fatal(err)
		}
		exp := time.Now().Add(time.Minute)
		for i := range 300 {
			id := fmt.Sprintf("%064x", i*7919+1)
			if err := a.Consume(t.Context(), id, exp); err != nil {
				t.Fatalf("first use of state %d: %v", i, err)
			}
			if err := b.Consume(t.Context(), id, exp); !errors.Is(err, session.ErrReplayed) {
				t.Fatalf("second use of state %d on the other instance: %v, want ErrReplayed", i, err)
			}
		}
		var mu sync.Mutex
		perMaster := map[string]int{}
		admin.ForEachMaster(t.Context(), func(ctx context.Context, m *redis.Client) error {
			n := len(scanKeys(t, m, prefix+"used:"))
			mu.Lock()
			perMaster[m.Options().Addr] = n
			mu.Unlock()
			return nil
		})
		if len(perMaster) != 3 {
			t.Fatalf("masters %v, want 3", perMaster)
		}
		for addr, n := range perMaster {
			if n < 50 {
				t.Errorf("master %s holds %d of 300 states: the keys do not spread (%v)", addr, n, perMaster)
			}
		}
	})

	t.Run("WithReplicas on masters without replicas fails closed", func(t *testing.T) {
		c := clusterClient(t)
		g, err := redisflow.NewReplayGuard(c, redisflow.WithKeyPrefix(prefix+"unreplicated:"), redisflow.WithReplicas(1), fleetTimeout)
		if err != nil {
			t.Fatal(err)
		}
		id := fmt.Sprintf("%064x", 42)
		err = g.Consume(t.Context(), id, time.Now().Add(time.Minute))
		if !errors.Is(err, session.ErrUnavailable) || !strings.Contains(err.Error(), "0 of 1 replicas") {
			t.Fatalf("Consume = %v, want ErrUnavailable: no replica acknowledged", err)
		}
		// The mark the master took is taken back: the return, which failed
		// closed, can be made again.
		plainGuard, err := redisflow.NewReplayGuard(c, redisflow.WithKeyPrefix(prefix+"unreplicated:"), fleetTimeout)
		if err != nil {
			t.Fatal(err)
		}
		if err := plainGuard.Consume(t.Context(), id, time.Now().Add(time.Minute)); err != nil {
			t.Fatalf("Consume again = %v: the unacknowledged mark was left", err)
		}
		s, err := redisflow.NewTokenStore(c, redisflow.WithKeyPrefix(prefix+"unreplicated-token:"), redisflow.WithReplicas(1), fleetTimeout)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Save(t.Context(), "alice", bluenexus.Token{AccessToken: "at", RefreshToken: "rt"}); !errors.Is(err, session.ErrUnavailable) {
			t.Fatalf("Save = %v, want ErrUnavailable", err)
		}
		// The Save reached the master; the lease taken there is given back.
		if _, err := s.Lease(t.Context(), "alice", "rt", "holder", time.Minute); !errors.Is(err, session.ErrUnavailable) {
			t.Fatalf("Lease = %v, want ErrUnavailable", err)
		}
		plain, err := redisflow.NewTokenStore(c, redisflow.WithKeyPrefix(prefix+"unreplicated-token:"), fleetTimeout)
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := plain.Lease(t.Context(), "alice", "rt", "another", time.Minute); !ok || err != nil {
			t.Fatalf("Lease by another holder = %v, %v: the unacknowledged lease was left held", ok, err)
		}
	})

	t.Run("a pair and its lease are one key", func(t *testing.T) {
		s, err := redisflow.NewTokenStore(clusterClient(t), redisflow.WithKeyPrefix(prefix+"slot:"), fleetTimeout)
		if err != nil {
			t.Fatal(err)
		}
		for _, user := range []string{"alice", "{bob}", "carol}{"} {
			if err := s.Save(t.Context(), user, bluenexus.Token{AccessToken: "at", RefreshToken: "rt", Expiry: time.Now().Add(time.Hour)}); err != nil {
				t.Fatalf("seed %s: %v", user, err)
			}
			if ok, err := s.Lease(t.Context(), user, "rt", "holder", time.Minute); !ok || err != nil {
				t.Fatalf("lease %s: %v %v", user, ok, err)
			}
			if ks := clusterKeys(t, admin, prefix+"slot:"); len(ks) != 1 {
				t.Fatalf("%s: %d keys for a leased pair, want 1", user, len(ks))
			}
			for _, k := range clusterKeys(t, admin, prefix+"slot:") {
				admin.Del(t.Context(), k)
			}
		}
	})

	t.Run("start here, return there, replay refused", func(t *testing.T) {
		keys := []session.KeyPair{fleetOldKeys}
		node := func() fleetNodeConfig {
			c := clusterClient(t)
			g, err := redisflow.NewReplayGuard(c, redisflow.WithKeyPrefix(prefix+"fleet-used:"), fleetTimeout)
			if err != nil {
				t.Fatal(err)
			}
			return fleetNodeConfig{keys: keys, sessionOpts: []session.Option{session.WithReplayGuard(g)}}
		}
		f := newFleet(t, node(), node())
		for i := range 4 {
			back := f.complete(f.start(i%2, "/settings"))
			wantSuccess(t, f.returnOn(1-i%2, back), "/settings")
			if resp := f.returnOn(i%2, back); resp.StatusCode == http.StatusSeeOther {
				t.Fatalf("flow %d: the replay on the other instance was accepted", i)
			}
		}
		if n := f.hooks(); n != 4 {
			t.Errorf("hooks ran %d times, want 4", n)
		}
	})

	t.Run("one refresh across instances", func(t *testing.T) {
		store := func() bluenexus.TokenStore {
			s, err := redisflow.NewTokenStore(clusterClient(t), redisflow.WithKeyPrefix(prefix+"token:"), fleetTimeout)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		oneRefreshAcross(t, 50, store)
	})
}

// clusterKeys returns the keys under prefix on every master.
func clusterKeys(t *testing.T, c *redis.ClusterClient, prefix string) []string {
	var mu sync.Mutex
	var out []string
	c.ForEachMaster(t.Context(), func(ctx context.Context, m *redis.Client) error {
		ks := scanKeys(t, m, prefix)
		mu.Lock()
		out = append(out, ks...)
		mu.Unlock()
		return nil
	})
	return out
}

// scanKeys returns the keys under prefix on one node.
func scanKeys(t *testing.T, c redis.Cmdable, prefix string) []string {
	var out []string
	ctx := context.Background() // also at cleanup, when t.Context() is done
	iter := c.Scan(ctx, 0, prefix+"*", 100).Iterator()
	for iter.Next(ctx) {
		out = append(out, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Errorf("scan %s*: %v", prefix, err)
	}
	return out
}
