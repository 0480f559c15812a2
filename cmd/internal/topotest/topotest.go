// Package topotest starts a Redis topology of a test's own with
// scripts/redis-topology.sh, for the commands' tests that restart Redis or
// count its commands, which the Redis other packages' tests share would
// disturb.
package topotest

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

// Topology is a running topology: its directory, the script that drives it
// and its address (HANDOFFKIT_REDIS_ADDR of a single node).
type Topology struct {
	Dir, Script, Addr string
}

// Single starts a single redis-server in a temporary directory, stopped at
// cleanup. Without redis-server or the script the test is skipped, loudly,
// except under CI=true where it fails.
func Single(t *testing.T) Topology {
	t.Helper()
	script := os.Getenv("HANDOFFKIT_REDIS_TOPOLOGY") // set by scripts/with-redis.sh
	if script == "" {
		script, _ = filepath.Abs("../../scripts/redis-topology.sh")
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		NeedRedis(t, "no redis-server")
	}
	if _, err := os.Stat(script); err != nil {
		NeedRedis(t, "no "+script)
	}
	dir := t.TempDir()
	if out, err := exec.Command(script, "start", "single", dir).CombinedOutput(); err != nil {
		t.Fatalf("start: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command(script, "stop", dir).Run() })
	env, err := os.ReadFile(filepath.Join(dir, "env"))
	m := regexp.MustCompile(`HANDOFFKIT_REDIS_ADDR=(\S+)`).FindSubmatch(env)
	if err != nil || m == nil {
		t.Fatalf("no address in %s/env: %v\n%s", dir, err, env)
	}
	return Topology{Dir: dir, Script: script, Addr: string(m[1])}
}

// NeedRedis stops a test that has no Redis: skipped loudly, failed under
// CI=true.
func NeedRedis(t *testing.T, why string) {
	t.Helper()
	msg := "REDIS TEST NOT RUN: " + why + ": run `make test`, or scripts/with-redis.sh go test ./cmd/..."
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}
