package bluenexustest_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/rs/zerolog"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/bluenexus/bluenexustest"
	"github.com/handoffkit/handoffkit/handlers"
	"github.com/handoffkit/handoffkit/middleware"
	"github.com/handoffkit/handoffkit/session"
)

// testApp is an app built with the kit, on chi, served over TLS, against an
// emulator; alice is signed in to it (Config.Tokens on her emulator pair).
// Its hook reads alice's connections with the event's token and records the
// providers it saw, one entry per run.
type testApp struct {
	emu     *bluenexustest.Server
	srv     *httptest.Server
	browser *http.Client
	client  *bluenexus.Client

	mu    sync.Mutex
	saw   [][]string // the providers the hook read, per run
	nexts []string   // the event's Next, per run
}

type appConfig struct {
	emuOpts    []bluenexustest.Option
	clientOpts []bluenexus.Option
	kitOpts    []handlers.Option
	// strategy is the app's client-IP strategy; default the TCP peer.
	strategy middleware.Strategy
}

func newApp(t *testing.T, ac appConfig) *testApp {
	t.Helper()
	a := &testApp{emu: newServer(t, ac.emuOpts...)}
	client, err := bluenexus.NewClient(append([]bluenexus.Option{
		bluenexus.WithBaseURL(a.emu.URL()),
		bluenexus.WithClientCredentials(a.emu.ClientCredentials()),
	}, ac.clientOpts...)...)
	if err != nil {
		t.Fatal(err)
	}
	a.client = client
	store := bluenexus.NewMemoryTokenStore()
	if err := store.Save(t.Context(), "alice", a.emu.SignIn("alice")); err != nil {
		t.Fatalf("seeding alice's pair: %v", err)
	}
	tokens, err := bluenexus.NewTokenSource(client, store)
	if err != nil {
		t.Fatal(err)
	}

	// The answer to the late-bound handler: the server listens on the
	// router first, the kit is built from its URL, the routes come last.
	r := chi.NewRouter()
	strategy := ac.strategy
	if strategy == nil {
		strategy = middleware.RemoteAddrStrategy()
	}
	r.Use(middleware.ClientIP(strategy))
	a.srv = httptest.NewTLSServer(r)
	t.Cleanup(a.srv.Close)

	kit, err := handlers.New(handlers.Config{
		WhiteLabelURL: a.emu.WhiteLabelURL(),
		ReturnURL:     a.srv.URL + "/return",
		CookieKeys:    []session.KeyPair{testKeys},
		Tokens:        tokens,
		User:          func(*http.Request) (string, bool) { return "alice", true },
	}, append([]handlers.Option{
		handlers.WithClient(client),
		handlers.WithLogger(zerolog.Nop()),
		handlers.WithOnReturn(a.hook),
	}, ac.kitOpts...)...)
	if err != nil {
		t.Fatal(err)
	}
	r.Get("/manage-connections", kit.ManageConnections().ServeHTTP)
	r.Handle("/return", kit.Return())

	a.browser = bluenexustest.NewBrowser(a.srv)
	t.Cleanup(a.browser.CloseIdleConnections)
	return a
}

var testKeys = session.KeyPair{
	Hash:  []byte("0123456789abcdef0123456789abcdef"),
	Block: []byte("fedcba9876543210fedcba9876543210"),
}

func (a *testApp) hook(ctx context.Context, ev handlers.ReturnEvent) error {
	tok, err := ev.AccessToken(ctx)
	if err != nil {
		return err
	}
	var seen []string
	for c, err := range a.client.AllConnections(ctx, tok) {
		if err != nil {
			return err
		}
		seen = append(seen, c.ProviderID)
	}
	slices.Sort(seen)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.saw = append(a.saw, seen)
	a.nexts = append(a.nexts, ev.Next)
	return nil
}

// runs returns what the hook saw, one entry per run.
func (a *testApp) runs() ([][]string, []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.saw), slices.Clone(a.nexts)
}

// manage calls the app's /manage-connections with browser b (the app's
// browser when nil); header pairs follow.
func (a *testApp) manage(t *testing.T, b *http.Client, query string, header ...string) *http.Response {
	t.Helper()
	if b == nil {
		b = a.browser
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, a.srv.URL+"/manage-connections"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// wantReturn checks that the app answered the return with a 303 to next.
func wantReturn(t *testing.T, ret *bluenexustest.Return, err error, next string) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if ret.Response == nil {
		t.Fatalf("no answer from the app for %s", ret.URL.Redacted())
	}
	if ret.Response.StatusCode != http.StatusSeeOther || ret.Response.Header.Get("Location") != next {
		body, _ := io.ReadAll(ret.Response.Body)
		t.Fatalf("return: %d to %q, want 303 to %q; body %s", ret.Response.StatusCode, ret.Response.Header.Get("Location"), next, body)
	}
}

// TestUserWebFlow: the user connects google and removes notion, then
// chooses Done; the user lands on the app's /return, which answers 303 to
// next, and the hook read the connections as the user left them.
func TestUserWebFlow(t *testing.T) {
	a := newApp(t, appConfig{})
	a.emu.Connect("alice", "notion")
	start := a.manage(t, nil, "?next=/settings")
	if start.StatusCode != http.StatusFound {
		t.Fatalf("manage: %d, want 302", start.StatusCode)
	}

	ret, err := bluenexustest.NewUser(a.emu, a.browser).Done(t.Context(), start,
		bluenexustest.Connect("google"), bluenexustest.Remove("notion"))
	wantReturn(t, ret, err, "/settings")
	if ret.URL.Path != "/return" || ret.URL.Query().Get("state") == "" || ret.URL.Query().Has("error") {
		t.Errorf("the page sent the user to %s, want /return with a state and no error", ret.URL.Redacted())
	}
	saw, nexts := a.runs()
	if len(saw) != 1 || !slices.Equal(saw[0], []string{"google"}) || nexts[0] != "/settings" {
		t.Errorf("hook runs %v with next %v, want one run seeing [google] with /settings", saw, nexts)
	}
}

// TestUserMobileFlow: a mobile app asks for JSON with a deep link as the
// redirect; the page sends the user to the deep link, which the user hands
// back; the app POSTs its state to /return as JSON.
func TestUserMobileFlow(t *testing.T) {
	const deepLink = "yourapp://connections"
	a := newApp(t, appConfig{kitOpts: []handlers.Option{handlers.WithReturnURIs(deepLink)}})
	start := a.manage(t, nil, "?redirect="+url.QueryEscape(deepLink), "Accept", "application/json")
	if start.StatusCode != http.StatusOK {
		t.Fatalf("manage: %d, want 200 JSON", start.StatusCode)
	}

	ret, err := bluenexustest.NewUser(a.emu, a.browser).Done(t.Context(), start, bluenexustest.Connect("github"))
	if err != nil {
		t.Fatal(err)
	}
	if ret.Response != nil {
		t.Fatalf("the user followed the deep link %s: %d", ret.URL.Redacted(), ret.Response.StatusCode)
	}
	state := ret.URL.Query().Get("state")
	if ret.URL.Scheme != "yourapp" || ret.URL.Host != "connections" || state == "" {
		t.Fatalf("deep link %s, want yourapp://connections with a state", ret.URL.Redacted())
	}
	if saw, _ := a.runs(); len(saw) != 0 {
		t.Fatalf("the hook ran before the app posted the state: %v", saw)
	}

	body, _ := json.Marshal(map[string]string{"state": state})
	resp, err := a.browser.Post(a.srv.URL+"/return", "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct{ Outcome, Next string }
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != http.StatusOK || got.Outcome != "success" || got.Next != "/" {
		t.Fatalf("POST /return: %d %+v %v, want 200 success to /", resp.StatusCode, got, err)
	}
	if saw, _ := a.runs(); len(saw) != 1 || !slices.Equal(saw[0], []string{"github"}) {
		t.Errorf("hook runs %v, want one seeing [github]", saw)
	}
}

// TestUserCancel: the user connects slack and closes the page. Nothing
// reaches the app, but the connection is made at BlueNexus; the next flow's
// hook sees it.
func TestUserCancel(t *testing.T) {
	a := newApp(t, appConfig{})
	u := bluenexustest.NewUser(a.emu, a.browser)
	if err := u.Cancel(t.Context(), a.manage(t, nil, ""), bluenexustest.Connect("slack")); err != nil {
		t.Fatal(err)
	}
	if saw, _ := a.runs(); len(saw) != 0 {
		t.Fatalf("the hook ran for a cancelled flow: %v", saw)
	}
	if conns := a.emu.Connections("alice"); len(conns) != 1 || conns[0].ProviderID != "slack" {
		t.Fatalf("alice's connections after the cancel: %v, want slack", conns)
	}

	ret, err := u.Done(t.Context(), a.manage(t, nil, ""))
	wantReturn(t, ret, err, "/")
	if saw, _ := a.runs(); len(saw) != 1 || !slices.Equal(saw[0], []string{"slack"}) {
		t.Errorf("hook runs %v, want one seeing [slack]", saw)
	}
}

// TestUserReturnError: BlueNexus sends the user back with error and
// error_description; the app lands them on next without running the hook.
func TestUserReturnError(t *testing.T) {
	a := newApp(t, appConfig{})
	ret, err := bluenexustest.NewUser(a.emu, a.browser).ReturnError(t.Context(), a.manage(t, nil, "?next=/home"),
		"access_denied", "The user cancelled", bluenexustest.Connect("google"))
	wantReturn(t, ret, err, "/home")
	if q := ret.URL.Query(); q.Get("error") != "access_denied" || q.Get("error_description") != "The user cancelled" || q.Get("state") == "" {
		t.Errorf("return query %v, want the state with error and error_description", q)
	}
	if saw, _ := a.runs(); len(saw) != 0 {
		t.Errorf("the hook ran on a BlueNexus error: %v", saw)
	}
	// The error was armed for that Done only.
	ret, err = bluenexustest.NewUser(a.emu, a.browser).Done(t.Context(), a.manage(t, nil, ""))
	wantReturn(t, ret, err, "/")
	if ret.URL.Query().Has("error") {
		t.Errorf("the next Done carried the error too: %s", ret.URL.Redacted())
	}
}

// TestUserTwoTabs: two flows started in one browser finish in either
// order, each landing on its own next page.
func TestUserTwoTabs(t *testing.T) {
	for _, tc := range []struct {
		name  string
		order []int
	}{
		{"oldest first", []int{0, 1}},
		{"newest first", []int{1, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newApp(t, appConfig{})
			nexts := []string{"/tab-a", "/tab-b"}
			starts := []*http.Response{a.manage(t, nil, "?next="+nexts[0]), a.manage(t, nil, "?next="+nexts[1])}
			u := bluenexustest.NewUser(a.emu, a.browser)
			for _, i := range tc.order {
				ret, err := u.Done(t.Context(), starts[i])
				wantReturn(t, ret, err, nexts[i])
			}
			if _, got := a.runs(); len(got) != 2 || got[0] != nexts[tc.order[0]] || got[1] != nexts[tc.order[1]] {
				t.Errorf("hook runs for %v, want %v in that order", got, tc.order)
			}
		})
	}
}

// TestUserErrors: what the user cannot do fails with an error that says
// why, a *PageError when the page refused.
func TestUserErrors(t *testing.T) {
	redirectTo := func(loc string) *http.Response {
		return &http.Response{StatusCode: http.StatusFound, Header: http.Header{"Location": {loc}}, Body: http.NoBody}
	}
	tests := []struct {
		name string
		// run returns the user's error; a is fresh for it.
		run        func(t *testing.T, a *testApp, u *bluenexustest.User) error
		wantStatus int    // a *PageError with this status, or 0
		wantStep   string // its Step
		wantText   string // in the error's text
	}{
		{
			name: "code expired",
			run: func(t *testing.T, a *testApp, u *bluenexustest.User) error {
				start := a.manage(t, nil, "")
				a.emu.AdvanceClock(31 * time.Second) // the user dawdled
				_, err := u.Done(t.Context(), start)
				return err
			},
			wantStatus: http.StatusGone, wantStep: "open", wantText: "This link has expired",
		},
		{
			name: "code used twice",
			run: func(t *testing.T, a *testApp, u *bluenexustest.User) error {
				loc := a.manage(t, nil, "").Header.Get("Location")
				if err := u.Cancel(t.Context(), redirectTo(loc)); err != nil {
					t.Fatal(err)
				}
				_, err := u.Done(t.Context(), redirectTo(loc))
				return err
			},
			wantStatus: http.StatusGone, wantStep: "open", wantText: "already used",
		},
		{
			name: "unknown provider",
			run: func(t *testing.T, a *testApp, u *bluenexustest.User) error {
				_, err := u.Done(t.Context(), a.manage(t, nil, ""), bluenexustest.Connect("myspace"))
				return err
			},
			wantStatus: http.StatusBadRequest, wantStep: "connect myspace", wantText: "Unknown service",
		},
		{
			name: "remove what is not connected",
			run: func(t *testing.T, a *testApp, u *bluenexustest.User) error {
				_, err := u.Done(t.Context(), a.manage(t, nil, ""), bluenexustest.Remove("notion"))
				return err
			},
			wantText: `Remove("notion"): the page lists no notion connection`,
		},
		{
			name: "the app refused the manage request",
			run: func(t *testing.T, a *testApp, u *bluenexustest.User) error {
				_, err := u.Done(t.Context(), a.manage(t, nil, "?next=https://evil.example/"))
				return err
			},
			wantText: "the app answered /manage-connections with 400 Bad Request",
		},
		{
			name: "the app sent the user elsewhere",
			run: func(t *testing.T, a *testApp, u *bluenexustest.User) error {
				_, err := u.Done(t.Context(), redirectTo("https://bluenexus.example/white-label?code=x"))
				return err
			},
			wantText: "not to the emulator's white-label page",
		},
		{
			name: "JSON without a url",
			run: func(t *testing.T, a *testApp, u *bluenexustest.User) error {
				resp := &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
					Body: io.NopCloser(strings.NewReader(`{"expiresAt":"2025-01-01T00:00:00Z"}`))}
				_, err := u.Done(t.Context(), resp)
				return err
			},
			wantText: `JSON answer has no "url"`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newApp(t, appConfig{})
			err := tc.run(t, a, bluenexustest.NewUser(a.emu, a.browser))
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.wantText) || !strings.HasPrefix(err.Error(), "bluenexustest: ") {
				t.Errorf("error %q, want it to contain %q", err, tc.wantText)
			}
			var pe *bluenexustest.PageError
			switch {
			case tc.wantStatus == 0 && errors.As(err, &pe):
				t.Errorf("a *PageError for a failure of the test's own: %v", err)
			case tc.wantStatus != 0 && (!errors.As(err, &pe) || pe.Status != tc.wantStatus || pe.Step != tc.wantStep):
				t.Errorf("error %#v, want a *PageError at %q with status %d", err, tc.wantStep, tc.wantStatus)
			}
			if saw, _ := a.runs(); len(saw) != 0 {
				t.Errorf("the hook ran: %v", saw)
			}
		})
	}
}

// TestUserIPFingerprint presents client IPs through a proxy the app trusts
// (FromIP): the kit forwards the IP it derived, and the page compares it
// with the browser's.
func TestUserIPFingerprint(t *testing.T) {
	const home, cell = "203.0.113.7", "198.51.100.20"
	proxy, err := middleware.NewXFFTrustedRangesStrategy("127.0.0.0/8", "::1")
	if err != nil {
		t.Fatal(err)
	}
	pageReadsXFF := []bluenexustest.Option{bluenexustest.WithPageIPHeader("X-Forwarded-For")}
	tests := []struct {
		name         string
		emuOpts      []bluenexustest.Option
		manageIP     string // the client IP the app's proxy saw (a loopback client behind it has none)
		pageIP       string // "" for none: the page reads the loopback peer
		wantRefusal  bool
		wantAccepted bool
	}{
		{name: "one network throughout", emuOpts: pageReadsXFF, manageIP: home, pageIP: home, wantAccepted: true},
		{name: "network changed on the way", emuOpts: pageReadsXFF, manageIP: home, pageIP: cell, wantRefusal: true},
		{name: "page on loopback, app saw another IP", manageIP: home, wantRefusal: true},
		{name: "page reads the header but none comes: the loopback peer", emuOpts: pageReadsXFF, manageIP: home, wantRefusal: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newApp(t, appConfig{emuOpts: tc.emuOpts, strategy: proxy})
			at := func(ip string) *http.Client {
				if ip == "" {
					return a.browser
				}
				return bluenexustest.FromIP(a.browser, netip.MustParseAddr(ip))
			}
			start := a.manage(t, at(tc.manageIP), "")
			if start.StatusCode != http.StatusFound {
				t.Fatalf("manage: %d", start.StatusCode)
			}
			ret, err := bluenexustest.NewUser(a.emu, at(tc.pageIP)).Done(t.Context(), start, bluenexustest.Connect("google"))
			var pe *bluenexustest.PageError
			switch {
			case tc.wantRefusal:
				if !errors.As(err, &pe) || pe.Status != http.StatusForbidden || !strings.Contains(pe.Title, "another network") {
					t.Fatalf("Done: %v, want the page's 403 for another network", err)
				}
			case tc.wantAccepted:
				wantReturn(t, ret, err, "/")
			}
		})
	}
}

// TestNewUserPanics: a user needs an emulator and a client with a jar.
func TestNewUserPanics(t *testing.T) {
	emu := newServer(t)
	for name, f := range map[string]func(){
		"nil emulator": func() { bluenexustest.NewUser(nil, bluenexustest.NewBrowser()) },
		"nil client":   func() { bluenexustest.NewUser(emu, nil) },
		"no jar":       func() { bluenexustest.NewUser(emu, &http.Client{}) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if r := recover(); r == nil || !strings.HasPrefix(r.(string), "bluenexustest: NewUser: ") {
					t.Errorf("recovered %v, want a bluenexustest: NewUser panic", r)
				}
			}()
			f()
		})
	}
}
