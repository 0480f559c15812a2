package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisConfig says which Redis the fleet shares, and where the topology
// script that runs it keeps its nodes (for the redis faults).
type redisConfig struct {
	addr      string   // one server, or "mini"
	cluster   []string // cluster masters
	sentinels []string // sentinels of master
	master    string
	dir       string // the topology script's directory
	script    string // scripts/redis-topology.sh

	rawCluster, rawSentinels string
}

func (c *redisConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.addr, "redis", os.Getenv("HANDOFFKIT_REDIS_ADDR"), `Redis address (default $HANDOFFKIT_REDIS_ADDR); "mini" for an in-process miniredis`)
	fs.StringVar(&c.rawCluster, "redis-cluster", os.Getenv("HANDOFFKIT_REDIS_CLUSTER"), "Redis Cluster addresses, comma-separated (default $HANDOFFKIT_REDIS_CLUSTER)")
	fs.StringVar(&c.rawSentinels, "redis-sentinels", os.Getenv("HANDOFFKIT_REDIS_SENTINELS"), "Sentinel addresses, comma-separated (default $HANDOFFKIT_REDIS_SENTINELS)")
	fs.StringVar(&c.master, "redis-master", os.Getenv("HANDOFFKIT_REDIS_MASTER"), "the Sentinel master name (default $HANDOFFKIT_REDIS_MASTER)")
	fs.StringVar(&c.dir, "topology-dir", os.Getenv("HANDOFFKIT_REDIS_DIR"), "the topology script's directory, for -faults redis (default $HANDOFFKIT_REDIS_DIR)")
	script := os.Getenv("HANDOFFKIT_REDIS_TOPOLOGY")
	if script == "" {
		script = "scripts/redis-topology.sh"
	}
	fs.StringVar(&c.script, "topology-script", script, "the topology script (default $HANDOFFKIT_REDIS_TOPOLOGY, else scripts/redis-topology.sh)")
}

// resolve picks the one topology to use. Addresses given on the command
// line win; else, from the environment (scripts/with-redis.sh may set all
// three kinds), the kind $HANDOFFKIT_REDIS_KIND names, else the single
// Redis, else the cluster, else Sentinel.
func (c *redisConfig) resolve(fs *flag.FlagSet, faults bool) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if !given["redis"] && !given["redis-cluster"] && !given["redis-sentinels"] {
		kind := os.Getenv("HANDOFFKIT_REDIS_KIND")
		switch {
		case kind != "":
		case c.addr != "":
			kind = "single"
		case c.rawCluster != "":
			kind = "cluster"
		default:
			kind = "sentinel"
		}
		given = map[string]bool{"redis": kind == "single", "redis-cluster": kind == "cluster", "redis-sentinels": kind == "sentinel"}
	}
	if !given["redis"] {
		c.addr = ""
	}
	if !given["redis-cluster"] {
		c.rawCluster = ""
	}
	if !given["redis-sentinels"] {
		c.rawSentinels = ""
	}
	c.cluster, c.sentinels = splitAddrs(c.rawCluster), splitAddrs(c.rawSentinels)
	n := 0
	for _, set := range []bool{c.addr != "", len(c.cluster) > 0, len(c.sentinels) > 0} {
		if set {
			n++
		}
	}
	switch {
	case n == 0:
		return errors.New("no Redis: set -redis, -redis-cluster or -redis-sentinels, or their environment variables (`make load` starts one), or -redis mini")
	case n > 1:
		return errors.New("more than one Redis: give one of -redis, -redis-cluster and -redis-sentinels")
	case len(c.sentinels) > 0 && c.master == "":
		return errors.New("-redis-sentinels needs -redis-master")
	case faults && (c.dir == "" || c.addr == "mini"):
		return errors.New("-faults redis needs a topology the script started: -topology-dir (or $HANDOFFKIT_REDIS_DIR)")
	}
	if faults {
		if _, err := os.Stat(c.script); err != nil {
			return fmt.Errorf("-topology-script: %w", err)
		}
	}
	return nil
}

func splitAddrs(s string) []string {
	var addrs []string
	for a := range strings.SplitSeq(s, ",") {
		if a = strings.TrimSpace(a); a != "" {
			addrs = append(addrs, a)
		}
	}
	return addrs
}

func (c *redisConfig) kind() string {
	switch {
	case len(c.sentinels) > 0:
		return "sentinel"
	case len(c.cluster) > 0:
		return "cluster"
	}
	return "single"
}

func (c *redisConfig) String() string {
	switch c.kind() {
	case "sentinel":
		return fmt.Sprintf("sentinel master %s via %s", c.master, strings.Join(c.sentinels, ","))
	case "cluster":
		return "cluster " + strings.Join(c.cluster, ",")
	}
	return "single " + c.addr
}

// options are the go-redis options of one client of the topology.
func (c *redisConfig) options(pool int) *redis.UniversalOptions {
	o := &redis.UniversalOptions{ContextTimeoutEnabled: true, PoolSize: pool}
	switch c.kind() {
	case "sentinel":
		o.Addrs, o.MasterName = c.sentinels, c.master
	case "cluster":
		o.Addrs, o.IsClusterMode = c.cluster, true
	default:
		o.Addrs = []string{c.addr}
	}
	return o
}

// describe names the topology and the server version for the report.
func (c *redisConfig) describe(ctx context.Context, rdb redis.UniversalClient, mini bool) string {
	if mini {
		return "miniredis (in-process)"
	}
	version := "?"
	if info, err := rdb.Info(ctx, "server").Result(); err == nil {
		for line := range strings.SplitSeq(info, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
				version = v
				break
			}
		}
	}
	s := fmt.Sprintf("redis-server %s, %s", version, c)
	if c.kind() == "sentinel" {
		s += ", writes wait for 1 replica"
	}
	return s
}

// forEachKeys calls fn with the keys matching pattern, a page of a scan
// at a time, on every master of a cluster (concurrently: fn must be safe
// for that) with that master's client.
func forEachKeys(ctx context.Context, rdb redis.UniversalClient, pattern string, fn func(c *redis.Client, keys []string) error) error {
	scan := func(ctx context.Context, c *redis.Client) error {
		var cursor uint64
		for {
			keys, next, err := c.Scan(ctx, cursor, pattern, 1000).Result()
			if err == nil && len(keys) > 0 {
				err = fn(c, keys)
			}
			if err != nil || next == 0 {
				return err
			}
			cursor = next
		}
	}
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		return c.ForEachMaster(ctx, scan)
	case *redis.Client:
		return scan(ctx, c)
	}
	return fmt.Errorf("no key scan for a %T", rdb)
}

// countKeys counts the keys under prefix, or returns -1.
func countKeys(ctx context.Context, rdb redis.UniversalClient, prefix string) int {
	var n atomic.Int64
	err := forEachKeys(ctx, rdb, prefix+"*", func(_ *redis.Client, keys []string) error {
		n.Add(int64(len(keys)))
		return nil
	})
	if err != nil {
		return -1
	}
	return int(n.Load())
}

// deleteKeys deletes the keys under prefix, one UNLINK each (a cluster
// refuses one command on keys of several slots), pipelined.
func deleteKeys(ctx context.Context, rdb redis.UniversalClient, prefix string) error {
	return forEachKeys(ctx, rdb, prefix+"*", func(c *redis.Client, keys []string) error {
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range keys {
				p.Unlink(ctx, k)
			}
			return nil
		})
		return err
	})
}

// topology runs the topology script (scripts/redis-topology.sh) on the
// directory of the nodes it started.
type topology struct {
	cfg *redisConfig
	n   int // faults run, to alternate the kinds on Sentinel
}

// script runs one subcommand of the script on the topology, within 60 s.
func (t *topology) script(ctx context.Context, sub string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, t.cfg.script, append([]string{sub, t.cfg.dir}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w: %s", t.cfg.script, sub, err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// fault plays the next Redis fault and returns what it was. It returns
// when the fault is over: the node is back in its role.
func (t *topology) fault(ctx context.Context, pick func(n int) int) (string, error) {
	t.n++
	switch t.cfg.kind() {
	case "single":
		_, err := t.script(ctx, "restart", port(t.cfg.addr))
		return "restart " + t.cfg.addr, err
	case "cluster":
		addr := t.cfg.cluster[pick(len(t.cfg.cluster))]
		_, err := t.script(ctx, "restart", port(addr))
		return "restart master " + addr, err
	}
	old, err := t.master(ctx)
	if err != nil {
		return "failover", err
	}
	if t.n%2 == 1 {
		next, err := t.script(ctx, "failover")
		return "failover " + old + " -> " + next, err
	}
	return t.crashMaster(ctx, old)
}

// crashMaster kills the master, waits for the Sentinels to promote the
// replica, then starts the old master again and waits until it is the new
// master's replica with its link up: until then no write can reach a
// replica, and with redisflow.WithReplicas(1) every write fails closed.
// It revives the node only after the promotion: a master revived before
// it comes back from its own AOF, which may lack the last second of
// writes, and the replica would then resynchronise from it.
func (t *topology) crashMaster(ctx context.Context, old string) (string, error) {
	what := "crash+revive master " + old
	if _, err := t.script(ctx, "crash", port(old)); err != nil {
		return what, err
	}
	next, err := waitFor(ctx, 30*time.Second, func() (string, bool) {
		m, err := t.master(ctx)
		return m, err == nil && m != old
	})
	if err != nil {
		return what, fmt.Errorf("no new master: %w", err)
	}
	what = "crash master " + old + " -> " + next + ", revive"
	if _, err := t.script(ctx, "revive", port(old)); err != nil {
		return what, err
	}
	node := redis.NewClient(&redis.Options{Addr: old})
	defer node.Close()
	_, err = waitFor(ctx, time.Minute, func() (string, bool) {
		info, err := node.Info(ctx, "replication").Result()
		return "", err == nil && strings.Contains(info, "role:slave") && strings.Contains(info, "master_link_status:up")
	})
	if err != nil {
		return what, fmt.Errorf("the revived %s did not become a replica: %w", old, err)
	}
	return what, nil
}

// master asks the first Sentinel that answers for the master's address.
func (t *topology) master(ctx context.Context) (string, error) {
	var err error
	for _, s := range t.cfg.sentinels {
		sc := redis.NewSentinelClient(&redis.Options{Addr: s})
		var addr []string
		addr, err = sc.GetMasterAddrByName(ctx, t.cfg.master).Result()
		sc.Close()
		if err == nil && len(addr) == 2 {
			return net.JoinHostPort(addr[0], addr[1]), nil
		}
	}
	return "", fmt.Errorf("no Sentinel reports master %s: %v", t.cfg.master, err)
}

// waitFor polls check every 100 ms until it holds or d has passed.
func waitFor(ctx context.Context, d time.Duration, check func() (string, bool)) (string, error) {
	deadline := time.Now().Add(d)
	for {
		if v, ok := check(); ok {
			return v, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("not within %v", d)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
