// Command handoff-load runs complete Manage Connections flows from many
// simulated browsers against several instances of the example app
// (cmd/internal/demoapp) that share one Redis (or Redis Cluster, or Redis
// behind Sentinel) through session/redisflow, the same cookie keys and one
// BlueNexus emulator, as a fleet behind a load balancer would. It runs a
// number of flows (a load run) or runs for a time while it injects faults
// (a soak):
//
//	make load                                   # starts a throwaway Redis
//	scripts/with-redis.sh go run ./cmd/handoff-load -browsers 64 -flows 5000
//	make soak                                   # SOAK_REDIS=single|cluster|sentinel SOAK_DURATION=5m
//
// # The fleet
//
// Each instance (-instances, default 3) is its own http.Server on
// loopback with its own go-redis client, BlueNexus client and token
// source. They share, through Redis, the replay guard
// (redisflow.NewReplayGuard) and the users' token pairs
// (redisflow.NewTokenStore, seeded with the emulator's SignIn). On Sentinel
// every write waits for the replica (redisflow.WithReplicas(1)).
//
// # The browsers
//
// Each browser signs in once as its own user, then runs flows, sending
// every request to an instance picked at random (a load balancer without
// affinity): /manage-connections, the emulator's white-label page,
// sometimes Connect, Done, and /connections/return on another instance
// than the one that began the flow. One time in five the browser runs
// two tabs: two flows begun one after the other, finished in random
// order, both of which must succeed. After every Nth flow (-replay-every) the browser
// replays the return on yet another instance, which must refuse it. The on-return hook
// counts its runs per flow, and reads the user's connections with a token
// from the token source (renewing it once on a 401, as the kit does), so
// tokens refresh in the hook too.
//
// # Faults (-faults, with -duration)
//
// One at a time, at random intervals around -fault-every, in shuffled
// rounds of the kinds listed:
//
//   - upstream: 1 to 3 emulator faults on handoff init, the token endpoint
//     or the connections list: latency (0.2 to 1 s), 500, 503, or 503
//     with Retry-After;
//   - clock: the emulator's clock jumps by the token TTL (-token-ttl), so
//     that access tokens the instances hold as fresh expire mid-flow, and
//     handoff codes in flight expire;
//   - redis: through the topology script (-topology-script, run on
//     -topology-dir): a graceful restart of the Redis (single) or of a
//     cluster master (cluster), or on Sentinel a SENTINEL FAILOVER or a
//     crash of the master, revived once the Sentinels promoted the replica
//     and demoted again to a replica. Crashes run only where a replica
//     holds every acknowledged write: a node with AOF every second loses
//     up to a second of them, which no kit can make up for.
//
// # Checks
//
// A violation is a replay accepted, a refresh token presented twice
// (the emulator's RefreshReplays), a handoff code presented twice
// (CodeReuses), a hook run twice for one flow, a successful return whose
// hook never ran, a used state lost from Redis, a 503 without
// Retry-After, a Redis fault window that did not close within -recovery
// of the fault's end, and every failed request that no fault explains.
// A failed request is explained when
//
//   - it is a 5xx (or a return whose hook failed) that overlaps a Redis
//     fault window: from the fault's start to the fault's end plus
//     -recovery (each instance reconnects on its own, so one may still
//     fail after another served again). Each window reports its failed
//     requests and its length, from the first failure to the first
//     request that started after the fault's end and succeeded;
//   - it is an upstream failure (502, 503, or a return whose hook failed)
//     that overlaps an upstream fault burst, within a budget of one failure
//     per fault (two on the token endpoint, whose refresh the two tabs of
//     one user may share);
//   - it is a handoff code refused as expired by the emulator, whose clock
//     jumped after the code was asked for.
//
// It prints flows per second, the p50/p99 latency of each route, the fault
// windows and the counters, and last "soak: N flows, M violations" (or
// "load: ..." without -duration), N the flows that returned successfully.
// The exit status is 0 without violations, 1 with, 2 when the run could
// not be set up.
//
// With -redis mini it runs on an in-process miniredis instead of a server;
// with -guard memory it uses no Redis at all (each instance keeps its own
// in-memory guard and the flows travel in the cookie), and replays on
// another instance are then accepted: the run fails, which shows what the
// shared state is for.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/bluenexus/bluenexustest"
	"github.com/handoffkit/handoffkit/cmd/internal/demoapp"
	"github.com/handoffkit/handoffkit/handlers"
	"github.com/handoffkit/handoffkit/session"
	"github.com/handoffkit/handoffkit/session/redisflow"
)

// loadKeys are the fleet's cookie keys: fixed, public, for this loopback
// test only. Every instance gets the same list, as in production.
var loadKeys = []session.KeyPair{{
	Hash:  []byte("handoff-load-hash-key-0123456789"),
	Block: []byte("handoff-load-block-key-012345678"),
}}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// go-redis logs every failed dial and Sentinel switch: hundreds of
	// lines in a Redis fault window, which the report sums up.
	redis.SetLogger(quiet{})
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

type options struct {
	browsers    int
	instances   int
	flows       int
	duration    time.Duration
	replayEvery int
	maxDuration time.Duration
	guard       string
	timeout     time.Duration
	redis       redisConfig
	faults      []string
	faultEvery  time.Duration
	recovery    time.Duration
	tokenTTL    time.Duration
}

// soak reports whether the run is timed rather than counted.
func (o *options) soak() bool { return o.duration > 0 }

// faultKinds are the values -faults takes.
var faultKinds = []string{"upstream", "clock", "redis"}

// run returns the exit status: 0 when every check holds, 1 on a violation,
// 2 when the run could not be set up.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("handoff-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	var faults string
	fs.IntVar(&o.browsers, "browsers", 32, "concurrent simulated browsers, one user each")
	fs.IntVar(&o.instances, "instances", 3, "app instances")
	fs.IntVar(&o.flows, "flows", 2000, "complete flows to run (without -duration)")
	fs.DurationVar(&o.duration, "duration", 0, "run flows for this long instead of -flows (a soak)")
	fs.IntVar(&o.replayEvery, "replay-every", 10, "replay the return on another instance after every Nth flow (0: never)")
	fs.DurationVar(&o.maxDuration, "max-duration", 0, "stop and fail if the run takes longer (default 3m, or -duration plus 2m)")
	o.redis.flags(fs)
	fs.StringVar(&o.guard, "guard", "redis", `shared state: "redis", or "memory" (no Redis: one guard per instance, flows in the cookie, to see replays get through)`)
	fs.DurationVar(&o.timeout, "guard-timeout", 500*time.Millisecond, "time budget of each Redis call of the guard, the flow store and the token store")
	fs.StringVar(&faults, "faults", "", "faults to inject with -duration, comma-separated: upstream, clock, redis")
	fs.DurationVar(&o.faultEvery, "fault-every", 10*time.Second, "mean interval between two faults")
	fs.DurationVar(&o.recovery, "recovery", 5*time.Second, "how long after a Redis fault's end the fleet may take to serve again")
	fs.DurationVar(&o.tokenTTL, "token-ttl", 900*time.Second, "lifetime of the access tokens the emulator issues; clock faults jump by it")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := o.validate(fs, faults); err != nil {
		fmt.Fprintln(stderr, "handoff-load:", err)
		return 2
	}
	e, err := setUp(ctx, &o)
	if err != nil {
		fmt.Fprintln(stderr, "handoff-load:", err)
		return 2
	}
	defer e.close()
	e.drive(ctx)
	return e.report(stdout)
}

func (o *options) validate(fs *flag.FlagSet, faults string) error {
	if faults != "" {
		o.faults = strings.Split(faults, ",")
	}
	for _, f := range o.faults {
		if !slices.Contains(faultKinds, f) {
			return fmt.Errorf("-faults: unknown fault %q: want %s", f, strings.Join(faultKinds, ", "))
		}
	}
	if o.maxDuration == 0 {
		o.maxDuration = 3 * time.Minute
		if o.soak() {
			o.maxDuration = o.duration + 2*time.Minute
		}
	}
	switch {
	case o.browsers < 1 || o.instances < 2 || o.flows < 1 || o.replayEvery < 0 || o.maxDuration < 0 || o.duration < 0:
		return errors.New("-browsers, -flows and -max-duration must be positive, -instances at least 2, -replay-every and -duration not negative")
	case o.guard != "redis" && o.guard != "memory":
		return fmt.Errorf("-guard %q: want redis or memory", o.guard)
	case len(o.faults) > 0 && !o.soak():
		return errors.New("-faults needs -duration")
	case o.faultEvery <= 0 || o.recovery <= 0 || o.tokenTTL < time.Second:
		return errors.New("-fault-every and -recovery must be positive, -token-ttl at least 1s")
	}
	if o.guard == "memory" {
		if slices.Contains(o.faults, "redis") {
			return errors.New("-faults redis needs -guard redis")
		}
		return nil
	}
	return o.redis.resolve(fs, slices.Contains(o.faults, "redis"))
}

// env is the fleet under load, and what the run observed.
type env struct {
	o         *options
	emu       *bluenexustest.Server
	mini      *miniredis.Miniredis
	admin     redis.UniversalClient // for checks and cleanup; nil with -guard memory
	prefix    string
	instances []*instance
	users     []string
	store     bluenexus.TokenStore // every user's token pair, shared by the instances
	transport *http.Transport
	redisInfo string
	res       *results
	faults    *faultLog

	ids  atomic.Int64 // the next flow id
	stop atomic.Bool  // no new flows

	flowMu sync.Mutex
	flows  map[int]*flowRecord // by flow id

	guardMu       sync.Mutex
	guardLatency  []time.Duration // Consume calls, through Redis
	guardAccepted int             // Consume calls that recorded a first use
	breakerOpens  atomic.Int64
	hookRenewals  atomic.Int64 // 401s to the hook's token, renewed
}

type instance struct {
	name   string
	url    string
	srv    *http.Server
	rdb    redis.UniversalClient // nil with -guard memory
	client *bluenexus.Client
	tokens *bluenexus.TokenSource
	hooks  atomic.Int64
}

// flowRecord is what the hook saw of one flow.
type flowRecord struct {
	user  string
	hooks int
}

func setUp(ctx context.Context, o *options) (_ *env, err error) {
	e := &env{o: o, prefix: fmt.Sprintf("handoffkit:load:%d:", time.Now().UnixNano()),
		flows: map[int]*flowRecord{}, res: newResults(), faults: &faultLog{}}
	defer func() {
		if err != nil {
			e.close()
		}
	}()
	e.redisInfo = "none (one guard per instance, flows in the cookie)"
	if o.guard == "redis" {
		if o.redis.addr == "mini" {
			if e.mini, err = miniredis.Run(); err != nil {
				return nil, err
			}
			o.redis.addr = e.mini.Addr()
		}
		e.admin = redis.NewUniversalClient(o.redis.options(4))
		if err := e.admin.Ping(ctx).Err(); err != nil {
			return nil, fmt.Errorf("redis %s: %w", o.redis, err)
		}
		e.redisInfo = o.redis.describe(ctx, e.admin, e.mini != nil)
	}

	if e.emu, err = bluenexustest.New(bluenexustest.WithTokenTTL(o.tokenTTL)); err != nil {
		return nil, err
	}
	e.store = bluenexus.NewMemoryTokenStore()
	if e.admin != nil {
		if e.store, err = redisflow.NewTokenStore(e.admin, e.redisOptions("token:")...); err != nil {
			return nil, err
		}
	}
	for i := range o.browsers {
		name := fmt.Sprintf("user%03d", i)
		e.users = append(e.users, name)
		if err := e.store.Save(ctx, name, e.emu.SignIn(name)); err != nil {
			return nil, fmt.Errorf("seeding %s's token pair: %w", name, err)
		}
		e.emu.Connect(name, "google")
		e.emu.Connect(name, "notion")
	}

	for i := range o.instances {
		in, err := e.startInstance(ctx, string(rune('A'+i)))
		if err != nil {
			return nil, err
		}
		e.instances = append(e.instances, in)
	}
	e.transport = &http.Transport{MaxIdleConns: 4 * o.browsers, MaxIdleConnsPerHost: 2 * o.browsers, IdleConnTimeout: time.Minute}
	return e, nil
}

// redisOptions are the options of the redisflow constructors for the keys
// under e.prefix+sub.
func (e *env) redisOptions(sub string) []redisflow.Option {
	opts := []redisflow.Option{redisflow.WithKeyPrefix(e.prefix + sub), redisflow.WithTimeout(e.o.timeout)}
	if e.o.redis.kind() == "sentinel" {
		// One replica: every write waits for it, so that what the kit
		// relied on survives a failover.
		opts = append(opts, redisflow.WithReplicas(1))
	}
	return opts
}

// startInstance starts one app instance on a loopback listener, with its
// own BlueNexus client, token source and Redis connection pool.
func (e *env) startInstance(ctx context.Context, name string) (*instance, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	in := &instance{name: name, url: "http://" + ln.Addr().String()}
	fail := func(err error) (*instance, error) {
		ln.Close()
		if in.rdb != nil {
			in.rdb.Close()
		}
		return nil, err
	}
	id, secret := e.emu.ClientCredentials()
	in.client, err = bluenexus.NewClient(bluenexus.WithBaseURL(e.emu.URL()), bluenexus.WithClientCredentials(id, secret),
		bluenexus.WithBreaker(bluenexus.BreakerSettings{OnStateChange: func(_, to string) {
			if to == "open" {
				e.breakerOpens.Add(1)
			}
		}}))
	if err != nil {
		return fail(err)
	}
	store := e.store
	kitOpts := []handlers.Option{handlers.WithOnReturn(e.hook(in)), handlers.WithErrorHandler(outcomeHeader)}
	if e.admin != nil {
		in.rdb = redis.NewUniversalClient(e.o.redis.options(e.o.browsers))
		guard, err := redisflow.NewReplayGuard(in.rdb, e.redisOptions("used:")...)
		if err != nil {
			return fail(err)
		}
		if store, err = redisflow.NewTokenStore(in.rdb, e.redisOptions("token:")...); err != nil {
			return fail(err)
		}
		flows, err := session.New(loadKeys, session.WithInsecureCookies(), session.WithReplayGuard(timedGuard{guard, e}))
		if err != nil {
			return fail(err)
		}
		// Replaces the demo's flows, with an in-memory guard, with the shared guard.
		kitOpts = append(kitOpts, handlers.WithFlows(flows))
	}
	if in.tokens, err = bluenexus.NewTokenSource(in.client, store); err != nil {
		return fail(err)
	}
	app, err := demoapp.New(demoapp.Config{
		Client:          in.client,
		WhiteLabelURL:   e.emu.WhiteLabelURL(),
		PublicURL:       in.url,
		Users:           e.users,
		Store:           store,
		Tokens:          in.tokens,
		Keys:            loadKeys,
		InsecureCookies: true, // plain http on loopback
		Logger:          zerolog.Nop(),
		KitOptions:      kitOpts,
	})
	if err != nil {
		return fail(err)
	}
	in.srv = &http.Server{Handler: app, ReadHeaderTimeout: 5 * time.Second}
	go in.srv.Serve(ln)
	return in, nil
}

// outcomeHeader is the kit's default error handler, which sends
// Retry-After with every 503 as the kit means it to (the demo's own error
// pages do not), plus the outcome in a header for the browsers to read.
func outcomeHeader(w http.ResponseWriter, r *http.Request, err error) {
	var he *handlers.Error
	if errors.As(err, &he) {
		w.Header().Set("X-Handoff-Outcome", string(he.Outcome))
	}
	handlers.DefaultErrorHandler(w, r, err)
}

// hook counts the run for the flow named in its next page, then re-reads
// the user's connections as the demo app's own hook does. A 401 to the
// token the source held as fresh (the emulator's clock jumped) is renewed
// once, as the kit does for handoff init.
func (e *env) hook(in *instance) func(context.Context, handlers.ReturnEvent) error {
	return func(ctx context.Context, ev handlers.ReturnEvent) error {
		in.hooks.Add(1)
		user := ""
		if id, ok := flowID(ev.Next); ok {
			e.flowMu.Lock()
			if f := e.flows[id]; f != nil {
				f.hooks++
				user = f.user
			}
			e.flowMu.Unlock()
		}
		tok, err := ev.AccessToken(ctx)
		if err != nil {
			return err
		}
		err = readConnections(ctx, in.client, tok)
		var api *bluenexus.APIError
		if errors.As(err, &api) && api.StatusCode == http.StatusUnauthorized && user != "" {
			e.hookRenewals.Add(1)
			if tok, err = in.tokens.Renew(ctx, user, tok); err != nil {
				return err
			}
			err = readConnections(ctx, in.client, tok)
		}
		return err
	}
}

func readConnections(ctx context.Context, client *bluenexus.Client, tok bluenexus.AccessToken) error {
	for _, err := range client.AllConnections(ctx, tok) {
		if err != nil {
			return err
		}
	}
	return nil
}

// timedGuard measures the replay guard's calls and counts the first uses
// it recorded.
type timedGuard struct {
	g session.ReplayGuard
	e *env
}

func (t timedGuard) Consume(ctx context.Context, id string, expiresAt time.Time) error {
	t0 := time.Now()
	err := t.g.Consume(ctx, id, expiresAt)
	t.e.guardMu.Lock()
	t.e.guardLatency = append(t.e.guardLatency, time.Since(t0))
	if err == nil {
		t.e.guardAccepted++
	}
	t.e.guardMu.Unlock()
	return err
}

func (e *env) close() {
	for _, in := range e.instances {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		in.srv.Shutdown(ctx)
		cancel()
		if in.rdb != nil {
			in.rdb.Close()
		}
	}
	if e.transport != nil {
		e.transport.CloseIdleConnections()
	}
	if e.admin != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		deleteKeys(ctx, e.admin, e.prefix)
		cancel()
		e.admin.Close()
	}
	if e.emu != nil {
		e.emu.Close()
	}
	if e.mini != nil {
		e.mini.Close()
	}
}
