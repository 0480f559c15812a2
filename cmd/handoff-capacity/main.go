// Command handoff-capacity measures the figures of docs/scale.md on a real
// redis-server: how many returns per second one app instance and one Redis
// node take before the p99 latency passes 100 ms, and what Redis holds per
// used state and per token pair (a pending flow holds nothing there: its
// state carries it).
//
//	go run ./cmd/handoff-capacity -redis 127.0.0.1:6379
//
// It starts the BlueNexus emulator (bluenexustest) in-process and one app
// instance: the kit's two routes (handlers.New) on a real http.Server on
// loopback, with redisflow's replay guard and token store on the given
// Redis, and an on-return hook that does what a
// real app's does (ev.AccessToken, then AllConnections on the emulator).
// Its keys live under a fresh prefix of the same length as the kit's
// defaults ("hkcap-XXXX:" for "handoffkit:"), so that key sizes match
// production; every key under it is deleted at the end.
//
// # What it measures, in order
//
//  1. Memory: n keys (-mem-keys) of each kind, written by the kit's own
//     code (the guard's Consume, the token store's CompareAndSwap and
//     Lock), one kind at a
//     time: the used_memory delta over the keys added, and MEMORY USAGE of
//     one key.
//  2. Redis commands per request: INFO commandstats over -count manages,
//     then over -count returns, one at a time.
//  3. Returns per app instance: flows prepared in advance up to the
//     browser's GET of the return URL (/manage-connections, the white-label
//     page, Done), then their returns fired open loop at a fixed rate
//     (each on its own goroutine at its due time, its latency measured from
//     that time, so queueing is not hidden by coordinated omission), in
//     steps of -step at -start-rate, doubling until a step's p99 passes
//     -p99 or a request fails, then -refine steps in between. The answer
//     is the highest rate that passed.
//  4. Returns (and manages) per Redis node: the same steps, with a
//     request's Redis commands (as measured in 2, and checked against it)
//     sent straight at Redis, each request's in sequence.
//
// -phases picks among memory, instance and redis (2 runs with either of
// the last two).
//
// The load generator shares the machine's CPUs with the app, the emulator
// and Redis: the report says how many, and for each step Redis's CPU time
// (in all and per request) and every other process's, so that a step
// another process disturbed shows. From Redis's CPU time per request it
// also gives the rate that would fill a core of Redis's own. The last
// line, "summary: ...", holds every answer. The exit status is 0 when
// every phase measured, 1 when a synthetic command mix did not match the
// kit's (the Redis node figures then do not hold), 2 when the run could
// not be set up or failed.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/handoffkit/handoffkit/bluenexus/bluenexustest"
	"github.com/handoffkit/handoffkit/session/redisflow"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	redis          string
	phases         []string
	step           time.Duration
	pause          time.Duration
	startRate      float64
	maxRate        float64
	redisStartRate float64
	redisMaxRate   float64
	refine         int
	limit          time.Duration
	users          int
	count          int
	memKeys        int
	timeout        time.Duration
	pool           int
	workers        int
	cpuProfile     string
}

var allPhases = []string{"memory", "instance", "redis"}

func (o *options) has(phase string) bool { return slices.Contains(o.phases, phase) }

// run returns the exit status: 0 when every phase measured, 1 when a
// measurement could not be trusted (the synthetic mix differs from the
// kit's), 2 when the run could not be set up or failed.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("handoff-capacity", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	phases := strings.Join(allPhases, ",")
	fs.StringVar(&o.redis, "redis", os.Getenv("HANDOFFKIT_REDIS_ADDR"), "Redis address (default $HANDOFFKIT_REDIS_ADDR); a real redis-server, ideally with nothing else on it")
	fs.StringVar(&phases, "phases", phases, "what to measure, comma-separated: memory, instance, redis")
	fs.DurationVar(&o.step, "step", 5*time.Second, "length of each rate step")
	fs.DurationVar(&o.pause, "pause", time.Second, "pause between two steps")
	fs.Float64Var(&o.startRate, "start-rate", 50, "first returns/s step on the app instance")
	fs.Float64Var(&o.maxRate, "max-rate", 102400, "highest returns/s step on the app instance")
	fs.Float64Var(&o.redisStartRate, "redis-start-rate", 1000, "first requests/s step straight at Redis")
	fs.Float64Var(&o.redisMaxRate, "redis-max-rate", 1024000, "highest requests/s step straight at Redis")
	fs.IntVar(&o.refine, "refine", 2, "steps between the last rate that passed and the first that failed")
	fs.DurationVar(&o.limit, "p99", 100*time.Millisecond, "a step passes when its p99 is at most this, with no error")
	fs.IntVar(&o.users, "users", 256, "signed-in users the flows belong to")
	fs.IntVar(&o.count, "count", 1000, "requests whose Redis commands are counted")
	fs.IntVar(&o.memKeys, "mem-keys", 10000, "keys of each kind for the memory figures")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Second, "time limit of each request")
	fs.IntVar(&o.pool, "pool", 512, "go-redis pool size of the requests sent straight at Redis")
	fs.IntVar(&o.workers, "workers", 8, "browsers preparing flows at once")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the run (the app, the emulator and the load generator) to this file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	o.phases = strings.Split(phases, ",")
	if err := o.validate(); err != nil {
		fmt.Fprintln(stderr, "handoff-capacity:", err)
		return 2
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(stderr, "handoff-capacity: -cpuprofile:", err)
			return 2
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	e, err := setUp(ctx, &o)
	if err != nil {
		fmt.Fprintln(stderr, "handoff-capacity:", err)
		return 2
	}
	defer e.close()
	code, err := e.measure(ctx, stdout)
	if err != nil {
		fmt.Fprintln(stderr, "handoff-capacity:", err)
		return 2
	}
	return code
}

func (o *options) validate() error {
	for _, p := range o.phases {
		if !slices.Contains(allPhases, p) {
			return fmt.Errorf("-phases: unknown phase %q: want %s", p, strings.Join(allPhases, ", "))
		}
	}
	switch {
	case o.redis == "":
		return errors.New("no Redis: set -redis or HANDOFFKIT_REDIS_ADDR (scripts/redis-topology.sh start single DIR starts one)")
	case o.step <= 0 || o.pause < 0 || o.timeout <= 0 || o.limit <= 0:
		return errors.New("-step, -timeout and -p99 must be positive, -pause not negative")
	case o.startRate <= 0 || o.maxRate < o.startRate || o.redisStartRate <= 0 || o.redisMaxRate < o.redisStartRate:
		return errors.New("the start rates must be positive and the max rates at least the start rates")
	case o.refine < 0 || o.users < 1 || o.count < 1 || o.memKeys < 1 || o.pool < 1 || o.workers < 1:
		return errors.New("-refine must not be negative; -users, -count, -mem-keys, -pool and -workers must be positive")
	}
	return nil
}

// env is what the run measures, and with what.
type env struct {
	o        *options
	admin    *redis.Client // measuring, seeding, cleaning up
	prefix   string        // every key's: "hkcap-XXXX:"
	emu      *bluenexustest.Server
	app      *app
	users    []string
	browsers *browsers
	redisVer string
}

func setUp(ctx context.Context, o *options) (_ *env, err error) {
	e := &env{o: o}
	defer func() {
		if err != nil {
			e.close()
		}
	}()
	e.admin = redis.NewClient(&redis.Options{Addr: o.redis, ContextTimeoutEnabled: true})
	f, err := info(ctx, e.admin, "server")
	if err != nil {
		return nil, fmt.Errorf("redis %s: %w", o.redis, err)
	}
	e.redisVer = fmt.Sprintf("Redis %s (%s)", f["redis_version"], f["redis_mode"])
	for e.prefix == "" {
		var b [2]byte
		rand.Read(b[:])
		p := "hkcap-" + hex.EncodeToString(b[:]) + ":"
		if k, err := firstKey(ctx, e.admin, p); err != nil {
			return nil, err
		} else if k == "" {
			e.prefix = p
		}
	}
	if e.emu, err = bluenexustest.New(); err != nil {
		return nil, err
	}
	tokenStore, err := redisflow.NewTokenStore(e.admin, redisflow.WithKeyPrefix(e.prefix+"token:"))
	if err != nil {
		return nil, err
	}
	for i := range o.users {
		name := fmt.Sprintf("user%05d", i)
		e.users = append(e.users, name)
		if err := tokenStore.Save(ctx, name, e.emu.SignIn(name)); err != nil {
			return nil, fmt.Errorf("seeding %s's token pair: %w", name, err)
		}
		e.emu.Connect(name, "google")
		e.emu.Connect(name, "notion")
	}
	if e.app, err = startApp(e.emu, o.redis, e.prefix); err != nil {
		return nil, err
	}
	// The token source caches fresh access tokens: warm it, so that every
	// request measured is one of a running instance.
	for _, u := range e.users {
		if _, err := e.app.tokens.Token(ctx, u); err != nil {
			return nil, err
		}
	}
	e.browsers = &browsers{timeout: o.timeout, transport: &http.Transport{
		MaxIdleConns: 2048, MaxIdleConnsPerHost: 1024, MaxConnsPerHost: 1024, IdleConnTimeout: time.Minute}}
	return e, nil
}

func (e *env) close() {
	if e.app != nil {
		e.app.close()
	}
	if e.browsers != nil {
		e.browsers.transport.CloseIdleConnections()
	}
	if e.emu != nil {
		e.emu.Close()
	}
	if e.admin != nil {
		if e.prefix != "" {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			deletePrefix(ctx, e.admin, e.prefix)
			cancel()
		}
		e.admin.Close()
	}
}

// summary collects the answers, for the last line.
type summary []string

func (s *summary) add(name string, format string, v any) {
	*s = append(*s, name+"="+fmt.Sprintf(format, v))
}

func (e *env) measure(ctx context.Context, w io.Writer) (int, error) {
	o := e.o
	code := 0
	var sum summary
	fmt.Fprintf(w, "handoff-capacity: one app instance and one Redis node, p99 limit %v\n", o.limit)
	fmt.Fprintf(w, "machine: GOMAXPROCS=%d, NumCPU=%d, %s %s/%s; %s at %s\n",
		runtime.GOMAXPROCS(0), runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH, e.redisVer, o.redis)
	fmt.Fprintf(w, "caveat: the load generator, the app instance, the emulator and Redis share these %d CPUs; the rates are lower bounds for a host of their own\n", runtime.NumCPU())
	fmt.Fprintf(w, "columns: latency from each request's due time; redis cpu and cpu/req: Redis's CPU time (INFO cpu) over the step and per request; others: every other process's CPU and steal, 100%% a core\n")
	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Fprintf(w, "load average at the start (1, 5, 15 min): %s\n", strings.Join(strings.Fields(string(load))[:3], " "))
	}

	if o.has("memory") {
		fmt.Fprintf(w, "\nRedis memory: %d keys of each kind (used_memory delta / keys added; MEMORY USAGE of one key)\n", o.memKeys)
		rows, err := e.measureMemory(ctx, w, o.memKeys)
		if err != nil {
			return 0, err
		}
		fmt.Fprintf(w, "  %-28s %7s %10s %13s %12s %9s\n", "kind", "keys", "bytes/key", "MEMORY USAGE", "value bytes", "TTL")
		names := []string{"state_bytes", "token_bytes"}
		for i, r := range rows {
			fmt.Fprintf(w, "  %-28s %7d %10.0f %13d %12d %9v\n", r.kind, r.keys, r.perKey, r.usage, r.valueLen, r.ttl.Round(time.Second))
			sum.add(names[i], "%.0f", r.perKey)
		}
	}

	if !o.has("instance") && !o.has("redis") {
		fmt.Fprintf(w, "\nsummary: %s\n", strings.Join(sum, " "))
		return code, nil
	}
	fmt.Fprintf(w, "\nRedis commands per request (INFO commandstats over %d of each, one at a time)\n", o.count)
	manageMix, err := measureMix(ctx, e.admin, o.count, func() error {
		return parallel(ctx, o.count, 1, func(ctx context.Context, i int) error {
			_, err := e.browsers.manage(ctx, e.app, e.users[i%len(e.users)])
			return err
		})
	})
	if err != nil {
		return 0, err
	}
	flows, err := e.browsers.prepareMany(ctx, e.app, e.users, o.count, o.workers)
	if err != nil {
		return 0, err
	}
	c := e.browsers.client(nil)
	returnMix, err := measureMix(ctx, e.admin, o.count, func() error {
		for _, p := range flows {
			if err := e.browsers.finish(ctx, c, p); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	fmt.Fprintf(w, "  manage (GET /manage-connections): %s\n", manageMix)
	fmt.Fprintf(w, "  return (GET /connections/return): %s\n", returnMix)

	if o.has("instance") {
		fmt.Fprintf(w, "\nReturns per app instance: GET /connections/return, open loop, %v steps, %d users\n", o.step, o.users)
		fmt.Fprintf(w, "  hook: %s\n", hookText)
		fmt.Fprintf(w, "  app: handlers.New on http.Server, redisflow guard + token store, go-redis defaults (pool %d), no logging\n", e.app.rdb.Options().PoolSize)
		best, err := climb(ctx, w, o.startRate, o.maxRate, o.refine, o.limit, e.instanceStep)
		if err != nil {
			return 0, err
		}
		fmt.Fprintf(w, "  returns/s per instance: %.0f\n", best.rate)
		if best.rate > 0 {
			fmt.Fprintf(w, "  CPU per return at %.0f/s: %.0fus in this process (the app, the emulator and the load generator together), %.0fus in Redis\n",
				best.rate, us(best.selfReq), us(best.redisReq))
		}
		sum.add("returns_per_instance", "%.0f", best.rate)
		sum.add("cpu_us_per_return", "%.0f", us(best.selfReq))
	}

	if o.has("redis") {
		m := &mixer{
			rdb:     redis.NewClient(&redis.Options{Addr: o.redis, ContextTimeoutEnabled: true, PoolSize: o.pool}),
			usedPfx: e.prefix + "used:", ttl: 10 * time.Minute,
		}
		defer m.rdb.Close()
		synRet, err := m.verify(ctx, e.admin, o.count)
		if err != nil {
			return 0, err
		}
		check := func(syn, real mix) string {
			if syn.matches(real) {
				return "matches the kit's"
			}
			code = 1
			return "DIFFERS from the kit's: the figures below do not hold"
		}
		fmt.Fprintf(w, "\nReturns per Redis node: a return's commands straight at Redis, open loop, %v steps, pool %d\n", o.step, o.pool)
		fmt.Fprintf(w, "  sent: %s\n", returnMixText)
		fmt.Fprintf(w, "  counted: %s: %s\n", synRet, check(synRet, returnMix))
		best, err := climb(ctx, w, o.redisStartRate, o.redisMaxRate, o.refine, o.limit, func(ctx context.Context, rate float64) (step, error) {
			defer e.pauseAfter(ctx)
			return m.step(ctx, e.admin, rate, o.step, o.timeout)
		})
		if err != nil {
			return 0, err
		}
		fmt.Fprintf(w, "  returns/s per Redis node: %.0f\n", best.rate)
		ceiling(w, "return", best)
		sum.add("returns_per_redis_node", "%.0f", best.rate)
		sum.add("redis_us_per_return", "%.1f", us(best.redisReq))

		fmt.Fprintf(w, "\nManages per Redis node: none to measure: a manage sends Redis no command while the token is cached\n")
	}
	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Fprintf(w, "\nload average at the end (1, 5, 15 min): %s\n", strings.Join(strings.Fields(string(load))[:3], " "))
	}
	fmt.Fprintf(w, "\nsummary: %s\n", strings.Join(sum, " "))
	return code, nil
}

// ceiling says what Redis's own CPU time per request was at the best
// step, and how many such requests a core of its own would take.
func ceiling(w io.Writer, what string, best step) {
	if best.redisReq <= 0 {
		return
	}
	fmt.Fprintf(w, "  Redis CPU per %s at %.0f/s: %.1fus, so %.0f/s would fill a core of its own (Redis runs commands on one thread)\n",
		what, best.rate, us(best.redisReq), float64(time.Second)/float64(best.redisReq))
}

// instanceStep prepares rate × step flows, then fires their returns at
// rate per second.
func (e *env) instanceStep(ctx context.Context, rate float64) (step, error) {
	defer e.pauseAfter(ctx)
	n := max(1, int(rate*e.o.step.Seconds()))
	flows, err := e.browsers.prepareMany(ctx, e.app, e.users, n, e.o.workers)
	if err != nil {
		return step{}, fmt.Errorf("preparing %d flows: %w", n, err)
	}
	runtime.GC() // the preparation's garbage is not the step's
	c := e.browsers.client(nil)
	hooks0 := e.app.hooks.Load()
	s, err := withRedisCPU(ctx, e.admin, func() step {
		return openLoop(ctx, rate, n, func(ctx context.Context, i int) error {
			return e.browsers.finish(ctx, c, flows[i])
		})
	})
	if err != nil {
		return s, err
	}
	if hooks := int(e.app.hooks.Load() - hooks0); hooks < s.ok {
		return s, fmt.Errorf("%d returns succeeded but %d hooks ran", s.ok, hooks)
	}
	return s, nil
}

// pauseAfter lets the app and Redis drain between two steps.
func (e *env) pauseAfter(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-time.After(e.o.pause):
	}
}
