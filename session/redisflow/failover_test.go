package redisflow_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/bluenexus/bluenexustest"
	"github.com/handoffkit/handoffkit/handlers"
	"github.com/handoffkit/handoffkit/internal/testkit"
	"github.com/handoffkit/handoffkit/middleware"
	"github.com/handoffkit/handoffkit/session"
	"github.com/handoffkit/handoffkit/session/redisflow"
)

// TestSentinelFailover runs complete flows from several browsers through
// three app instances behind a load balancer, on a master and a replica
// behind three Sentinels, with WithReplicas(1), while the master fails
// over; every access token expires at the moment of the fault, so the
// refreshes (and their locks) fall into the failover too. It measures the
// window in which requests fail, and checks that:
//   - every failure is a 503 with Retry-After, inside one window that
//     closes by itself (no request fails after it);
//   - no replay is accepted and no hook runs twice;
//   - no refresh token is presented twice and no code is used twice
//     (the emulator's counters).
func TestSentinelFailover(t *testing.T) {
	dir := topologyEnv(t, "HANDOFFKIT_REDIS_SENTINEL_DIR")
	script := topologyEnv(t, "HANDOFFKIT_REDIS_TOPOLOGY")
	for _, fault := range []struct {
		name string
		run  func(t *testing.T, master string)
	}{
		{"SENTINEL FAILOVER", func(t *testing.T, _ string) { topology(t, script, "failover", dir) }},
		{"master killed, back after 2s", func(t *testing.T, master string) {
			_, port, _ := strings.Cut(master, ":")
			topology(t, script, "crash", dir, port)
			// The Sentinels promote the replica after 1 s without an
			// answer. With one replica and WithReplicas(1), the new
			// master accepts writes again once the old one rejoins as
			// its replica: a supervisor restarting it, here after 2 s.
			time.Sleep(2 * time.Second)
			topology(t, script, "revive", dir, port)
		}},
	} {
		t.Run(fault.name, func(t *testing.T) {
			f := newFailoverFleet(t)
			f.run(t, func() {
				master := f.master(t)
				f.clock.Advance(16 * time.Minute) // every access token is now due a refresh
				f.note("fault on master %s", master)
				fault.run(t, master)
				f.note("fault done")
				f.waitNewMaster(t, master)
				f.note("new master %s", f.master(t))
			})
			f.check(t)
		})
	}
}

// topology runs scripts/redis-topology.sh.
func topology(t *testing.T, script string, args ...string) string {
	t.Helper()
	out, err := exec.Command(script, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-topology.sh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// failoverFleet is three app instances behind one load balancer (a
// server that hands each request to an instance at random), each with its
// own Sentinel client, BlueNexus client and token source, sharing the
// guard, the flow store and the token store through Redis.
type failoverFleet struct {
	emu      *bluenexustest.Server
	lb       *httptest.Server
	clock    *testkit.Clock // the token sources'
	admin    *redis.Client
	users    []string
	outcomes sync.Map // handlers.Outcome → *atomic.Int64, from the error handlers

	flowID  atomic.Int64
	hooksMu sync.Mutex
	hooks   map[int]int // flow id → hook runs

	mu       sync.Mutex
	requests []failoverRequest
	replays  atomic.Int64 // replays accepted
	notes    []string
}

type failoverRequest struct {
	at         time.Time
	route      string
	status     int
	retryAfter bool
}

// failoverNext is the next page of flow id; the hook reads the id back.
func failoverNext(id int64) string { return "/done/" + strconv.FormatInt(id, 10) }

func newFailoverFleet(t *testing.T) *failoverFleet {
	f := &failoverFleet{clock: testkit.NewClock(time.Now()), hooks: map[int]int{}}
	prefix := fmt.Sprintf("handoffkit:test:failover:%d:", time.Now().UnixNano())
	f.admin = sentinelClient(t)
	dropPrefix(t, f.admin, prefix)
	// The emulator runs on real time, the token sources on f.clock: moving
	// f.clock makes every access token due for a refresh, without
	// expiring the codes on the emulator's side.
	f.emu = bluenexustest.NewServer()
	t.Cleanup(f.emu.Close)

	// The instances need the balancer's URL, so they are built after it
	// started, and published to its handler at once.
	var published atomic.Pointer[[3]http.Handler]
	f.lb = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		instances := published.Load()
		instances[rand.N(len(instances))].ServeHTTP(w, r)
	}))
	t.Cleanup(f.lb.Close)
	var instances [3]http.Handler
	keys := []session.KeyPair{fleetOldKeys}
	// Generous per-call budgets: the failures counted are the failover's,
	// not a slow test machine's.
	opts := []redisflow.Option{redisflow.WithReplicas(1), redisflow.WithTimeout(2 * time.Second)}
	var tokenStore bluenexus.TokenStore
	for i := range instances {
		rdb := sentinelClient(t)
		guard, err := redisflow.NewReplayGuard(rdb, append(opts, redisflow.WithKeyPrefix(prefix+"used:"))...)
		if err != nil {
			t.Fatal(err)
		}
		flows, err := session.New(keys, session.WithReplayGuard(guard))
		if err != nil {
			t.Fatal(err)
		}
		ts, err := redisflow.NewTokenStore(rdb, append(opts, redisflow.WithKeyPrefix(prefix+"token:"), redisflow.WithClock(f.clock.Now))...)
		if err != nil {
			t.Fatal(err)
		}
		tokenStore = ts
		id, secret := f.emu.ClientCredentials()
		client, err := bluenexus.NewClient(bluenexus.WithBaseURL(f.emu.URL()), bluenexus.WithClientCredentials(id, secret), bluenexus.WithClock(f.clock.Now))
		if err != nil {
			t.Fatal(err)
		}
		tokens, err := bluenexus.NewTokenSource(client, ts)
		if err != nil {
			t.Fatal(err)
		}
		kit, err := handlers.New(handlers.Config{
			WhiteLabelURL: f.emu.WhiteLabelURL(),
			ReturnURL:     f.lb.URL + "/connections/return",
			Tokens:        tokens,
			User: func(r *http.Request) (string, bool) {
				c, err := r.Cookie("user")
				if err != nil {
					return "", false
				}
				return c.Value, true
			},
		},
			handlers.WithClient(client), handlers.WithFlows(flows), handlers.WithLogger(zerolog.Nop()),
			handlers.WithOnReturn(f.hook),
			handlers.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {
				var he *handlers.Error
				if errors.As(err, &he) {
					n, _ := f.outcomes.LoadOrStore(he.Outcome, new(atomic.Int64))
					n.(*atomic.Int64).Add(1)
				}
				handlers.DefaultErrorHandler(w, r, err)
			}))
		if err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /manage-connections", kit.ManageConnections())
		mux.Handle("/connections/return", kit.Return())
		instances[i] = middleware.ClientIP(middleware.RemoteAddrStrategy())(mux)
	}
	published.Store(&instances)
	for i := range 6 {
		user := "user" + strconv.Itoa(i)
		f.users = append(f.users, user)
		if err := tokenStore.Save(t.Context(), user, f.emu.SignIn(user)); err != nil {
			t.Fatalf("seeding %s: %v", user, err)
		}
	}
	return f
}

// hook counts the runs of each flow and reads the connections with the
// user's token, as an app's hook does.
func (f *failoverFleet) hook(ctx context.Context, ev handlers.ReturnEvent) error {
	id, err := strconv.Atoi(strings.TrimPrefix(ev.Next, "/done/"))
	if err != nil {
		return fmt.Errorf("next %q is no flow's", ev.Next)
	}
	f.hooksMu.Lock()
	f.hooks[id]++
	f.hooksMu.Unlock()
	return nil
}

// master is the master's address, as the Sentinels give it.
func (f *failoverFleet) master(t *testing.T) string {
	t.Helper()
	sentinels := strings.Split(topologyEnv(t, "HANDOFFKIT_REDIS_SENTINELS"), ",")
	s := redis.NewSentinelClient(&redis.Options{Addr: sentinels[0]})
	defer s.Close()
	addr, err := s.GetMasterAddrByName(t.Context(), topologyEnv(t, "HANDOFFKIT_REDIS_MASTER")).Result()
	if err != nil {
		t.Fatal(err)
	}
	return addr[0] + ":" + addr[1]
}

// waitNewMaster waits until the Sentinels name a master other than old.
func (f *failoverFleet) waitNewMaster(t *testing.T, old string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); f.master(t) == old; {
		if time.Now().After(deadline) {
			t.Fatalf("no new master 30 s after the fault; still %s", old)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// run drives flows from every user's browser for 2 s, runs fault, then
// drives them on until 3 s pass without a failed request and every user
// has refreshed (at most 60 s).
func (f *failoverFleet) run(t *testing.T, fault func()) {
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	var wg sync.WaitGroup
	for _, user := range f.users {
		wg.Go(func() { f.browse(ctx, user) })
	}
	time.Sleep(2 * time.Second)
	fault()
	// Until no request failed for 3 s and every user refreshed: a lease
	// whose answer was lost, taken as late as the end of the window (about
	// 14 s after a crash), holds that user's refresh on the other instances
	// until it runs out (31 s), and that user's browser waits there.
	for deadline := time.Now().Add(60 * time.Second); time.Since(f.lastFailure()) < 3*time.Second || f.emu.Hits(bluenexustest.PathToken) < len(f.users); {
		if time.Now().After(deadline) {
			break // check reports the window that did not close
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	wg.Wait()
}

// browse is one user's browser: flows one after the other, each followed
// by a replay of its return, which must be refused.
func (f *failoverFleet) browse(ctx context.Context, user string) {
	browser := bluenexustest.NewBrowser(f.lb)
	u, _ := url.Parse(f.lb.URL)
	browser.Jar.SetCookies(u, []*http.Cookie{{Name: "user", Value: user, Path: "/"}})
	end := bluenexustest.NewUser(f.emu, browser)
	for ctx.Err() == nil {
		id := f.flowID.Add(1)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.lb.URL+"/manage-connections?next="+url.QueryEscape(failoverNext(id)), nil)
		start, err := browser.Do(req)
		if err != nil {
			continue // the test is ending
		}
		f.record("manage", start)
		if start.StatusCode != http.StatusFound {
			start.Body.Close()
			time.Sleep(50 * time.Millisecond) // as a user would, before trying again
			continue
		}
		ret, err := end.Done(ctx, start)
		if err != nil {
			if ctx.Err() == nil {
				f.record("page", &http.Response{StatusCode: 599}) // the code was refused: never expected
				f.note("page: %v", err)
			}
			continue
		}
		f.record("return", ret.Response)
		if ret.Response.StatusCode != http.StatusSeeOther {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		// The same return again, with the same cookie: a replay.
		again, err := http.NewRequestWithContext(ctx, http.MethodGet, ret.URL.String(), nil)
		if err != nil {
			continue
		}
		resp, err := browser.Do(again)
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusSeeOther && resp.Header.Get("Location") == failoverNext(id) {
			f.replays.Add(1)
		}
	}
}

// note keeps a line for the test's log.
func (f *failoverFleet) note(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.notes = append(f.notes, time.Now().Format("15:04:05.000 ")+fmt.Sprintf(format, args...))
}

func (f *failoverFleet) record(route string, resp *http.Response) {
	if resp.Body != nil {
		resp.Body.Close()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, failoverRequest{at: time.Now(), route: route, status: resp.StatusCode,
		retryAfter: resp.Header.Get("Retry-After") != ""})
}

// failed reports whether a request failed: anything but the kit's
// redirect to BlueNexus or back to the app.
func (r failoverRequest) failed() bool {
	return r.status != http.StatusFound && r.status != http.StatusSeeOther
}

func (f *failoverFleet) lastFailure() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.requests) - 1; i >= 0; i-- {
		if f.requests[i].failed() {
			return f.requests[i].at
		}
	}
	return time.Time{}
}

// check verifies the invariants and logs the failover window.
func (f *failoverFleet) check(t *testing.T) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	var first, last time.Time
	failed, ok := 0, 0
	for _, r := range f.requests {
		if !r.failed() {
			ok++
			continue
		}
		failed++
		if first.IsZero() {
			first = r.at
		}
		last = r.at
		if r.status != http.StatusServiceUnavailable || !r.retryAfter {
			t.Errorf("a %s request failed with %d (Retry-After %v), want 503 with Retry-After", r.route, r.status, r.retryAfter)
		}
	}
	var outcomes []string
	f.outcomes.Range(func(k, v any) bool {
		outcomes = append(outcomes, fmt.Sprintf("%s=%d", k, v.(*atomic.Int64).Load()))
		return true
	})
	window := last.Sub(first)
	for _, n := range f.notes {
		t.Log(n)
	}
	t.Logf("first failure %s, last %s", first.Format("15:04:05.000"), last.Format("15:04:05.000"))
	t.Logf("%d requests, %d failed within %v (%s); %d flows", ok+failed, failed, window.Round(time.Millisecond),
		strings.Join(outcomes, " "), f.flowID.Load())
	if failed > 0 && time.Since(last) < 3*time.Second {
		t.Errorf("requests still failed at the end: the window did not close by itself")
	}
	if window > 30*time.Second {
		t.Errorf("the failover window lasted %v", window)
	}
	var after int
	for _, r := range f.requests {
		if r.at.After(last) && !r.failed() {
			after++
		}
	}
	if after < 10 {
		t.Errorf("only %d requests succeeded after the window", after)
	}
	f.hooksMu.Lock() // a return in flight when the browsers stopped may still run its hook
	for id, n := range f.hooks {
		if n > 1 {
			t.Errorf("the hook ran %d times for flow %d", n, id)
		}
	}
	f.hooksMu.Unlock()
	if n := f.replays.Load(); n != 0 {
		t.Errorf("%d replays accepted", n)
	}
	if n := f.emu.RefreshReplays(); n != 0 {
		t.Errorf("%d refresh tokens presented twice", n)
	}
	if n := f.emu.CodeReuses(); n != 0 {
		t.Errorf("%d handoff codes used twice", n)
	}
	if n := f.emu.Hits(bluenexustest.PathToken); n < len(f.users) {
		t.Errorf("%d token calls: the refreshes did not happen (want at least %d)", n, len(f.users))
	}
}
