package main

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/handoffkit/handoffkit/bluenexus/bluenexustest"
)

// faultLog is every fault the run injected, for the classification of
// failed requests once the run is over.
type faultLog struct {
	mu      sync.Mutex
	windows []*window
	bursts  []*burst
	jumps   []*jump
}

// jump is one jump of the emulator's clock.
type jump struct {
	at     time.Time
	failed int // failed requests it explains
}

// window is one Redis fault: from its start to the first request that
// started after its end and succeeded.
type window struct {
	what       string
	start, end time.Time // end is zero while the fault runs
	closedAt   time.Time // the start of that first success; zero while open
	err        error     // the fault could not be played as meant
	failed     int       // failed requests counted in it
	firstFail  time.Time
}

// limit is the end of the window: recovery after the fault's end. Not the
// fleet's first success after the fault: each instance's Redis
// connections recover on their own, so one instance may still fail its
// first request after another has served again.
func (w *window) limit(recovery time.Duration) time.Time {
	if w.end.IsZero() {
		return time.Now().Add(time.Hour)
	}
	return w.end.Add(recovery)
}

// closed reports whether the window closed within its cap.
func (w *window) closed(recovery time.Duration) bool {
	return !w.closedAt.IsZero() && !w.closedAt.After(w.end.Add(recovery))
}

// burst is one group of upstream faults on one path.
type burst struct {
	path     string
	fault    bluenexustest.Fault
	n        int       // faults queued
	played   int       // faults requests met
	start    time.Time // when queued
	consumed time.Time // when the last was met (or cleared)
	budget   int       // failed requests it may still explain
	failed   int       // failed requests it explains
}

// redisSuccess notes a request that needed Redis and succeeded, started
// at t: it closes every window whose fault ended before t.
func (l *faultLog) redisSuccess(t time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, w := range l.windows {
		if !w.end.IsZero() && !t.Before(w.end) && (w.closedAt.IsZero() || t.Before(w.closedAt)) {
			w.closedAt = t
		}
	}
}

// injectFaults plays faults of the kinds asked for, one at a time, at
// random intervals around -fault-every, in shuffled rounds, until the
// next one would start after until.
func (e *env) injectFaults(ctx context.Context, until time.Time) {
	topo := &topology{cfg: &e.o.redis}
	for {
		kinds := append([]string(nil), e.o.faults...)
		rand.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
		for _, kind := range kinds {
			gap := time.Duration(float64(e.o.faultEvery) * (0.5 + rand.Float64()))
			if time.Now().Add(gap).After(until) {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(gap):
			}
			switch kind {
			case "upstream":
				e.upstreamBurst(ctx, until)
			case "clock":
				e.emu.AdvanceClock(e.o.tokenTTL)
				e.faults.mu.Lock()
				e.faults.jumps = append(e.faults.jumps, &jump{at: time.Now()})
				e.faults.mu.Unlock()
			case "redis":
				e.redisFault(ctx, topo)
			}
		}
	}
}

// upstreamPaths are the emulator paths that upstream faults hit.
var upstreamPaths = []string{bluenexustest.PathHandoffInit, bluenexustest.PathToken, bluenexustest.PathConnections}

// upstreamBurst queues 1 to 3 faults of one kind on one path and waits
// until requests have met them all: at most 25 s (longer than a token
// stays fresh, so that refreshes come) and not far past until; the rest
// are then cleared. At most 3 in a row keep each instance's circuit
// breaker (5 failures) closed.
func (e *env) upstreamBurst(ctx context.Context, until time.Time) {
	b := &burst{path: upstreamPaths[rand.IntN(len(upstreamPaths))], n: 1 + rand.IntN(3)}
	switch rand.IntN(4) {
	case 0:
		b.fault = bluenexustest.Latency(time.Duration(200+rand.IntN(800)) * time.Millisecond)
	case 1:
		b.fault = bluenexustest.Status(500)
	case 2:
		b.fault = bluenexustest.Status(503)
	case 3:
		b.fault = bluenexustest.RetryAfter(503, time.Second)
	}
	faults := make([]bluenexustest.Fault, b.n)
	for i := range faults {
		faults[i] = b.fault
	}
	b.start = time.Now()
	before := e.emu.Hits(b.path)
	e.emu.Inject(b.path, faults...)
	// The wait counts from after the injection: it may outlast the faults
	// by a request, never end before them. What they may explain counts
	// from before it: it may exceed what they did by a request, never
	// fall short.
	base := e.emu.Hits(b.path)
	e.faults.mu.Lock()
	e.faults.bursts = append(e.faults.bursts, b)
	e.faults.mu.Unlock()
	waitFor(ctx, min(25*time.Second, max(time.Until(until), time.Second)), func() (string, bool) { return "", e.emu.Hits(b.path)-base >= b.n })
	e.emu.ClearFaults()
	e.faults.mu.Lock()
	defer e.faults.mu.Unlock()
	b.consumed = time.Now()
	b.played = min(b.n, e.emu.Hits(b.path)-before)
	if b.fault.Status != 0 {
		// One failed request per fault; on the token endpoint two, since
		// the two tabs of one user may wait for the same refresh.
		b.budget = b.played
		if b.path == bluenexustest.PathToken {
			b.budget *= 2
		}
	}
}

// redisFault plays one Redis fault through the topology script and waits
// until its window closes, or -recovery after its end.
func (e *env) redisFault(ctx context.Context, topo *topology) {
	w := &window{start: time.Now()}
	e.faults.mu.Lock()
	e.faults.windows = append(e.faults.windows, w)
	e.faults.mu.Unlock()
	what, err := topo.fault(ctx, rand.IntN)
	e.faults.mu.Lock()
	w.what, w.err, w.end = what, err, time.Now()
	e.faults.mu.Unlock()
	waitFor(ctx, e.o.recovery, func() (string, bool) {
		e.faults.mu.Lock()
		defer e.faults.mu.Unlock()
		return "", !w.closedAt.IsZero()
	})
}

// classify says what explains the failed request f, charging it to the
// fault: "redis", "upstream", "clock", or "" for nothing (a violation).
// It runs after the run, when every fault is known.
func (l *faultLog) classify(f *failure, recovery time.Duration) string {
	if f.redisShaped() {
		for _, w := range l.windows {
			if !f.end.Before(w.start) && f.start.Before(w.limit(recovery)) {
				w.failed++
				if t := maxTime(f.start, w.start); w.firstFail.IsZero() || t.Before(w.firstFail) {
					w.firstFail = t
				}
				return "redis"
			}
		}
	}
	if f.upstreamShaped() {
		const slack = 250 * time.Millisecond
		for _, b := range l.bursts {
			if b.budget > 0 && !f.end.Before(b.start) && f.start.Before(b.consumed.Add(slack)) {
				b.budget--
				b.failed++
				return "upstream"
			}
		}
	}
	if f.codeExpired() {
		for _, j := range l.jumps {
			if !j.at.Before(f.flowStart) && !j.at.After(f.end) {
				j.failed++
				return "clock"
			}
		}
	}
	return ""
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
