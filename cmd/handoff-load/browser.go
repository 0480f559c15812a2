package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/handoffkit/handoffkit/bluenexus/bluenexustest"
)

// Routes whose latency is reported, in flow order.
const (
	routeSignin     = "POST /signin"
	routeManage     = "GET /manage-connections"
	routeWhiteLabel = "GET white-label (code, then page)"
	routeConnect    = "POST white-label Connect"
	routeDone       = "POST white-label Done"
	routeReturn     = "GET /connections/return"
	routeReplay     = "GET /connections/return (replayed)"
)

var routes = []string{routeSignin, routeManage, routeWhiteLabel, routeConnect, routeDone, routeReturn, routeReplay}

// How often a flow runs in two tabs, and Connects a provider first.
const (
	twoTabsChance = 0.2
	connectChance = 0.25
)

// drive runs the browsers: -flows flows, or for -duration while the
// faults play. A browser stops between flows, never in one.
func (e *env) drive(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, e.o.maxDuration)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for i := range e.o.browsers {
		wg.Go(func() {
			b, err := e.newBrowser(ctx, e.users[i])
			if err != nil {
				e.res.fail(&failure{route: routeSignin, start: start, end: time.Now(), err: err})
				return
			}
			for ctx.Err() == nil {
				tabs := 1
				if rand.Float64() < twoTabsChance {
					tabs = 2
				}
				if !b.run(ctx, tabs) {
					return
				}
			}
		})
	}
	if e.o.soak() {
		var faults sync.WaitGroup
		if len(e.o.faults) > 0 {
			// Quiet at the end, so that the last fault's window closes
			// while the browsers still run.
			quiet := min(15*time.Second, e.o.duration/4)
			faults.Go(func() { e.injectFaults(ctx, start.Add(e.o.duration-quiet)) })
		}
		select {
		case <-ctx.Done():
		case <-time.After(e.o.duration):
		}
		faults.Wait()
		e.stop.Store(true)
	}
	wg.Wait()
	e.res.elapsed = time.Since(start)
	e.res.timedOut = ctx.Err() == context.DeadlineExceeded
	e.res.interrupted = ctx.Err() == context.Canceled
}

// nextID hands out the next flow id, or false when the run is over.
func (e *env) nextID() (int, bool) {
	if e.stop.Load() {
		return 0, false
	}
	id := int(e.ids.Add(1)) - 1
	if !e.o.soak() && id >= e.o.flows {
		return 0, false
	}
	return id, true
}

// browser is one simulated user with a cookie jar. Cookie jars scope
// cookies by host, not port, so every instance on 127.0.0.1 sees the same
// cookies, as behind one hostname.
type browser struct {
	e      *env
	user   string
	client *http.Client
}

func (e *env) newBrowser(ctx context.Context, user string) (*browser, error) {
	jar, _ := cookiejar.New(nil)
	b := &browser{e: e, user: user, client: &http.Client{Jar: jar, Transport: e.transport, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	resp, _, err := b.do(ctx, routeSignin, http.MethodPost, b.e.pick(nil).url+"/signin", url.Values{"user": {user}})
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusSeeOther {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	return b, nil
}

// pick is the load balancer: an instance at random, other than not.
func (e *env) pick(not *instance) *instance {
	for {
		if in := e.instances[rand.IntN(len(e.instances))]; in != not {
			return in
		}
	}
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
		b.e.res.observe(route, time.Since(t0))
	}
	return resp, buf.String(), err
}

var csrfField = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// tab is one flow in one tab of the browser.
type tab struct {
	id        int
	next      string
	start     *instance // where the flow began
	began     time.Time
	csrf      string
	returnURL *url.URL
}

// run runs one flow, or two in two tabs: both begun, then finished in
// random order. It returns false when the run is over.
func (b *browser) run(ctx context.Context, tabs int) bool {
	var open []*tab
	for i := range tabs {
		id, ok := b.e.nextID()
		if !ok {
			if i == 0 {
				return false
			}
			break
		}
		if t := b.begin(ctx, id); t != nil {
			open = append(open, t)
		}
	}
	if len(open) == 2 {
		b.e.res.count(&b.e.res.twoTabs)
		rand.Shuffle(2, func(i, j int) { open[i], open[j] = open[j], open[i] })
	}
	for _, t := range open {
		b.finish(ctx, t)
	}
	return ctx.Err() == nil
}

// failed checks one request of a flow: it records a failure and returns
// true when the request did not answer want.
func (b *browser) failed(ctx context.Context, t *tab, route string, start time.Time, resp *http.Response, body string, err error, want int) bool {
	if err == nil && resp.StatusCode == want {
		return false
	}
	if ctx.Err() != nil {
		return true // out of time or interrupted: reported once, as such
	}
	f := &failure{flow: t.id, route: route, start: start, end: time.Now(), flowStart: t.began, err: err}
	if resp != nil {
		f.status = resp.StatusCode
		f.outcome = resp.Header.Get("X-Handoff-Outcome")
		f.retryAfter = resp.Header.Get("Retry-After") != ""
		if route == routeWhiteLabel && strings.Contains(body, "This link has expired") {
			f.outcome = "code_expired"
		}
	}
	b.e.res.fail(f)
	return true
}

// begin asks for a handoff and opens the white-label page, as a click on
// Manage connections does. It returns nil when the flow failed.
func (b *browser) begin(ctx context.Context, id int) *tab {
	t := &tab{id: id, next: "/?flow=" + strconv.Itoa(id), start: b.e.pick(nil), began: time.Now()}
	b.e.flowMu.Lock()
	b.e.flows[id] = &flowRecord{user: b.user}
	b.e.flowMu.Unlock()
	b.e.res.count(&b.e.res.began)

	resp, body, err := b.do(ctx, routeManage, http.MethodGet, t.start.url+"/manage-connections?next="+url.QueryEscape(t.next), nil)
	if b.failed(ctx, t, routeManage, t.began, resp, body, err, http.StatusFound) {
		return nil
	}
	b.e.faults.redisSuccess(t.began) // the flow was saved in Redis
	t0 := time.Now()
	resp, body, err = b.do(ctx, "", http.MethodGet, resp.Header.Get("Location"), nil)
	if b.failed(ctx, t, routeWhiteLabel, t0, resp, body, err, http.StatusSeeOther) {
		return nil
	}
	page, _ := resp.Location()
	resp, body, err = b.do(ctx, "", http.MethodGet, page.String(), nil)
	if b.failed(ctx, t, routeWhiteLabel, t0, resp, body, err, http.StatusOK) {
		return nil
	}
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		b.e.res.fail(&failure{flow: id, route: routeWhiteLabel, start: t0, end: time.Now(), status: resp.StatusCode, outcome: "no CSRF token on the page"})
		return nil
	}
	b.e.res.observe(routeWhiteLabel, time.Since(t0))
	t.csrf = m[1]
	return t
}

var providers = []string{"google", "notion", "slack", "github"}

// finish sometimes connects a provider, then presses Done and follows the
// return to another instance; then, every -replay-every flows, it replays
// the same return on a third instance.
func (b *browser) finish(ctx context.Context, t *tab) {
	csrf := url.Values{"csrf_token": {t.csrf}}
	if rand.Float64() < connectChance {
		t0 := time.Now()
		form := url.Values{"csrf_token": {t.csrf}, "provider": {providers[rand.IntN(len(providers))]}}
		resp, body, err := b.do(ctx, routeConnect, http.MethodPost, b.e.emu.URL()+bluenexustest.PathWhiteLabelConnect, form)
		if b.failed(ctx, t, routeConnect, t0, resp, body, err, http.StatusSeeOther) {
			return
		}
	}
	t0 := time.Now()
	resp, body, err := b.do(ctx, routeDone, http.MethodPost, b.e.emu.URL()+bluenexustest.PathWhiteLabelDone, csrf)
	if b.failed(ctx, t, routeDone, t0, resp, body, err, http.StatusSeeOther) {
		return
	}
	back, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(back.String(), t.start.url+"/connections/return?state=") {
		b.e.res.fail(&failure{flow: t.id, route: routeDone, start: t0, end: time.Now(), outcome: "Done sent the browser to " + resp.Header.Get("Location")})
		return
	}
	finish := b.e.pick(t.start) // the load balancer picks another instance
	back.Host = strings.TrimPrefix(finish.url, "http://")
	t0 = time.Now()
	resp, body, err = b.do(ctx, routeReturn, http.MethodGet, back.String(), nil)
	if b.failed(ctx, t, routeReturn, t0, resp, body, err, http.StatusSeeOther) {
		return
	}
	if flash := flashOutcome(resp); resp.Header.Get("Location") != t.next || flash != "success" {
		b.e.res.fail(&failure{flow: t.id, route: routeReturn, start: t0, end: time.Now(), flowStart: t.began, status: resp.StatusCode, outcome: flash})
		return
	}
	b.e.faults.redisSuccess(t0)
	b.e.res.succeeded(t.id)

	if b.e.o.replayEvery == 0 || t.id%b.e.o.replayEvery != b.e.o.replayEvery-1 {
		return
	}
	back.Host = strings.TrimPrefix(b.e.pick(finish).url, "http://")
	t0 = time.Now()
	resp, body, err = b.do(ctx, routeReplay, http.MethodGet, back.String(), nil)
	switch {
	case err == nil && resp.StatusCode == http.StatusForbidden:
		b.e.res.count(&b.e.res.replays)
	case err == nil && resp.StatusCode == http.StatusSeeOther:
		b.e.res.count(&b.e.res.accepted)
	default:
		b.failed(ctx, t, routeReplay, t0, resp, body, err, http.StatusForbidden)
	}
}

// flashOutcome is the return's outcome as the flash cookie carries it.
func flashOutcome(resp *http.Response) string {
	for _, c := range resp.Cookies() {
		if strings.HasSuffix(c.Name, "handoffkit-outcome") {
			return c.Value
		}
	}
	return ""
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
