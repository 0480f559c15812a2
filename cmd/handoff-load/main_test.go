package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/handoffkit/handoffkit/cmd/internal/topotest"
)

// redisArg is the real Redis when scripts/with-redis.sh started one, else
// the in-process miniredis: the run's checks are what is tested here; the
// guard's guarantees are proved in session/redisflow against the server.
func redisArg() string {
	if addr := os.Getenv("HANDOFFKIT_REDIS_ADDR"); addr != "" {
		return addr
	}
	return "mini"
}

// lastLine is the report's verdict.
func lastLine(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return lines[len(lines)-1]
}

func runLoad(t *testing.T, want int, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	if code := run(context.Background(), args, &out, &errOut); code != want {
		t.Fatalf("exit %d, want %d:\n%s%s", code, want, out.String(), errOut.String())
	}
	return out.String()
}

// TestSmallRunPasses runs a short load as `make load` does and expects
// every check to hold.
func TestSmallRunPasses(t *testing.T) {
	// A long Redis timeout: this checks the run's checks, and a loaded test
	// machine must not fail it.
	out := runLoad(t, 0, "-redis", redisArg(), "-browsers", "4", "-flows", "60", "-replay-every", "5", "-guard-timeout", "5s")
	for _, want := range []string{"flows/s", "GET /manage-connections", "GET /connections/return", "p99",
		"states recorded in Redis: 60 ", "12 refused, 0 accepted", "60 returned successfully", "0 unexplained"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if got := lastLine(out); got != "load: 60 flows, 0 violations" {
		t.Errorf("last line %q", got)
	}
}

// TestRunCatchesReplays: with one in-memory guard per instance, a return
// replayed on another instance gets through and runs the hook a second
// time; the run must see it and fail.
func TestRunCatchesReplays(t *testing.T) {
	out := runLoad(t, 1, "-guard", "memory", "-browsers", "2", "-flows", "10", "-replay-every", "2")
	for _, want := range []string{"5 flows whose hook ran more than once", "5 replays accepted", "FAIL:"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if got := lastLine(out); got != "load: 10 flows, 10 violations" {
		t.Errorf("last line %q", got)
	}
}

var verdict = regexp.MustCompile(`^soak: ([0-9]+) flows, ([0-9]+) violations$`)

// TestSoakCatchesReplays: the timed run counts the same violations, under
// upstream faults and clock jumps.
func TestSoakCatchesReplays(t *testing.T) {
	out := runLoad(t, 1, "-guard", "memory", "-browsers", "4", "-duration", "3s", "-replay-every", "3",
		"-faults", "upstream,clock", "-fault-every", "500ms", "-token-ttl", "80s")
	m := verdict.FindStringSubmatch(lastLine(out))
	if m == nil || m[1] == "0" || m[2] == "0" || !strings.Contains(out, "replays accepted") {
		t.Errorf("want flows and violations, got:\n%s", out)
	}
}

// TestSoakShort runs a 10-second soak on the real Redis with upstream
// faults and clock jumps, and expects no violation.
func TestSoakShort(t *testing.T) {
	addr := os.Getenv("HANDOFFKIT_REDIS_ADDR")
	if addr == "" {
		topotest.NeedRedis(t, "HANDOFFKIT_REDIS_ADDR is not set")
	}
	out := runLoad(t, 0, "-redis", addr, "-browsers", "8", "-duration", "10s", "-faults", "upstream,clock",
		"-fault-every", "1500ms", "-token-ttl", "80s", "-guard-timeout", "5s")
	t.Log(out)
	if m := verdict.FindStringSubmatch(lastLine(out)); m == nil || m[1] == "0" || m[2] != "0" {
		t.Errorf("want flows and 0 violations, got:\n%s", out)
	}
	if !strings.Contains(out, "faults: 0 Redis, ") {
		t.Errorf("no fault table:\n%s", out)
	}
}

// TestSoakRedisRestart starts a single Redis of its own with
// scripts/redis-topology.sh (restarting the one other packages' tests
// share would fail them), restarts it during a 10-second soak, and
// expects the failures in its window to be counted there, and no
// violation.
func TestSoakRedisRestart(t *testing.T) {
	top := topotest.Single(t)
	out := runLoad(t, 0, "-redis", top.Addr, "-topology-dir", top.Dir, "-topology-script", top.Script, "-browsers", "8",
		"-duration", "10s", "-faults", "redis", "-fault-every", "2s")
	t.Log(out)
	if v := verdict.FindStringSubmatch(lastLine(out)); v == nil || v[1] == "0" || v[2] != "0" {
		t.Errorf("want flows and 0 violations, got:\n%s", out)
	}
	if !strings.Contains(out, "restart "+top.Addr) {
		t.Errorf("no restart in the fault table:\n%s", out)
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-browsers", "0"},
		{"-flows", "-1"},
		{"-instances", "1"},
		{"-guard", "file"},
		{"-redis", ""},
		{"-redis", "mini", "-redis-cluster", "127.0.0.1:1"},
		{"-redis-sentinels", "127.0.0.1:1", "-redis-master", ""},
		{"-redis", "mini", "-faults", "upstream"},
		{"-redis", "mini", "-duration", "1s", "-faults", "disk"},
		{"-redis", "mini", "-duration", "1s", "-faults", "redis"},
		{"-guard", "memory", "-duration", "1s", "-faults", "redis"},
		{"-no-such-flag"},
	} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), args, &out, &errOut); code != 2 {
			t.Errorf("run(%q) = %d, want 2", args, code)
		}
	}
}
