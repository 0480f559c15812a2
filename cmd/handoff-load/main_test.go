package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
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

// TestSmallRunPasses runs a short load as `make load` does and expects
// every check to hold.
func TestSmallRunPasses(t *testing.T) {
	var out, errOut bytes.Buffer
	// A long guard timeout: this checks the run's checks, and a loaded test
	// machine must not fail it.
	code := run(context.Background(), []string{"-redis", redisArg(), "-browsers", "4", "-flows", "60", "-replay-every", "5",
		"-guard-timeout", "5s"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d:\n%s%s", code, out.String(), errOut.String())
	}
	for _, want := range []string{"flows/s", "GET /manage-connections", "GET /connections/return", "p99",
		"states recorded in Redis: 60", "12 refused, 0 accepted", "OK: zero errors"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

// TestRunCatchesReplays: with one in-memory guard per instance, an old
// cookie copy replayed on the other instance gets through and runs the
// hook a second time; the run must see it and fail.
func TestRunCatchesReplays(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"-guard", "memory", "-browsers", "2", "-flows", "10", "-replay-every", "2"}, &out, &errOut)
	if code != 1 {
		t.Fatalf("exit %d, want 1:\n%s%s", code, out.String(), errOut.String())
	}
	for _, want := range []string{"5 flows whose hook ran more than once", "5 replays accepted", "FAIL:"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-browsers", "0"},
		{"-flows", "-1"},
		{"-guard", "file"},
		{"-redis", ""},
		{"-no-such-flag"},
	} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), args, &out, &errOut); code != 2 {
			t.Errorf("run(%q) = %d, want 2", args, code)
		}
	}
}
