package main

import (
	"bytes"
	"context"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/handoffkit/handoffkit/cmd/internal/topotest"
)

// stepRow is a line of a rate table: offered, achieved, p50, p99, max,
// errors, Redis CPU, Redis CPU per request, other processes' CPU, verdict.
var stepRow = regexp.MustCompile(`(?m)^\s+\d+\s+[\d.]+\s+[\d.]+ms\s+[\d.]+ms\s+[\d.]+ms\s+\d+\s+\d+%\s+[\d.]+us\s+(\d+%|-)\s+(ok|over)$`)

// TestShortRun runs every phase with tiny steps on the real Redis and
// checks the report's shape and that its figures are plausible, not how
// fast this machine is.
func TestShortRun(t *testing.T) {
	// A Redis of its own: the command counts would include those of the
	// other packages' tests on a shared one.
	addr := topotest.Single(t).Addr
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"-redis", addr, "-step", "200ms", "-pause", "50ms",
		"-start-rate", "20", "-max-rate", "40", "-redis-start-rate", "100", "-redis-max-rate", "200", "-refine", "1",
		"-users", "8", "-count", "50", "-mem-keys", "300"}, &out, &errOut)
	report := out.String()
	if code != 0 {
		t.Fatalf("exit %d:\n%s%s", code, report, errOut.String())
	}
	for _, want := range []string{
		"GOMAXPROCS=", "caveat: the load generator",
		"used state (guard key)", "token pair (leased)",
		"manage (GET /manage-connections): none", "return (GET /connections/return): ",
		"hook: ev.AccessToken(ctx), then AllConnections",
		"returns/s per instance: ", "returns/s per Redis node: ", "Manages per Redis node: none",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q:\n%s", want, report)
		}
	}
	if n := strings.Count(report, "matches the kit's"); n != 1 {
		t.Errorf("%d synthetic mixes match the kit's, want 1:\n%s", n, report)
	}
	for _, section := range []string{"Returns per app instance", "Returns per Redis node"} {
		_, rest, _ := strings.Cut(report, section)
		rest, _, _ = strings.Cut(rest, "/s per ")
		if !stepRow.MatchString(rest) {
			t.Errorf("%s: no rate step:\n%s", section, report)
		}
	}
	_, line, ok := strings.Cut(report, "\nsummary: ")
	if !ok {
		t.Fatalf("no summary line:\n%s", report)
	}
	fields := map[string]float64{}
	for _, kv := range strings.Fields(line) {
		k, v, _ := strings.Cut(kv, "=")
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			t.Errorf("summary field %q: %v", kv, err)
		}
		fields[k] = f
	}
	for _, k := range []string{"state_bytes", "token_bytes"} {
		// A key holds at least its name (over 30 bytes) and its value.
		if v, ok := fields[k]; !ok || v < 32 || v > 64<<10 {
			t.Errorf("summary %s = %v (present %v), want a plausible size per key", k, v, ok)
		}
	}
	for _, k := range []string{"returns_per_instance", "returns_per_redis_node", "redis_us_per_return"} {
		if v, ok := fields[k]; !ok || v < 0 {
			t.Errorf("summary %s = %v (present %v)", k, v, ok)
		}
	}
}

// TestClimb: doubling until a step fails, then geometric midpoints.
func TestClimb(t *testing.T) {
	var rates []float64
	var out bytes.Buffer
	best, err := climb(context.Background(), &out, 50, 10000, 2, 100*time.Millisecond,
		func(_ context.Context, rate float64) (step, error) {
			rates = append(rates, rate)
			s := step{rate: rate, sent: 1, ok: 1, p99: time.Millisecond}
			if rate > 300 {
				s.p99 = time.Second
			}
			return s, nil
		})
	if err != nil {
		t.Fatal(err)
	}
	// 50, 100, 200 pass, 400 fails; sqrt(200*400) = 283 passes; sqrt(283*400) = 336 fails.
	want := []float64{50, 100, 200, 400, 283, 336}
	if best.rate != 283 || !slices.Equal(rates, want) {
		t.Errorf("best %v after %v, want 283 after %v\n%s", best, rates, want, out.String())
	}
}

// TestOpenLoopMeasuresFromDueTime: a request that waits behind a slow one
// is late by the wait, which the latency includes.
func TestOpenLoopMeasuresFromDueTime(t *testing.T) {
	gate := make(chan struct{})
	s := openLoop(context.Background(), 1000, 4, func(_ context.Context, i int) error {
		if i == 0 {
			time.AfterFunc(50*time.Millisecond, func() { close(gate) })
		}
		<-gate // every request waits for the first's 50 ms
		return nil
	})
	if s.sent != 4 || s.ok != 4 || s.errors != 0 {
		t.Fatalf("sent %d, ok %d, errors %d", s.sent, s.ok, s.errors)
	}
	if s.p50 < 40*time.Millisecond {
		t.Errorf("p50 %v: the queueing behind the first request is not in the latency", s.p50)
	}
}

func TestPercentile(t *testing.T) {
	lat := make([]time.Duration, 0, 100)
	for i := 100; i >= 1; i-- {
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	if p := percentile(lat, 0.99); p != 99*time.Millisecond {
		t.Errorf("p99 of 1..100 ms = %v, want 99ms", p)
	}
	if p := percentile(lat, 0.50); p != 50*time.Millisecond {
		t.Errorf("p50 of 1..100 ms = %v, want 50ms", p)
	}
	if p := percentile(nil, 0.99); p != 0 {
		t.Errorf("p99 of nothing = %v", p)
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-redis", ""},
		{"-redis", "127.0.0.1:1", "-phases", "memory,disk"},
		{"-redis", "127.0.0.1:1", "-step", "0"},
		{"-redis", "127.0.0.1:1", "-start-rate", "100", "-max-rate", "50"},
		{"-redis", "127.0.0.1:1", "-users", "0"},
		{"-no-such-flag"},
	} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), args, &out, &errOut); code != 2 {
			t.Errorf("run(%q) = %d, want 2", args, code)
		}
	}
}
