package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/handoffkit/handoffkit/bluenexus/bluenexustest"
)

// results gathers what the browsers saw.
type results struct {
	mu          sync.Mutex
	latencies   map[string][]time.Duration
	failures    []*failure
	began       int          // flows begun
	returned    map[int]bool // flows whose return succeeded, by id
	twoTabs     int          // pairs of flows run in two tabs
	replays     int          // replays refused
	accepted    int          // replays accepted: a violation
	elapsed     time.Duration
	timedOut    bool
	interrupted bool
}

func newResults() *results {
	return &results{latencies: map[string][]time.Duration{}, returned: map[int]bool{}}
}

// failure is one request that did not answer as a valid flow should.
type failure struct {
	flow       int
	route      string
	start, end time.Time
	flowStart  time.Time // when the flow's /manage-connections was sent
	status     int
	outcome    string // the kit's outcome, the return's flash, or what went wrong
	retryAfter bool
	err        error
	cause      string // what explains it: redis, upstream, clock, or "" (a violation)
}

func (f *failure) String() string {
	s := fmt.Sprintf("flow %d: %s at %s", f.flow, f.route, f.start.Format("15:04:05.000"))
	if f.status != 0 {
		s += fmt.Sprintf(": status %d", f.status)
	}
	if f.outcome != "" {
		s += ", " + f.outcome
	}
	if f.err != nil {
		s += ": " + f.err.Error()
	}
	return s
}

// redisShaped: how a request fails when the shared Redis does: the kit
// fails closed (503 state_unavailable), or the hook could not get the
// user's token from the token store.
func (f *failure) redisShaped() bool {
	return f.status == 503 && f.outcome == "state_unavailable" || f.route == routeReturn && f.outcome == "hook_failed"
}

// upstreamShaped: how a request fails when BlueNexus does.
func (f *failure) upstreamShaped() bool {
	switch f.route {
	case routeManage:
		return f.outcome == "upstream_error" || f.outcome == "unavailable"
	case routeReturn:
		return f.outcome == "hook_failed"
	}
	return false
}

// codeExpired: the emulator refused the handoff code as expired.
func (f *failure) codeExpired() bool {
	return f.route == routeWhiteLabel && f.status == 410 && f.outcome == "code_expired"
}

func (r *results) observe(route string, d time.Duration) {
	r.mu.Lock()
	r.latencies[route] = append(r.latencies[route], d)
	r.mu.Unlock()
}

func (r *results) fail(f *failure) {
	r.mu.Lock()
	r.failures = append(r.failures, f)
	r.mu.Unlock()
}

func (r *results) count(n *int) {
	r.mu.Lock()
	*n++
	r.mu.Unlock()
}

func (r *results) succeeded(id int) {
	r.mu.Lock()
	r.returned[id] = true
	r.mu.Unlock()
}

// violation is one kind of broken invariant, seen n times.
type violation struct {
	n    int
	what string
}

// report prints the figures and the checks, and returns the exit status.
func (e *env) report(w io.Writer) int {
	r, o := e.res, e.o
	// Every browser is done; a hook or a guard call of a request whose
	// browser gave up may still run.
	e.flowMu.Lock()
	defer e.flowMu.Unlock()
	e.guardMu.Lock()
	defer e.guardMu.Unlock()
	mode, run := "load", fmt.Sprintf("%d flows", o.flows)
	if o.soak() {
		mode, run = "soak", "for "+o.duration.String()
	}
	fmt.Fprintf(w, "handoff-load: %d browsers %s, %d app instances (demoapp on chi), shared state: %s\n",
		o.browsers, run, o.instances, e.redisInfo)
	fmt.Fprintf(w, "machine: %s/%s, %d CPUs, %s; emulator token TTL %v\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version(), o.tokenTTL)
	if len(o.faults) > 0 {
		fmt.Fprintf(w, "faults: %s, one every %v on average\n", strings.Join(o.faults, ", "), o.faultEvery)
	}
	flows := len(r.returned)
	fmt.Fprintf(w, "elapsed %v: %.1f flows/s\n\n", r.elapsed.Round(time.Millisecond), float64(flows)/r.elapsed.Seconds())

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "route\tcount\tp50\tp99\tmax\t")
	for _, route := range routes {
		latencyRow(tw, route, r.latencies[route])
	}
	latencyRow(tw, "(replay guard Consume, inside return)", e.guardLatency)
	tw.Flush()

	// Classify the failures, in time order, now that every fault is known.
	slices.SortFunc(r.failures, func(a, b *failure) int { return a.start.Compare(b.start) })
	var unexplained []*failure
	explained := map[string]int{}
	noRetryAfter := 0
	for _, f := range r.failures {
		f.cause = e.faults.classify(f, o.recovery)
		explained[f.cause]++
		if f.cause == "" {
			unexplained = append(unexplained, f)
		}
		if f.status == 503 && !f.retryAfter {
			noRetryAfter++
		}
	}
	var violations []violation
	if len(o.faults) > 0 {
		violations = e.reportFaults(w)
	}

	var twice, lost, hookRuns int
	for id, f := range e.flows {
		hookRuns += f.hooks
		if f.hooks > 1 {
			twice++
		}
		if r.returned[id] && f.hooks == 0 {
			lost++
		}
	}
	fmt.Fprintf(w, "\nflows: %d begun (%d pairs in two tabs), %d returned successfully\n", r.began, r.twoTabs, flows)
	var perInstance []string
	for _, in := range e.instances {
		perInstance = append(perInstance, fmt.Sprintf("%s %d", in.name, in.hooks.Load()))
	}
	fmt.Fprintf(w, "hook runs %d (%s), %d of them renewed an expired token; flows whose hook ran twice %d, successful returns whose hook never ran %d\n",
		hookRuns, strings.Join(perInstance, ", "), e.hookRenewals.Load(), twice, lost)
	fmt.Fprintf(w, "replays of a used return on another instance: %d refused, %d accepted\n", r.replays, r.accepted)
	refreshReplays, codeReuses := e.emu.RefreshReplays(), e.emu.CodeReuses()
	fmt.Fprintf(w, "emulator: %d refresh tokens presented twice, %d handoff codes presented twice; %d token calls; %d circuit breaker openings\n",
		refreshReplays, codeReuses, e.emu.Hits(bluenexustest.PathToken), e.breakerOpens.Load())
	if e.admin != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		recorded := countKeys(ctx, e.admin, e.prefix+"used:")
		cancel()
		switch {
		case r.elapsed > 9*time.Minute:
			fmt.Fprintf(w, "states recorded in Redis: %d (not checked: the first have outlived their 10-minute TTL)\n", recorded)
		case recorded < e.guardAccepted:
			fmt.Fprintf(w, "states recorded in Redis: %d, of %d the guard accepted\n", recorded, e.guardAccepted)
			violations = append(violations, violation{e.guardAccepted - recorded, "used states lost from Redis"})
		default:
			fmt.Fprintf(w, "states recorded in Redis: %d (guard accepted %d)\n", recorded, e.guardAccepted)
		}
	}
	fmt.Fprintf(w, "failed requests: %d in Redis fault windows, %d from upstream faults, %d from clock jumps, %d unexplained\n",
		explained["redis"], explained["upstream"], explained["clock"], len(unexplained))
	for i, f := range unexplained {
		if i == 10 {
			fmt.Fprintf(w, "  ... and %d more\n", len(unexplained)-i)
			break
		}
		fmt.Fprintln(w, "  unexplained:", f)
	}

	if r.timedOut {
		violations = append(violations, violation{1, fmt.Sprintf("run not finished within -max-duration %v", o.maxDuration)})
	}
	violations = append(violations,
		violation{len(unexplained), "failed requests no fault explains"},
		violation{twice, "flows whose hook ran more than once"},
		violation{lost, "successful returns whose hook never ran"},
		violation{r.accepted, "replays accepted"},
		violation{refreshReplays, "refresh tokens presented twice"},
		violation{codeReuses, "handoff codes presented twice"},
		violation{noRetryAfter, "503 answers without Retry-After"})
	m := 0
	var broken []string
	for _, v := range violations {
		if v.n > 0 {
			m += v.n
			broken = append(broken, fmt.Sprintf("%d %s", v.n, v.what))
		}
	}
	if r.interrupted {
		fmt.Fprintln(w, "interrupted")
	}
	if m > 0 {
		fmt.Fprintln(w, "FAIL:", strings.Join(broken, "; "))
	} else {
		fmt.Fprintln(w, "OK: no replay accepted, no refresh token or handoff code used twice, no hook run twice, no valid flow lost outside the fault windows")
	}
	fmt.Fprintf(w, "%s: %d flows, %d violations\n", mode, flows, m)
	if m > 0 {
		return 1
	}
	return 0
}

// reportFaults prints every fault in time order, with the failed requests
// it explains and, for Redis faults, the window: from the first failure to
// the first success after the fault. It returns the windows' violations.
func (e *env) reportFaults(w io.Writer) []violation {
	l, o := e.faults, e.o
	type row struct {
		at                       time.Time
		what, took, failed, span string
	}
	var rows []row
	var violations []violation
	for _, win := range l.windows {
		span := "-"
		if win.failed > 0 && win.closedAt.After(win.firstFail) {
			span = win.closedAt.Sub(win.firstFail).Round(time.Millisecond).String()
		}
		switch {
		case win.err != nil:
			span = "fault failed: " + win.err.Error()
			violations = append(violations, violation{1, "Redis fault not played as meant: " + win.what})
		case !win.closed(o.recovery):
			span = fmt.Sprintf("no success within %v of the fault's end", o.recovery)
			violations = append(violations, violation{1, "Redis fault window that did not close: " + win.what})
		}
		rows = append(rows, row{win.start, win.what, win.end.Sub(win.start).Round(time.Millisecond).String(), fmt.Sprint(win.failed), span})
	}
	played := 0
	for _, b := range l.bursts {
		played += b.played
		rows = append(rows, row{b.start, fmt.Sprintf("upstream %v x%d on %s (%d met)", b.fault, b.n, b.path, b.played),
			b.consumed.Sub(b.start).Round(time.Millisecond).String(), fmt.Sprint(b.failed), "-"})
	}
	for _, j := range l.jumps {
		rows = append(rows, row{j.at, fmt.Sprintf("emulator clock +%v", o.tokenTTL), "-", fmt.Sprint(j.failed), "-"})
	}
	slices.SortFunc(rows, func(a, b row) int { return a.at.Compare(b.at) })
	start := time.Now().Add(-e.res.elapsed)
	fmt.Fprintf(w, "\nfaults: %d Redis, %d upstream bursts (%d faults met), %d clock jumps\n", len(l.windows), len(l.bursts), played, len(l.jumps))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "at\tfault\ttook\tfailed requests\tfailure window\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", r.at.Sub(start).Round(100*time.Millisecond), r.what, r.took, r.failed, r.span)
	}
	tw.Flush()
	return violations
}

func latencyRow(w io.Writer, route string, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t\n", route, len(d), ms(pct(d, 50)), ms(pct(d, 99)), ms(d[len(d)-1]))
}

func pct(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p + 99) / 100
	return sorted[max(i-1, 0)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }
