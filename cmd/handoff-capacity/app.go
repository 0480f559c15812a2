package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/bluenexus/bluenexustest"
	"github.com/handoffkit/handoffkit/handlers"
	"github.com/handoffkit/handoffkit/middleware"
	"github.com/handoffkit/handoffkit/session"
	"github.com/handoffkit/handoffkit/session/redisflow"
)

// capacityKeys are the instance's cookie keys: fixed, public, for this
// loopback measurement only.
var capacityKeys = []session.KeyPair{{
	Hash:  []byte("handoff-capacity-hash-key-012345"),
	Block: []byte("handoff-capacity-block-key-01234"),
}}

// userCookie carries the signed-in user's name. The app's own sign-in is
// not what is measured: it is a plain cookie read, where a real app
// verifies its session.
const userCookie = "capacity-user"

// next is the page every flow lands on.
const next = "/done"

// app is one app instance: the kit's two routes on a real http.Server on
// loopback, with the replay guard and the token store on
// Redis, as an instance of a fleet runs them.
type app struct {
	url    string
	srv    *http.Server
	rdb    *redis.Client
	client *bluenexus.Client
	tokens *bluenexus.TokenSource
	hooks  atomic.Int64 // hooks that read the connections
}

// startApp starts the instance, with its own go-redis client (go-redis
// defaults, as an app gets them) and BlueNexus client on the emulator.
func startApp(emu *bluenexustest.Server, addr, prefix string) (_ *app, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	a := &app{url: "http://" + ln.Addr().String()}
	a.rdb = redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	defer func() {
		if err != nil {
			ln.Close()
			a.rdb.Close()
		}
	}()
	id, secret := emu.ClientCredentials()
	if a.client, err = bluenexus.NewClient(bluenexus.WithBaseURL(emu.URL()), bluenexus.WithClientCredentials(id, secret)); err != nil {
		return nil, err
	}
	guard, err := redisflow.NewReplayGuard(a.rdb, redisflow.WithKeyPrefix(prefix+"used:"))
	if err != nil {
		return nil, err
	}
	tokenStore, err := redisflow.NewTokenStore(a.rdb, redisflow.WithKeyPrefix(prefix+"token:"))
	if err != nil {
		return nil, err
	}
	if a.tokens, err = bluenexus.NewTokenSource(a.client, tokenStore); err != nil {
		return nil, err
	}
	flows, err := session.New(capacityKeys, session.WithInsecureCookies(), session.WithReplayGuard(guard))
	if err != nil {
		return nil, err
	}
	kit, err := handlers.New(handlers.Config{
		WhiteLabelURL: emu.WhiteLabelURL(),
		ReturnURL:     a.url + "/connections/return",
		Tokens:        a.tokens,
		User: func(r *http.Request) (string, bool) {
			c, err := r.Cookie(userCookie)
			if err != nil {
				return "", false
			}
			return c.Value, true
		},
	}, handlers.WithClient(a.client), handlers.WithFlows(flows), handlers.WithOnReturn(a.hook),
		handlers.WithErrorHandler(outcomeHeader), handlers.WithLogger(zerolog.Nop()))
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /manage-connections", kit.ManageConnections())
	mux.Handle("/connections/return", kit.Return())
	a.srv = &http.Server{Handler: middleware.ClientIP(middleware.RemoteAddrStrategy())(mux), ReadHeaderTimeout: 5 * time.Second}
	go a.srv.Serve(ln)
	return a, nil
}

// outcomeHeader is the kit's default error handler, plus the failure's
// outcome in a header, for the report's first error.
func outcomeHeader(w http.ResponseWriter, r *http.Request, err error) {
	var he *handlers.Error
	if errors.As(err, &he) {
		w.Header().Set("X-Handoff-Outcome", string(he.Outcome))
	}
	handlers.DefaultErrorHandler(w, r, err)
}

// hookText says what the hook does, for the report.
const hookText = "ev.AccessToken(ctx), then AllConnections on the emulator (2 connections), as a real app's hook does"

// hook is what a real app's on-return hook does: it takes the user's
// access token and reads their connections again.
func (a *app) hook(ctx context.Context, ev handlers.ReturnEvent) error {
	tok, err := ev.AccessToken(ctx)
	if err != nil {
		return err
	}
	for _, err := range a.client.AllConnections(ctx, tok) {
		if err != nil {
			return err
		}
	}
	a.hooks.Add(1)
	return nil
}

func (a *app) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a.srv.Shutdown(ctx)
	a.rdb.Close()
}

// pending is a flow ready to return: the browser has pressed Done on the
// white-label page and holds the redirect back to the app.
type pending struct {
	url     string // the return URL, with its state
	cookies string // the Cookie header the browser sends with it: the user's and the flow's
}

// browsers send the requests of the flows; noRedirect clients see each
// answer.
type browsers struct {
	transport *http.Transport
	timeout   time.Duration
}

func (b *browsers) client(jar http.CookieJar) *http.Client {
	return &http.Client{Jar: jar, Transport: b.transport, Timeout: b.timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// get sends one request and reads its answer.
func get(ctx context.Context, c *http.Client, method, rawURL, cookie string, form url.Values) (*http.Response, string, error) {
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
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	var sb strings.Builder
	_, err = io.Copy(&sb, resp.Body)
	return resp, sb.String(), err
}

// manage sends GET /manage-connections for user, as a new browser, and
// returns the kit's answer: a 302 to the white-label page.
func (b *browsers) manage(ctx context.Context, a *app, user string) (*http.Response, error) {
	resp, _, err := get(ctx, b.client(nil), http.MethodGet, a.url+"/manage-connections?next="+url.QueryEscape(next), userCookie+"="+user, nil)
	switch {
	case err != nil:
		return nil, fmt.Errorf("GET /manage-connections: %w", err)
	case resp.StatusCode != http.StatusFound:
		return nil, fmt.Errorf("GET /manage-connections: status %d", resp.StatusCode)
	}
	return resp, nil
}

var csrfField = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// prepare runs a flow for user up to the browser's GET of the return URL:
// /manage-connections, the white-label page (the code's exchange, then the
// page), Done.
func (b *browsers) prepare(ctx context.Context, a *app, user string) (pending, error) {
	resp, err := b.manage(ctx, a, user)
	if err != nil {
		return pending{}, err
	}
	cookies := []string{userCookie + "=" + user}
	for _, c := range resp.Cookies() {
		cookies = append(cookies, c.Name+"="+c.Value)
	}
	jar, _ := cookiejar.New(nil) // the emulator's white-label session
	c := b.client(jar)
	resp, _, err = get(ctx, c, http.MethodGet, resp.Header.Get("Location"), "", nil)
	if err != nil || resp.StatusCode != http.StatusSeeOther {
		return pending{}, fmt.Errorf("white-label code exchange: %v", statusOr(resp, err))
	}
	page, err := resp.Location()
	if err != nil {
		return pending{}, err
	}
	resp, body, err := get(ctx, c, http.MethodGet, page.String(), "", nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		return pending{}, fmt.Errorf("white-label page: %v", statusOr(resp, err))
	}
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		return pending{}, errors.New("white-label page: no CSRF token")
	}
	resp, _, err = get(ctx, c, http.MethodPost, page.ResolveReference(&url.URL{Path: bluenexustest.PathWhiteLabelDone}).String(), "", url.Values{"csrf_token": {m[1]}})
	if err != nil || resp.StatusCode != http.StatusSeeOther {
		return pending{}, fmt.Errorf("white-label Done: %v", statusOr(resp, err))
	}
	back := resp.Header.Get("Location")
	if !strings.HasPrefix(back, a.url+"/connections/return?") {
		return pending{}, fmt.Errorf("white-label Done sent the browser to %q", back)
	}
	return pending{url: back, cookies: strings.Join(cookies, "; ")}, nil
}

// prepareMany prepares n flows, from workers browsers at a time, for the
// users in turn.
func (b *browsers) prepareMany(ctx context.Context, a *app, users []string, n, workers int) ([]pending, error) {
	out := make([]pending, n)
	err := parallel(ctx, n, workers, func(ctx context.Context, i int) (err error) {
		out[i], err = b.prepare(ctx, a, users[i%len(users)])
		return err
	})
	return out, err
}

// finish sends the browser's GET of the return URL, and checks the kit's
// answer: a 303 to the flow's next page, its hook done.
func (b *browsers) finish(ctx context.Context, c *http.Client, p pending) error {
	resp, _, err := get(ctx, c, http.MethodGet, p.url, p.cookies, nil)
	switch {
	case err != nil:
		return err
	case resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != next:
		return fmt.Errorf("GET /connections/return: status %d, outcome %q", resp.StatusCode, resp.Header.Get("X-Handoff-Outcome"))
	}
	return nil
}

func statusOr(resp *http.Response, err error) any {
	if err != nil {
		return err
	}
	return "status " + resp.Status
}

// parallel runs f for 0..n-1 on workers goroutines, and returns the first
// error; the others then stop.
func parallel(ctx context.Context, n, workers int, f func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := f(ctx, i); err != nil {
					cancel(err)
				}
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}
