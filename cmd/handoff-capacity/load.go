package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// step is what one rate step measured.
type step struct {
	rate     float64 // offered, per second
	sent     int
	ok       int
	errors   int
	firstErr error
	achieved float64 // successful requests per second, from the step's start to its last answer (or its schedule's end)
	p50, p99 time.Duration
	max      time.Duration
	redisCPU float64       // Redis's CPU time over the step's wall time (1.0: one core)
	redisReq time.Duration // Redis's CPU time per request sent
	others   float64       // the CPU time of every other process (and steal) over the wall time, -1 when unknown
	selfReq  time.Duration // this process's CPU time per request sent
}

func (s step) pass(limit time.Duration) bool { return s.sent > 0 && s.errors == 0 && s.p99 <= limit }

// openLoop sends n requests at rate per second whatever the answers: the
// i-th is due at start + i/rate and runs on its own goroutine, and its
// latency runs from when it was due, not from when it was sent. A system
// (or a scheduler) that falls behind makes every later request late, and
// that lateness is in the figures instead of being hidden by a sender that
// waits for answers (coordinated omission). do gets the request's index.
func openLoop(ctx context.Context, rate float64, n int, do func(ctx context.Context, i int) error) step {
	s := step{rate: rate}
	lat := make([]time.Duration, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	var last atomic.Int64 // the latest answer, as an offset from start
	interval := float64(time.Second) / rate
	start := time.Now()
	for i := range n {
		due := start.Add(time.Duration(float64(i) * interval))
		if d := time.Until(due); d > 0 {
			time.Sleep(d) // oversleeping only makes the next ones late, and measured so
		}
		if ctx.Err() != nil {
			break
		}
		s.sent++
		wg.Go(func() {
			errs[i] = do(ctx, i)
			end := time.Now()
			lat[i] = end.Sub(due)
			for off := int64(end.Sub(start)); ; {
				cur := last.Load()
				if off <= cur || last.CompareAndSwap(cur, off) {
					break
				}
			}
		})
	}
	wg.Wait()
	lat = lat[:s.sent]
	for _, err := range errs[:s.sent] {
		if err != nil {
			s.errors++
			if s.firstErr == nil {
				s.firstErr = err
			}
		}
	}
	s.ok = s.sent - s.errors
	// The span is at least the schedule's, so that a step that keeps up
	// achieves its offered rate, never more.
	if span := max(time.Duration(last.Load()), time.Duration(float64(s.sent)*interval)); span > 0 {
		s.achieved = float64(s.ok) / span.Seconds()
	}
	s.p50, s.p99, s.max = percentile(lat, 0.50), percentile(lat, 0.99), slices.Max(append(lat, 0))
	return s
}

// percentile sorts lat and returns its q-quantile, the smallest latency
// that at least q of the requests did not exceed.
func percentile(lat []time.Duration, q float64) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	slices.Sort(lat)
	i := int(math.Ceil(q*float64(len(lat)))) - 1
	return lat[max(0, i)]
}

// climb runs steps at start, 2×start, 4×start, ... up to maxRate until one
// fails (p99 over limit, or any error), then refine more steps between the
// last that passed and the first that failed (geometric midpoints). It
// prints each step as it ends and returns the highest-rate step that
// passed, a zero step (rate 0) when none did.
func climb(ctx context.Context, w io.Writer, start, maxRate float64, refine int, limit time.Duration,
	run func(ctx context.Context, rate float64) (step, error)) (step, error) {
	fmt.Fprintf(w, "  %9s %10s %9s %9s %9s %8s %9s %9s %7s\n", "offered/s", "achieved/s", "p50", "p99", "max", "errors", "redis cpu", "cpu/req", "others")
	var best step
	failed := 0.0
	do := func(rate float64) (bool, error) {
		s, err := run(ctx, rate)
		if err != nil {
			return false, err
		}
		verdict := "ok"
		if !s.pass(limit) {
			verdict = "over"
		}
		others := "-"
		if s.others >= 0 {
			others = fmt.Sprintf("%.0f%%", 100*s.others)
		}
		fmt.Fprintf(w, "  %9.0f %10.1f %9s %9s %9s %8d %8.0f%% %7.1fus %7s  %s\n", s.rate, s.achieved, ms(s.p50), ms(s.p99), ms(s.max), s.errors,
			100*s.redisCPU, us(s.redisReq), others, verdict)
		if s.firstErr != nil {
			fmt.Fprintf(w, "            first error: %v\n", s.firstErr)
		}
		if s.pass(limit) {
			best = s
		} else {
			failed = rate
		}
		return s.pass(limit), ctx.Err()
	}
	for rate := start; rate <= maxRate; rate *= 2 {
		if ok, err := do(rate); err != nil || !ok {
			if err != nil {
				return best, err
			}
			break
		}
	}
	for range refine {
		if best.rate == 0 || failed == 0 {
			break
		}
		mid := math.Round(math.Sqrt(best.rate * failed))
		if mid <= best.rate || mid >= failed {
			break
		}
		if _, err := do(mid); err != nil {
			return best, err
		}
	}
	return best, nil
}

// ms formats a latency in milliseconds.
func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }

// us is a duration in microseconds.
func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// withRedisCPU runs a step and adds what Redis's CPU time was during it,
// and the other processes' (the host's busy time, less this process's and
// Redis's): a step that others disturbed shows it.
func withRedisCPU(ctx context.Context, rdb *redis.Client, run func() step) (step, error) {
	cpu0, err := cpuSeconds(ctx, rdb)
	if err != nil {
		return step{}, err
	}
	host0, hostErr0 := hostBusy()
	self0 := selfCPU()
	t0 := time.Now()
	s := run()
	wall := time.Since(t0)
	cpu1, err := cpuSeconds(ctx, rdb)
	if err != nil {
		return s, err
	}
	host1, hostErr1 := hostBusy()
	redisCPU := cpu1 - cpu0
	s.redisCPU = redisCPU / wall.Seconds()
	if s.sent > 0 {
		s.redisReq = time.Duration(redisCPU / float64(s.sent) * float64(time.Second))
	}
	self := selfCPU() - self0
	if s.sent > 0 {
		s.selfReq = time.Duration(self / float64(s.sent) * float64(time.Second))
	}
	s.others = -1
	if hostErr0 == nil && hostErr1 == nil {
		s.others = max(0, (host1-host0)-self-redisCPU) / wall.Seconds()
	}
	return s, nil
}

// hostBusy is the CPU time, in seconds, all CPUs of the host have spent
// busy or stolen by the hypervisor, from Linux's /proc/stat.
func hostBusy() (float64, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	if len(f) < 9 || f[0] != "cpu" {
		return 0, errors.New("/proc/stat: no cpu line")
	}
	var ticks float64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return 0, err
		}
		ticks += v
	}
	return ticks / 100, nil // USER_HZ
}

// selfCPU is this process's CPU time, in seconds.
func selfCPU() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
