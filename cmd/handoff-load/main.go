// Command handoff-load runs complete Manage Connections flows from many
// simulated browsers against two instances of the example app
// (cmd/internal/demoapp) that share a Redis replay guard (session/redisflow),
// the same cookie keys and one BlueNexus emulator, as a fleet behind a load
// balancer would:
//
//	make load                                   # starts a throwaway Redis
//	scripts/with-redis.sh go run ./cmd/handoff-load -browsers 64 -flows 5000
//
// Each browser signs in once, then runs flows: /manage-connections on one
// instance, the emulator's white-label page, Done, and /connections/return
// on the other instance. Every tenth flow (-replay-every) the browser then
// puts back the copy of its flow cookie saved before the return and replays
// the return on the first instance, which must refuse it.
//
// It stops by itself after -flows flows (or -max-duration), prints flows
// per second and the p50/p99 latency of each route, and exits with status 1
// on any violation: a request that failed, a hook that ran twice for one
// flow, a valid flow whose hook never ran, a replay that was accepted, or a
// state the Redis guard did not record.
//
// With -redis mini it runs on an in-process miniredis instead of a server;
// with -guard memory each instance keeps its own in-memory guard, and
// replays on the other instance are then accepted: the run fails, which
// shows what the shared guard is for.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/signal"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
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
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	browsers    int
	flows       int
	replayEvery int
	maxDuration time.Duration
	redisAddr   string
	guard       string
	timeout     time.Duration
}

// run returns the exit status: 0 when every check holds, 1 on a violation,
// 2 when the run could not be set up.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("handoff-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.IntVar(&o.browsers, "browsers", 32, "concurrent simulated browsers")
	fs.IntVar(&o.flows, "flows", 2000, "complete flows to run")
	fs.IntVar(&o.replayEvery, "replay-every", 10, "replay an old cookie copy on the other instance after every Nth flow (0: never)")
	fs.DurationVar(&o.maxDuration, "max-duration", 3*time.Minute, "stop and fail if the flows take longer")
	fs.StringVar(&o.redisAddr, "redis", os.Getenv("HANDOFFKIT_REDIS_ADDR"), `Redis address (default $HANDOFFKIT_REDIS_ADDR); "mini" for an in-process miniredis`)
	fs.StringVar(&o.guard, "guard", "redis", `replay guard: "redis" (shared) or "memory" (one per instance, to see replays get through)`)
	fs.DurationVar(&o.timeout, "guard-timeout", (500 * time.Millisecond), "time budget of each Redis call of the replay guard")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	switch {
	case o.browsers < 1 || o.flows < 1 || o.replayEvery < 0 || o.maxDuration <= 0:
		fmt.Fprintln(stderr, "handoff-load: -browsers, -flows and -max-duration must be positive, -replay-every not negative")
		return 2
	case o.guard != "redis" && o.guard != "memory":
		fmt.Fprintf(stderr, "handoff-load: -guard %q: want redis or memory\n", o.guard)
		return 2
	case o.redisAddr == "" && o.guard == "redis":
		fmt.Fprintln(stderr, "handoff-load: no Redis: set -redis or HANDOFFKIT_REDIS_ADDR (`make load` starts one), or -redis mini")
		return 2
	}
	env, err := setUp(o)
	if err != nil {
		fmt.Fprintln(stderr, "handoff-load:", err)
		return 2
	}
	defer env.close()
	res := env.drive(ctx, o)
	return res.report(stdout, env, o)
}

// env is the fleet under load.
type env struct {
	emu       *bluenexustest.Server
	mini      *miniredis.Miniredis
	rdbs      []*redis.Client
	admin     *redis.Client // for checks and cleanup
	prefix    string
	instances [2]*instance
	users     []string
	store     bluenexus.TokenStore // every user's token pair, shared by the instances
	hooks     []atomic.Int32       // per flow id
	transport *http.Transport
	redisInfo string

	guardMu      sync.Mutex
	guardLatency []time.Duration // Consume calls, through Redis
}

type instance struct {
	url   string
	srv   *http.Server
	hooks atomic.Int64
}

func setUp(o options) (_ *env, err error) {
	e := &env{prefix: fmt.Sprintf("handoffkit:load:%d:", time.Now().UnixNano()), hooks: make([]atomic.Int32, o.flows)}
	defer func() {
		if err != nil {
			e.close()
		}
	}()
	e.redisInfo = "(one per instance)"
	if o.guard == "redis" {
		e.redisInfo = ""
		if o.redisAddr == "mini" {
			if e.mini, err = miniredis.Run(); err != nil {
				return nil, err
			}
			o.redisAddr = e.mini.Addr()
			e.redisInfo = "on miniredis (in-process)"
		}
		e.admin = redis.NewClient(&redis.Options{Addr: o.redisAddr})
		if err := e.admin.Ping(context.Background()).Err(); err != nil {
			return nil, fmt.Errorf("redis at %s: %w", o.redisAddr, err)
		}
		if e.redisInfo == "" {
			e.redisInfo = "on redis-server " + redisVersion(e.admin) + " at " + o.redisAddr
		}
	}

	if e.emu, err = bluenexustest.New(); err != nil {
		return nil, err
	}
	e.store = bluenexus.NewMemoryTokenStore()
	for i := range o.browsers {
		name := fmt.Sprintf("user%03d", i)
		e.users = append(e.users, name)
		if _, err := e.store.CompareAndSwap(context.Background(), name, "", e.emu.SignIn(name)); err != nil {
			return nil, err
		}
		e.emu.Connect(name, "google")
		e.emu.Connect(name, "notion")
	}

	for i := range e.instances {
		if e.instances[i], err = e.startInstance(o); err != nil {
			return nil, err
		}
	}
	e.transport = &http.Transport{MaxIdleConns: 4 * o.browsers, MaxIdleConnsPerHost: 2 * o.browsers, IdleConnTimeout: time.Minute}
	return e, nil
}

// startInstance starts one app instance on a loopback listener, with its
// own BlueNexus client and Redis connection pool.
func (e *env) startInstance(o options) (*instance, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	in := &instance{url: "http://" + ln.Addr().String()}
	id, secret := e.emu.ClientCredentials()
	client, err := bluenexus.NewClient(bluenexus.WithBaseURL(e.emu.URL()), bluenexus.WithClientCredentials(id, secret))
	if err != nil {
		ln.Close()
		return nil, err
	}
	tokens, err := bluenexus.NewTokenSource(client, e.store)
	if err != nil {
		ln.Close()
		return nil, err
	}
	var sessionOpts []session.Option
	if o.guard == "redis" {
		rdb := redis.NewClient(&redis.Options{Addr: e.admin.Options().Addr, ContextTimeoutEnabled: true, PoolSize: o.browsers})
		e.rdbs = append(e.rdbs, rdb)
		guard, err := redisflow.NewReplayGuard(rdb, redisflow.WithKeyPrefix(e.prefix), redisflow.WithTimeout(o.timeout))
		if err != nil {
			ln.Close()
			return nil, err
		}
		sessionOpts = append(sessionOpts, session.WithReplayGuard(timedGuard{guard, e}))
	}
	app, err := demoapp.New(demoapp.Config{
		Client:          client,
		WhiteLabelURL:   e.emu.WhiteLabelURL(),
		PublicURL:       in.url,
		Users:           e.users,
		Store:           e.store,
		Tokens:          tokens,
		Keys:            loadKeys,
		InsecureCookies: true, // plain http on loopback
		Logger:          zerolog.Nop(),
		// Replaces the demo's refresh hook with one that does the same
		// upstream read and counts runs per flow.
		KitOptions:     []handlers.Option{handlers.WithOnReturn(e.hook(in, client))},
		SessionOptions: sessionOpts,
	})
	if err != nil {
		ln.Close()
		return nil, err
	}
	in.srv = &http.Server{Handler: app, ReadHeaderTimeout: 5 * time.Second}
	go in.srv.Serve(ln)
	return in, nil
}

// hook counts the run for the flow named in its next page, then re-reads
// the user's connections as the demo app's own hook does.
func (e *env) hook(in *instance, client *bluenexus.Client) func(context.Context, handlers.ReturnEvent) error {
	return func(ctx context.Context, ev handlers.ReturnEvent) error {
		in.hooks.Add(1)
		if id, ok := flowID(ev.Next); ok && id < len(e.hooks) {
			e.hooks[id].Add(1)
		}
		tok, err := ev.AccessToken(ctx)
		if err != nil {
			return err
		}
		for _, err := range client.AllConnections(ctx, tok, bluenexus.ListOptions{}) {
			if err != nil {
				return err
			}
		}
		return nil
	}
}

// timedGuard measures the replay guard's calls.
type timedGuard struct {
	g session.ReplayGuard
	e *env
}

func (t timedGuard) Consume(ctx context.Context, id string, expiresAt time.Time) error {
	t0 := time.Now()
	err := t.g.Consume(ctx, id, expiresAt)
	t.e.guardMu.Lock()
	t.e.guardLatency = append(t.e.guardLatency, time.Since(t0))
	t.e.guardMu.Unlock()
	return err
}

func (e *env) close() {
	for _, in := range e.instances {
		if in != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			in.srv.Shutdown(ctx)
			cancel()
		}
	}
	if e.transport != nil {
		e.transport.CloseIdleConnections()
	}
	if e.admin != nil {
		ctx := context.Background()
		iter := e.admin.Scan(ctx, 0, e.prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			e.admin.Del(ctx, iter.Val())
		}
		e.admin.Close()
	}
	for _, c := range e.rdbs {
		c.Close()
	}
	if e.emu != nil {
		e.emu.Close()
	}
	if e.mini != nil {
		e.mini.Close()
	}
}

func redisVersion(c *redis.Client) string {
	info, err := c.Info(context.Background(), "server").Result()
	if err != nil {
		return "?"
	}
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
			return v
		}
	}
	return "?"
}

// Routes whose latency is reported, in flow order.
const (
	routeSignin     = "POST /signin"
	routeManage     = "GET /manage-connections"
	routeWhiteLabel = "GET white-label (code, then page)"
	routeDone       = "POST white-label Done"
	routeReturn     = "GET /connections/return"
	routeReplay     = "GET /connections/return (replayed copy)"
)

var routes = []string{routeSignin, routeManage, routeWhiteLabel, routeDone, routeReturn, routeReplay}

// results gathers what the browsers saw.
type results struct {
	mu        sync.Mutex
	latencies map[string][]time.Duration
	errors    []string // the first few
	errCount  int
	flows     int // flows whose return succeeded
	replays   int // replays refused
	accepted  int // replays accepted: a violation
	elapsed   time.Duration
	timedOut  bool
}

func (r *results) observe(route string, d time.Duration) {
	r.mu.Lock()
	r.latencies[route] = append(r.latencies[route], d)
	r.mu.Unlock()
}

func (r *results) fail(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errCount++
	if len(r.errors) < 10 {
		r.errors = append(r.errors, fmt.Sprintf(format, args...))
	}
}

// drive runs the flows with o.browsers concurrent browsers.
func (e *env) drive(ctx context.Context, o options) *results {
	res := &results{latencies: map[string][]time.Duration{}}
	ctx, cancel := context.WithTimeout(ctx, o.maxDuration)
	defer cancel()
	ids := make(chan int)
	go func() {
		defer close(ids)
		for id := range o.flows {
			select {
			case ids <- id:
			case <-ctx.Done():
				return
			}
		}
	}()
	start := time.Now()
	var wg sync.WaitGroup
	for i := range o.browsers {
		wg.Go(func() {
			b, err := e.newBrowser(ctx, fmt.Sprintf("user%03d", i), e.instances[i%2], res)
			if err != nil {
				res.fail("browser %d: sign-in: %v", i, err)
				return
			}
			for id := range ids {
				b.flow(ctx, id, o.replayEvery > 0 && id%o.replayEvery == o.replayEvery-1)
			}
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.timedOut = ctx.Err() != nil
	return res
}

// browser is one simulated user with a cookie jar. Cookie jars scope
// cookies by host, not port, so both instances on 127.0.0.1 see the same
// cookies, as behind one hostname.
type browser struct {
	e      *env
	client *http.Client
	res    *results
}

func (e *env) newBrowser(ctx context.Context, user string, at *instance, res *results) (*browser, error) {
	jar, _ := cookiejar.New(nil)
	b := &browser{e: e, res: res, client: &http.Client{Jar: jar, Transport: e.transport, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	resp, _, err := b.do(ctx, routeSignin, http.MethodPost, at.url+"/signin", url.Values{"user": {user}})
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusSeeOther {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	return b, nil
}

// do sends one request and reads the body, timing it under route.
func (b *browser) do(ctx context.Context, route, method, rawURL string, form url.Values) (*http.Response, string, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, rawURL, body)
	if err != nil {
		return nil, "", err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	t0 := time.Now()
	resp, err := b.client.Do(req)
	if err != nil {
		return nil, "", err
	}
	var buf bytes.Buffer
	_, err = io.Copy(&buf, resp.Body)
	resp.Body.Close()
	if route != "" {
		b.res.observe(route, time.Since(t0))
	}
	return resp, buf.String(), err
}

var (
	csrfField   = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)
	outcomeAttr = regexp.MustCompile(`data-outcome="([a-z_]+)"`)
)

// flow runs flow id: start on one instance, return on the other, and
// optionally replay an old cookie copy on the first.
func (b *browser) flow(ctx context.Context, id int, replay bool) {
	start, finish := b.e.instances[id%2], b.e.instances[1-id%2]
	next := "/?flow=" + strconv.Itoa(id)
	fail := func(step string, resp *http.Response, body string, err error) {
		if ctx.Err() != nil {
			return // out of time: reported once, as such
		}
		if err != nil {
			b.res.fail("flow %d: %s: %v", id, step, err)
			return
		}
		outcome := ""
		if m := outcomeAttr.FindStringSubmatch(body); m != nil {
			outcome = ", outcome " + m[1]
		}
		b.res.fail("flow %d: %s: status %d%s", id, step, resp.StatusCode, outcome)
	}

	resp, body, err := b.do(ctx, routeManage, http.MethodGet, start.url+"/manage-connections?next="+url.QueryEscape(next), nil)
	if err != nil || resp.StatusCode != http.StatusFound {
		fail("manage-connections", resp, body, err)
		return
	}
	wl := resp.Header.Get("Location")

	t0 := time.Now()
	resp, body, err = b.do(ctx, "", http.MethodGet, wl, nil)
	if err != nil || resp.StatusCode != http.StatusSeeOther {
		fail("white-label code", resp, body, err)
		return
	}
	page, _ := resp.Location()
	resp, body, err = b.do(ctx, "", http.MethodGet, page.String(), nil)
	m := csrfField.FindStringSubmatch(body)
	if err != nil || resp.StatusCode != http.StatusOK || m == nil {
		fail("white-label page", resp, body, err)
		return
	}
	b.res.observe(routeWhiteLabel, time.Since(t0))

	resp, body, err = b.do(ctx, routeDone, http.MethodPost, b.e.emu.WhiteLabelURL()+"/done", url.Values{"csrf_token": {m[1]}})
	if err != nil || resp.StatusCode != http.StatusSeeOther {
		fail("white-label Done", resp, body, err)
		return
	}
	back, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(back.String(), start.url+"/connections/return?state=") {
		b.res.fail("flow %d: Done sent the browser to %q", id, resp.Header.Get("Location"))
		return
	}
	saved := b.flowCookie(start)

	back.Host = strings.TrimPrefix(finish.url, "http://") // the load balancer picks the other instance
	resp, body, err = b.do(ctx, routeReturn, http.MethodGet, back.String(), nil)
	if err != nil || resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != next || !flashSuccess(resp) {
		fail("return", resp, body, err)
		return
	}
	b.res.mu.Lock()
	b.res.flows++
	b.res.mu.Unlock()

	if !replay || saved == nil {
		return
	}
	b.setFlowCookie(start, saved)
	back.Host = strings.TrimPrefix(start.url, "http://")
	resp, body, err = b.do(ctx, routeReplay, http.MethodGet, back.String(), nil)
	switch {
	case err != nil:
		fail("replay", resp, body, err)
	case resp.StatusCode == http.StatusForbidden:
		b.res.mu.Lock()
		b.res.replays++
		b.res.mu.Unlock()
	case resp.StatusCode == http.StatusSeeOther:
		b.res.mu.Lock()
		b.res.accepted++
		b.res.mu.Unlock()
	default:
		fail("replay", resp, body, nil)
	}
}

func flashSuccess(resp *http.Response) bool {
	for _, c := range resp.Cookies() {
		if strings.HasSuffix(c.Name, "handoffkit-outcome") {
			return c.Value == "success"
		}
	}
	return false
}

func (b *browser) flowCookie(in *instance) *http.Cookie {
	u, _ := url.Parse(in.url)
	for _, c := range b.client.Jar.Cookies(u) {
		if c.Name == "handoffkit-flow" {
			return c
		}
	}
	return nil
}

func (b *browser) setFlowCookie(in *instance, c *http.Cookie) {
	u, _ := url.Parse(in.url)
	b.client.Jar.SetCookies(u, []*http.Cookie{{Name: c.Name, Value: c.Value, Path: "/", HttpOnly: true}})
}

// flowID reads the flow id from a next page "/?flow=N".
func flowID(next string) (int, bool) {
	v, ok := strings.CutPrefix(next, "/?flow=")
	if !ok {
		return 0, false
	}
	id, err := strconv.Atoi(v)
	return id, err == nil && id >= 0
}

// report prints the figures and the checks, and returns the exit status.
func (r *results) report(w io.Writer, e *env, o options) int {
	fmt.Fprintf(w, "handoff-load: %d browsers, %d flows, 2 app instances (demoapp on chi), replay guard %s %s\n",
		o.browsers, o.flows, o.guard, e.redisInfo)
	fmt.Fprintf(w, "machine: %s/%s, %d CPUs, %s\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version())
	fmt.Fprintf(w, "elapsed %v: %.1f flows/s\n\n", r.elapsed.Round(time.Millisecond), float64(r.flows)/r.elapsed.Seconds())

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "route\tcount\tp50\tp99\tmax\t")
	for _, route := range routes {
		d := r.latencies[route]
		if len(d) == 0 {
			continue
		}
		slices.Sort(d)
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t\n", route, len(d), ms(pct(d, 50)), ms(pct(d, 99)), ms(d[len(d)-1]))
	}
	if d := e.guardLatency; len(d) > 0 {
		slices.Sort(d)
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t\n", "(replay guard Consume, inside return)", len(d), ms(pct(d, 50)), ms(pct(d, 99)), ms(d[len(d)-1]))
	}
	tw.Flush()

	var twice, lost, hookRuns int
	for i := range e.hooks {
		switch n := int(e.hooks[i].Load()); {
		case n > 1:
			twice++
		case n == 0:
			lost++
		}
		hookRuns += int(e.hooks[i].Load())
	}
	recorded := -1
	if o.guard == "redis" {
		recorded = countKeys(e.admin, e.prefix)
	}
	fmt.Fprintf(w, "\nhook runs %d (instance A %d, B %d) for %d flows; successful returns %d\n",
		hookRuns, e.instances[0].hooks.Load(), e.instances[1].hooks.Load(), o.flows, r.flows)
	if recorded >= 0 {
		fmt.Fprintf(w, "states recorded in Redis: %d\n", recorded)
	}
	fmt.Fprintf(w, "replays of an old cookie copy on the other instance: %d refused, %d accepted\n", r.replays, r.accepted)

	var violations []string
	if r.timedOut {
		violations = append(violations, fmt.Sprintf("did not finish within -max-duration %v", o.maxDuration))
	}
	if r.errCount > 0 {
		violations = append(violations, fmt.Sprintf("%d failed requests", r.errCount))
	}
	if twice > 0 {
		violations = append(violations, fmt.Sprintf("%d flows whose hook ran more than once", twice))
	}
	if lost > 0 {
		violations = append(violations, fmt.Sprintf("%d valid flows whose hook never ran", lost))
	}
	if r.accepted > 0 {
		violations = append(violations, fmt.Sprintf("%d replays accepted", r.accepted))
	}
	if recorded >= 0 && recorded != r.flows {
		violations = append(violations, fmt.Sprintf("%d states recorded in Redis for %d finished flows", recorded, r.flows))
	}
	for _, msg := range r.errors {
		fmt.Fprintln(w, "  error:", msg)
	}
	if len(violations) > 0 {
		fmt.Fprintln(w, "FAIL:", strings.Join(violations, "; "))
		return 1
	}
	fmt.Fprintln(w, "OK: zero errors, zero hooks run twice, zero valid flows lost, every replay refused")
	return 0
}

func pct(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p + 99) / 100
	return sorted[max(i-1, 0)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }

func countKeys(c *redis.Client, prefix string) int {
	ctx := context.Background()
	n := 0
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		n++
	}
	if iter.Err() != nil {
		return -1
	}
	return n
}
