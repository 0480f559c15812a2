package redisflow

import (
	"bytes"
	"context"
	"crypto/rand"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/handoffkit/handoffkit/internal/flow"
	"github.com/handoffkit/handoffkit/internal/testkit"
	"github.com/handoffkit/handoffkit/session"
)

// testKeys are fixed cookie keys: tests never use random keys either.
var (
	testKeys  = session.KeyPair{Hash: bytes.Repeat([]byte{0x11}, 32), Block: bytes.Repeat([]byte{0x22}, 32)}
	otherKeys = session.KeyPair{Hash: bytes.Repeat([]byte{0x33}, 64), Block: bytes.Repeat([]byte{0x44}, 16)}
)

// realRedisAddr returns the address of the real Redis the guarantees are
// proved against (scripts/with-redis.sh starts one for `make test`). Without
// one the test is skipped, loudly, except under CI=true where it fails.
func realRedisAddr(t testing.TB) string {
	t.Helper()
	addr := os.Getenv("HANDOFFKIT_REDIS_ADDR")
	if addr == "" {
		needRedis(t, "HANDOFFKIT_REDIS_ADDR is not set")
	}
	return addr
}

func needRedis(t testing.TB, why string) {
	t.Helper()
	msg := "REDIS TEST NOT RUN: " + why + ": run `make test`, or scripts/with-redis.sh go test ./session/redisflow/"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// newClient returns a go-redis client for addr, closed at cleanup: one per
// app instance.
func newClient(t testing.TB, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true, MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	return c
}

// realRedis returns a client of the real Redis and a key prefix of this
// test alone, whose keys are deleted at cleanup.
func realRedis(t testing.TB) (*redis.Client, string) {
	t.Helper()
	rdb := newClient(t, realRedisAddr(t))
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("real Redis at %s: %v", rdb.Options().Addr, err)
	}
	prefix := uniquePrefix(t)
	t.Cleanup(func() { deleteKeys(t, rdb, prefix) })
	return rdb, prefix
}

func uniquePrefix(t testing.TB) string {
	name := strings.Map(func(r rune) rune {
		if r == '/' || r == ' ' || r == ':' {
			return '.'
		}
		return r
	}, t.Name())
	return "handoffkit:test:" + name + ":" + rand.Text()[:8] + ":"
}

// keys returns every key under prefix.
func keys(t testing.TB, rdb redis.UniversalClient, prefix string) []string {
	t.Helper()
	var out []string
	iter := rdb.Scan(context.Background(), 0, prefix+"*", 100).Iterator()
	for iter.Next(context.Background()) {
		out = append(out, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Fatalf("scan %s*: %v", prefix, err)
	}
	return out
}

func deleteKeys(t testing.TB, rdb redis.UniversalClient, prefix string) {
	for _, k := range keys(t, rdb, prefix) {
		rdb.Del(context.Background(), k)
	}
}

// mini returns a miniredis server and a client of it, for fast tests of
// behaviour that needs no real server.
func mini(t testing.TB) (*miniredis.Miniredis, *redis.Client) {
	t.Helper()
	m := miniredis.RunT(t)
	return m, newClient(t, m.Addr())
}

// redisProcess is a redis-server of the test's own, which the test stops
// and starts again to see how the package behaves while Redis is down.
type redisProcess struct {
	t    testing.TB
	path string
	addr string
	dir  string
	cmd  *exec.Cmd
}

// startRedis starts a redis-server on a free loopback port. Its path comes
// from HANDOFFKIT_REDIS_SERVER (set by scripts/with-redis.sh), else PATH.
func startRedis(t testing.TB) *redisProcess {
	t.Helper()
	path := os.Getenv("HANDOFFKIT_REDIS_SERVER")
	if path == "" {
		var err error
		if path, err = exec.LookPath("redis-server"); err != nil {
			needRedis(t, "no redis-server (HANDOFFKIT_REDIS_SERVER is not set and none is on PATH)")
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := &redisProcess{t: t, path: path, addr: addr, dir: t.TempDir()}
	p.start()
	t.Cleanup(p.stop)
	return p
}

func (p *redisProcess) start() {
	p.t.Helper()
	_, port, _ := net.SplitHostPort(p.addr)
	p.cmd = exec.Command(p.path, "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no",
		"--dir", p.dir, "--logfile", "")
	p.cmd.Stdout, p.cmd.Stderr = nil, nil
	if err := p.cmd.Start(); err != nil {
		p.t.Fatalf("start redis-server: %v", err)
	}
	c := redis.NewClient(&redis.Options{Addr: p.addr, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for c.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			p.t.Fatalf("redis-server on %s did not answer", p.addr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stop kills the server, as a crash or a network cut would.
func (p *redisProcess) stop() {
	if p.cmd == nil {
		return
	}
	p.cmd.Process.Kill()
	p.cmd.Wait()
	p.cmd = nil
}

// newFakeClock returns an injected clock that only moves when told.
func newFakeClock() *testkit.Clock {
	return testkit.NewClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
}

// seal starts a flow for alice on m and returns its state.
func seal(t testing.TB, m *session.Manager) string {
	t.Helper()
	st, err := fm(m).Seal("alice", testParams)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	return st.Reveal()
}

// open ends the flow of state for alice on m, as the return does.
func open(m *session.Manager, state string) (flow.Flow, error) {
	return fm(m).Open(context.Background(), state, "alice")
}

var testParams = flow.Params{Intent: "connections", Next: "/settings"}

// slowMachine is the Redis timeout of tests that expect success: far above
// the default, so that a loaded test machine cannot fail them.
const slowMachine = 5 * time.Second

// mustGuard builds a guard or fails the test, with the slowMachine timeout
// unless opts set another.
func mustGuard(t testing.TB, rdb redis.UniversalClient, opts ...Option) *replayGuard {
	t.Helper()
	g, err := NewReplayGuard(rdb, append([]Option{WithTimeout(slowMachine)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return g.(*replayGuard)
}

// newManager returns a Manager on testKeys with opts.
func newManager(t testing.TB, opts ...session.Option) *session.Manager {
	t.Helper()
	m, err := session.New([]session.KeyPair{testKeys}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func itoa(i int) string { return strconv.Itoa(i) }

// fm is the flow machinery behind a session.Manager, as the handlers drive it.
func fm(m *session.Manager) *flow.Manager { return m }
