package redisflow

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/handoffkit/handoffkit/session"
)

func hashID(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestNewReplayGuardValidates(t *testing.T) {
	_, rdb := mini(t)
	tests := []struct {
		name string
		opts []Option
	}{
		{"empty prefix", []Option{WithKeyPrefix("")}},
		{"zero timeout", []Option{WithTimeout(0)}},
		{"negative timeout", []Option{WithTimeout(-time.Second)}},
		{"nil clock", []Option{WithClock(nil)}},
		{"a brace in the prefix", []Option{WithKeyPrefix("app:{tag}:")}},
		{"negative replicas", []Option{WithReplicas(-1)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, err := NewReplayGuard(rdb, tc.opts...)
			if err == nil || g != nil {
				t.Fatalf("NewReplayGuard = %v, %v; want an error", g, err)
			}
			if !strings.HasPrefix(err.Error(), "redisflow: NewReplayGuard: ") {
				t.Fatalf("error %q lacks the prefix", err)
			}
		})
	}
	if _, err := NewReplayGuard(nil); err == nil || !strings.HasPrefix(err.Error(), "redisflow: NewReplayGuard: ") {
		t.Fatalf("nil client: %v", err)
	}
	noDeadlines := redis.NewClient(&redis.Options{Addr: rdb.Options().Addr})
	defer noDeadlines.Close()
	if _, err := NewReplayGuard(noDeadlines); err == nil || !strings.Contains(err.Error(), "ContextTimeoutEnabled") {
		t.Fatalf("client without ContextTimeoutEnabled: %v", err)
	}
	sg, err := NewReplayGuard(rdb)
	if err != nil {
		t.Fatal(err)
	}
	if g := sg.(*replayGuard); g.prefix != defaultGuardPrefix || g.timeout != defaultTimeout || g.replicas != 0 {
		t.Fatalf("defaults: prefix %q, timeout %v", g.prefix, g.timeout)
	}
}

// TestGuardOneTimeAcrossInstances_B4: two app instances, each with its own
// Redis connection pool and guard, race to consume the same states on the
// real server; exactly one call wins each state.
func TestGuardOneTimeAcrossInstances_B4(t *testing.T) {
	rdb, prefix := realRedis(t)
	addr := rdb.Options().Addr
	guards := []*replayGuard{
		mustGuard(t, newClient(t, addr), WithKeyPrefix(prefix)),
		mustGuard(t, newClient(t, addr), WithKeyPrefix(prefix)),
	}
	const states, callers = 20, 8 // callers per instance and state
	expires := time.Now().Add(time.Minute)
	for i := range states {
		id := hashID("state-" + itoa(i))
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins, replays := 0, 0
		for _, g := range guards {
			for range callers {
				wg.Go(func() {
					err := g.Consume(context.Background(), id, expires)
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						wins++
					case errors.Is(err, session.ErrReplayed):
						replays++
					default:
						t.Errorf("Consume: %v", err)
					}
				})
			}
		}
		wg.Wait()
		if wins != 1 || replays != 2*callers-1 {
			t.Fatalf("state %d: %d first uses and %d replays, want 1 and %d", i, wins, replays, 2*callers-1)
		}
	}
}

// TestGuardKeyLivesAsLongAsTheFlow_B4: the key's time to live on the real
// server is what is left of the flow's life by the Manager's clock (a fake
// clock years ahead of Redis's), and Redis forgets the state after it.
func TestGuardKeyLivesAsLongAsTheFlow_B4(t *testing.T) {
	rdb, prefix := realRedis(t)
	clock := newFakeClock()
	g := mustGuard(t, rdb, WithKeyPrefix(prefix), WithClock(clock.Now))
	ctx := context.Background()

	id := hashID("ten minutes")
	if err := g.Consume(ctx, id, clock.Now().Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	ttl := rdb.PTTL(ctx, prefix+id).Val()
	if ttl <= 10*time.Minute-5*time.Second || ttl > 10*time.Minute+time.Millisecond {
		t.Fatalf("PTTL = %v, want about 10m", ttl)
	}

	// A sub-millisecond remainder still records the state.
	id = hashID("almost over")
	if err := g.Consume(ctx, id, clock.Now().Add(time.Microsecond)); err != nil {
		t.Fatal(err)
	}

	// Expiry itself is Redis's: the key is gone shortly after its TTL.
	id = hashID("short")
	if err := g.Consume(ctx, id, clock.Now().Add(100*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if err := g.Consume(ctx, id, clock.Now().Add(100*time.Millisecond)); !errors.Is(err, session.ErrReplayed) {
		t.Fatalf("second use before expiry: %v, want ErrReplayed", err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for rdb.Exists(ctx, prefix+id).Val() == 1 {
		if time.Now().After(deadline) {
			t.Fatal("Redis kept the key past its TTL")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestGuardRefusesExpiredFlows(t *testing.T) {
	_, rdb := mini(t)
	clock := newFakeClock()
	g := mustGuard(t, rdb, WithClock(clock.Now))
	for _, exp := range []time.Time{clock.Now(), clock.Now().Add(-time.Second)} {
		err := g.Consume(context.Background(), hashID("late"), exp)
		if !errors.Is(err, session.ErrExpired) {
			t.Fatalf("Consume(expires %v) = %v, want ErrExpired", exp.Sub(clock.Now()), err)
		}
	}
	if n := len(keys(t, rdb, "")); n != 0 {
		t.Fatalf("%d keys written for expired flows", n)
	}
}

// TestGuardStoresOnlyStateHashes_B4 runs flows through a Manager with the
// guard on the real server: every key is the prefix and a SHA-256 in hex
// (of the flow's nonce), and no key or value holds any part of a state.
func TestGuardStoresOnlyStateHashes_B4(t *testing.T) {
	rdb, prefix := realRedis(t)
	m := newManager(t, session.WithReplayGuard(mustGuard(t, rdb, WithKeyPrefix(prefix))))
	var states []string
	for range 3 {
		st := seal(t, m)
		if _, err := open(m, st); err != nil {
			t.Fatal(err)
		}
		states = append(states, st)
	}
	got := keys(t, rdb, prefix)
	if len(got) != len(states) {
		t.Fatalf("%d keys for %d finished flows", len(got), len(states))
	}
	hashKey := regexp.MustCompile("^" + regexp.QuoteMeta(prefix) + "[0-9a-f]{64}$")
	for _, k := range got {
		v := rdb.Get(context.Background(), k).Val()
		if !hashKey.MatchString(k) {
			t.Errorf("key %q is not the prefix and a SHA-256", k)
		}
		for _, s := range states {
			for i := 0; i+16 <= len(s); i += 16 {
				if strings.Contains(k, s[i:i+16]) || strings.Contains(v, s[i:i+16]) {
					t.Errorf("key %q or its value holds part of a state", k)
				}
			}
		}
	}
}

func TestGuardRefusesIDsThatAreNotHashes_B4(t *testing.T) {
	_, rdb := mini(t)
	g := mustGuard(t, rdb)
	exp := time.Now().Add(time.Minute)
	for _, id := range []string{
		"",
		"yvJ0qgQ5r0pSg0t6Jm7m2cV8T3m9cNnq0m7m2cV8T3m", // a state
		strings.Repeat("A", 64),
		strings.Repeat("a", 63),
		strings.Repeat("a", 65),
		strings.Repeat("g", 64),
	} {
		if err := g.Consume(context.Background(), id, exp); err == nil || errors.Is(err, session.ErrReplayed) {
			t.Errorf("Consume(%q) = %v, want a refusal", id, err)
		}
	}
	if n := len(keys(t, rdb, "")); n != 0 {
		t.Fatalf("%d keys written for refused ids", n)
	}
}

// TestGuardRetriedWriteIsNotAReplay: when the client retries a SET whose
// reply was lost, the key already holds this call's nonce; that is still
// the first use.
func TestGuardRetriedWriteIsNotAReplay(t *testing.T) {
	m, rdb := mini(t)
	g := mustGuard(t, rdb)
	id := hashID("retried")
	m.Set(defaultGuardPrefix+id, "nonce-of-this-call")
	g.nonce = func() string { return "nonce-of-this-call" }
	if err := g.Consume(context.Background(), id, time.Now().Add(time.Minute)); err != nil {
		t.Fatalf("own retried write: %v, want nil", err)
	}
	g.nonce = func() string { return "nonce-of-another-call" }
	if err := g.Consume(context.Background(), id, time.Now().Add(time.Minute)); !errors.Is(err, session.ErrReplayed) {
		t.Fatalf("another call's write: %v, want ErrReplayed", err)
	}
}

// TestGuardFailsClosedWhenRedisDown_B4 kills the test's own redis-server
// between two flows: the return fails with errUnavailable within the
// timeout, never as a success or a replay; once Redis is back, flows work.
func TestGuardFailsClosedWhenRedisDown_B4(t *testing.T) {
	srv := startRedis(t)
	const timeout = 2 * time.Second
	g := mustGuard(t, newClient(t, srv.addr), WithTimeout(timeout))
	m := newManager(t, session.WithReplayGuard(g))

	if _, err := open(m, seal(t, m)); err != nil {
		t.Fatalf("flow before the outage: %v", err)
	}

	st := seal(t, m)
	srv.stop()
	start := time.Now()
	_, err := open(m, st)
	elapsed := time.Since(start)
	if !errors.Is(err, errUnavailable) || errors.Is(err, session.ErrReplayed) {
		t.Fatalf("return while Redis is down: %v, want errUnavailable", err)
	}
	if !strings.Contains(err.Error(), "redis unavailable") {
		t.Errorf("error %q does not say Redis is unavailable", err)
	}
	if elapsed > timeout+time.Second {
		t.Errorf("return took %v with a %v timeout", elapsed, timeout)
	}

	srv.start()
	if _, err := open(m, seal(t, m)); err != nil {
		t.Fatalf("flow after Redis is back: %v", err)
	}
}

// TestGuardTimeoutBoundsStalledRedis: a Redis that accepts connections but
// does not answer (stopped with SIGSTOP) fails the call within the timeout.
func TestGuardTimeoutBoundsStalledRedis(t *testing.T) {
	srv := startRedis(t)
	const timeout = 200 * time.Millisecond
	rdb := newClient(t, srv.addr)
	g := mustGuard(t, rdb, WithTimeout(timeout))
	ctx := context.Background()
	// A first call, with time to spare, opens the pooled connection.
	if err := mustGuard(t, rdb).Consume(ctx, hashID("warm"), time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := srv.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer srv.cmd.Process.Signal(syscall.SIGCONT)
	start := time.Now()
	err := g.Consume(ctx, hashID("stalled"), time.Now().Add(time.Minute))
	if elapsed := time.Since(start); elapsed > timeout+500*time.Millisecond {
		t.Errorf("Consume took %v with a %v timeout", elapsed, timeout)
	}
	// The deadline reaches go-redis as the socket's (an i/o timeout) or as
	// the context's, whichever it sees first.
	if !errors.Is(err, errUnavailable) || !errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("stalled Redis: %v, want errUnavailable wrapping the deadline", err)
	}
}
