package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/bluenexus/bluenexustest"
	"github.com/handoffkit/handoffkit/handlers"
	"github.com/handoffkit/handoffkit/internal/testkit"
	"github.com/handoffkit/handoffkit/middleware"
	"github.com/handoffkit/handoffkit/session"
)

// The kit on a token source (Config.Tokens), against the emulator's token
// rules: access tokens that expire on the emulator's clock, single-use
// rotating refresh tokens, and replays counted. The source runs on the same
// fake clock.

func newTokenHarness(t *testing.T, logs *testkit.SyncBuffer, emuOpts ...bluenexustest.Option) (*harness, *testkit.Clock) {
	t.Helper()
	clock := testkit.NewClock(time.Now())
	opts := []handlers.Option{}
	if logs != nil {
		opts = append(opts, handlers.WithLogger(zerolog.New(logs).Level(zerolog.DebugLevel)))
	}
	h := newHarness(t, harnessConfig{mount: "chi", tokens: true, clock: clock.Now, emuOpts: emuOpts, kitOpts: opts})
	return h, clock
}

// manageHandler is /manage-connections as the app mounts it, for direct
// calls from many goroutines.
func (h *harness) manageHandler(kit *handlers.Kit) http.Handler {
	return middleware.ClientIP(middleware.RemoteAddrStrategy())(h.auth(kit.ManageConnections()))
}

func manageRequest() *http.Request {
	r := httptest.NewRequest(http.MethodGet, "https://app.example/manage-connections", nil)
	r.AddCookie(&http.Cookie{Name: "user", Value: "alice"})
	return r
}

// storedPair is alice's pair as the store holds it.
func (h *harness) storedPair() bluenexus.Token {
	h.t.Helper()
	tok, ok, err := h.tokenStore.Load(context.Background(), "alice")
	if err != nil || !ok {
		h.t.Fatalf("alice's pair: %v %v", ok, err)
	}
	return tok
}

// noTokensIn fails the test when any of the pairs' tokens appears in s.
func noTokensIn(t *testing.T, where, s string, pairs ...bluenexus.Token) {
	t.Helper()
	for _, p := range pairs {
		for _, secret := range []string{p.AccessToken.Reveal(), p.RefreshToken.Reveal()} {
			if secret != "" && strings.Contains(s, secret) {
				t.Errorf("a token appears in %s", where)
			}
		}
	}
}

// TestTokenExpiresDuringFlow: the user signed in more than 15 minutes ago
// and spends 20 minutes on the white-label page. /manage-connections
// refreshes first, the hook gets a token refreshed again, reads the
// connections, and the user is back home with the connection listed.
func TestTokenExpiresDuringFlow(t *testing.T) {
	var logs testkit.SyncBuffer
	h, clock := newTokenHarness(t, &logs)
	first := h.storedPair()
	var seen []string
	h.hookReads(func(conns []bluenexus.Connection) {
		for _, c := range conns {
			seen = append(seen, c.ProviderID)
		}
	})

	clock.Advance(16 * time.Minute) // signed in 16 minutes ago: expired
	wl := h.startFlow("?next=/home")
	if n := h.emu.Hits(bluenexustest.PathToken); n != 1 {
		t.Fatalf("token endpoint calls at manage: %d, want 1", n)
	}
	_, csrf := h.whiteLabel(wl)
	base := h.emu.WhiteLabelURL()
	if resp, body := h.postForm(base+"/connect", urlValues("provider", "google", "csrf_token", csrf)); resp.StatusCode >= 400 {
		t.Fatalf("connect: %d %s", resp.StatusCode, body)
	}
	clock.Advance(20 * time.Minute) // on the white-label page
	resp, body := h.postForm(base+"/done", urlValues("csrf_token", csrf))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("done: %d %s", resp.StatusCode, body)
	}
	back, _ := h.get(resp.Header.Get("Location"))
	if back.StatusCode != http.StatusSeeOther || back.Header.Get("Location") != "/home" {
		t.Fatalf("return: %d to %q, want 303 to /home", back.StatusCode, back.Header.Get("Location"))
	}
	if !slices.Contains(seen, "google") {
		t.Errorf("the hook read %v, want google among them", seen)
	}
	if n := h.emu.Hits(bluenexustest.PathToken); n != 2 {
		t.Errorf("token endpoint calls: %d, want 2 (at manage, for the hook)", n)
	}
	if n := h.emu.RefreshReplays(); n != 0 {
		t.Errorf("refresh tokens replayed: %d", n)
	}
	if n := strings.Count(logs.String(), `"event":"token.refreshed"`); n != 2 {
		t.Errorf("%d token.refreshed log events, want 2", n)
	}
	noTokensIn(t, "the logs", logs.String(), first, h.storedPair())
}

// hookReads makes the harness's hook read all connections with the event's
// token and hand them to f.
func (h *harness) hookReads(f func([]bluenexus.Connection)) {
	h.readHook = func(ctx context.Context, ev handlers.ReturnEvent) error {
		tok, err := ev.AccessToken(ctx)
		if err != nil {
			return err
		}
		var conns []bluenexus.Connection
		for c, err := range h.client.AllConnections(ctx, tok) {
			if err != nil {
				return err
			}
			conns = append(conns, c)
		}
		f(conns)
		return nil
	}
}

// TestTokenOneRefreshPerRotation: 100 requests for the same user at the
// moment the token expires share one refresh: exactly one call to the token
// endpoint, every mint succeeds on the new token, no replay.
func TestTokenOneRefreshPerRotation(t *testing.T) {
	h, clock := newTokenHarness(t, nil)
	clock.Advance(15 * time.Minute)
	testkit.ServeAtOnce(t, 100, http.StatusFound, manageRequest, h.manageHandler(h.kit))
	if n := h.emu.Hits(bluenexustest.PathToken); n != 1 {
		t.Errorf("token endpoint calls: %d, want 1", n)
	}
	if n := h.emu.RefreshReplays(); n != 0 {
		t.Errorf("refresh tokens replayed: %d", n)
	}
}

// TestTokenFreshMakesNoRefresh: 1,000 mints with a fresh token make no
// call to the token endpoint.
func TestTokenFreshMakesNoRefresh(t *testing.T) {
	h, _ := newTokenHarness(t, nil)
	manage := h.manageHandler(h.kit)
	for i := range 1000 {
		rec := httptest.NewRecorder()
		manage.ServeHTTP(rec, manageRequest())
		if rec.Code != http.StatusFound {
			t.Fatalf("request %d: %d", i, rec.Code)
		}
	}
	if n := h.emu.Hits(bluenexustest.PathToken); n != 0 {
		t.Errorf("token endpoint calls: %d, want 0", n)
	}
}

// TestTokenRejectedAtInitRenewsOnce: BlueNexus answers 401 to a token that
// is not expired by the clock: the kit renews once and mints again, in the
// same request.
func TestTokenRejectedAtInitRenewsOnce(t *testing.T) {
	h, _ := newTokenHarness(t, nil)
	h.emu.Inject(bluenexustest.PathHandoffInit, bluenexustest.Status(http.StatusUnauthorized))
	resp, body := h.get(h.app.URL + "/manage-connections")
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("manage: %d %s, want 302", resp.StatusCode, body)
	}
	if init, tok := h.emu.Hits(bluenexustest.PathHandoffInit), h.emu.Hits(bluenexustest.PathToken); init != 2 || tok != 1 {
		t.Errorf("handoff inits %d, token calls %d; want 2 and 1", init, tok)
	}
	// A 401 to the renewed token too: no loop, token_expired.
	h.emu.Inject(bluenexustest.PathHandoffInit, bluenexustest.Status(http.StatusUnauthorized), bluenexustest.Status(http.StatusUnauthorized))
	resp, _ = h.get(h.app.URL+"/manage-connections", "Accept", "application/json")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("manage with two 401s: %d, want 401", resp.StatusCode)
	}
	if tok := h.emu.Hits(bluenexustest.PathToken); tok != 2 {
		t.Errorf("token calls %d, want 2 (one renew per request)", tok)
	}
}

// TestTokenReauthRequired: an expired refresh token, a revoked session and
// a replayed refresh token each end in 401 reauth_required, "Please sign in
// again", with no further call to the token endpoint.
func TestTokenReauthRequired(t *testing.T) {
	for _, tc := range []struct {
		name    string
		emuOpts []bluenexustest.Option
		setup   func(h *harness, clock *testkit.Clock)
		calls   int // token endpoint calls the first refusal takes
	}{
		{"expired refresh token", []bluenexustest.Option{bluenexustest.WithRefreshTTL(time.Hour)},
			func(h *harness, clock *testkit.Clock) { clock.Advance(2 * time.Hour) }, 0},
		{"revoked session", nil, func(h *harness, clock *testkit.Clock) {
			h.emu.RevokeSessions("alice")
			clock.Advance(16 * time.Minute)
		}, 1},
		{"replayed refresh token", nil, func(h *harness, clock *testkit.Clock) {
			// Another party spent the stored refresh token first.
			if _, err := h.client.Refresh(context.Background(), h.storedPair().RefreshToken); err != nil {
				h.t.Fatal(err)
			}
			clock.Advance(16 * time.Minute)
		}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs testkit.SyncBuffer
			h, clock := newTokenHarness(t, &logs, tc.emuOpts...)
			pair := h.storedPair()
			tc.setup(h, clock)
			for i := range 2 {
				resp, body := h.get(h.app.URL+"/manage-connections", "Accept", "application/json")
				if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `"reauth_required"`) || !strings.Contains(body, "Please sign in again") {
					t.Fatalf("manage %d: %d %s, want 401 reauth_required", i, resp.StatusCode, body)
				}
			}
			if n := h.emu.Hits(bluenexustest.PathToken); n != tc.calls {
				t.Errorf("token endpoint calls: %d, want %d", n, tc.calls)
			}
			if n := h.emu.Hits(bluenexustest.PathHandoffInit); n != 0 {
				t.Errorf("handoff inits: %d, want 0", n)
			}
			noTokensIn(t, "the logs", logs.String(), pair)
			if tc.name == "replayed refresh token" {
				// Refused as already used: a warning with its likely causes.
				line := logLine(logs.String(), `"event":"token.refused"`)
				if !strings.Contains(line, `"level":"warn"`) || !strings.Contains(line, "another process presented an old refresh token") ||
					!strings.Contains(line, "saved the same pair twice") {
					t.Errorf("token.refused log line: %q", line)
				}
			}
		})
	}
}

// logLine returns the first line of logs holding s.
func logLine(logs, s string) string {
	for line := range strings.Lines(logs) {
		if strings.Contains(line, s) {
			return line
		}
	}
	return ""
}

// TestTwoKitsOneTokenSource: two kits sharing one token source each hear
// the token events of their own requests.
func TestTwoKitsOneTokenSource(t *testing.T) {
	obsA, obsB := &rigObserver{}, &rigObserver{}
	h := newHarness(t, harnessConfig{mount: "chi", tokens: true, kitOpts: []handlers.Option{handlers.WithObserver(obsA)}})
	kitB, err := handlers.New(handlers.Config{
		WhiteLabelURL: h.emu.WhiteLabelURL(),
		ReturnURL:     h.app.URL + "/connections/return",
		Tokens:        h.tokens,
		User:          func(*http.Request) (string, bool) { return "alice", true },
		CookieKeys:    []session.KeyPair{testKeys},
	}, handlers.WithClient(h.client), handlers.WithObserver(obsB), handlers.WithLogger(zerolog.Nop()))
	if err != nil {
		t.Fatal(err)
	}
	for _, kit := range []*handlers.Kit{h.kit, kitB} {
		rec := httptest.NewRecorder()
		h.manageHandler(kit).ServeHTTP(rec, manageRequest())
		if rec.Code != http.StatusFound {
			t.Fatalf("manage: %d %s", rec.Code, rec.Body)
		}
	}
	for name, o := range map[string]*rigObserver{"first": obsA, "second": obsB} {
		o.mu.Lock()
		got := slices.Clone(o.tokens)
		o.mu.Unlock()
		if !slices.Equal(got, []string{"cached"}) {
			t.Errorf("the %s kit's token events: %v, want [cached]", name, got)
		}
	}
}

// TestTokenEndpointFaults: a token endpoint that fails answers a bounded
// 5xx to the browser and leaves the stored pair as it was.
func TestTokenEndpointFaults(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fault  bluenexustest.Fault
		status int
	}{
		{"429", bluenexustest.RetryAfter(http.StatusTooManyRequests, 5*time.Second), http.StatusServiceUnavailable},
		{"500", bluenexustest.Status(http.StatusInternalServerError), http.StatusBadGateway},
		{"timeout", bluenexustest.Latency(30 * time.Second), http.StatusGatewayTimeout},
		{"reset after sending", bluenexustest.ResetAfterRead(), http.StatusBadGateway},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs testkit.SyncBuffer
			h, clock := newTokenHarness(t, &logs)
			before := h.storedPair()
			clock.Advance(16 * time.Minute)
			h.emu.Inject(bluenexustest.PathToken, tc.fault)
			start := time.Now()
			resp, body := h.get(h.app.URL+"/manage-connections", "Accept", "application/json")
			if resp.StatusCode != tc.status {
				t.Fatalf("manage: %d %s, want %d", resp.StatusCode, body, tc.status)
			}
			if d := time.Since(start); d > 15*time.Second {
				t.Errorf("took %v: not bounded by the budget", d)
			}
			if after := h.storedPair(); after.RefreshToken != before.RefreshToken || after.AccessToken != before.AccessToken {
				t.Error("the stored pair changed")
			}
			if n := h.emu.Hits(bluenexustest.PathHandoffInit); n != 0 {
				t.Errorf("handoff inits: %d, want 0", n)
			}
			noTokensIn(t, "the logs", logs.String(), before)
			noTokensIn(t, "the body", body, before)
		})
	}
}

func urlValues(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

// TestTokenBadRequestMakesNoRefresh: a request the kit refuses locally
// costs no upstream call, not even a refresh of an expired token.
func TestTokenBadRequestMakesNoRefresh(t *testing.T) {
	h, clock := newTokenHarness(t, nil)
	clock.Advance(16 * time.Minute)
	for _, q := range []string{"?next=//evil.example", "?redirect=evilapp://x", "?next=/a;b", "?next=/a&next=/b"} {
		if resp, _ := h.get(h.app.URL + "/manage-connections" + q); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", q, resp.StatusCode)
		}
	}
	if tok, init := h.emu.Hits(bluenexustest.PathToken), h.emu.Hits(bluenexustest.PathHandoffInit); tok != 0 || init != 0 {
		t.Errorf("token calls %d, handoff inits %d; want 0 and 0", tok, init)
	}
}

// TestTokenEndpointRefusesTheApp: wrong client credentials are the app's
// configuration error (502 forbidden, logged at error), not "sign in again".
func TestTokenEndpointRefusesTheApp(t *testing.T) {
	var logs testkit.SyncBuffer
	clock := testkit.NewClock(time.Now())
	h := newHarness(t, harnessConfig{mount: "chi", tokens: true, clock: clock.Now, wrongCreds: true,
		kitOpts: []handlers.Option{handlers.WithLogger(zerolog.New(&logs))}})
	clock.Advance(16 * time.Minute)
	resp, body := h.get(h.app.URL+"/manage-connections", "Accept", "application/json")
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, `"forbidden"`) {
		t.Fatalf("manage: %d %s, want 502 forbidden", resp.StatusCode, body)
	}
	ev := rigLogEvents(t, logs.String(), "handoff.failed")
	if len(ev) != 1 || ev[0]["level"] != "error" || ev[0]["upstream_status"] != float64(401) ||
		!strings.Contains(fmt.Sprint(ev[0]["hint"]), "check BLUENEXUS_CLIENT_ID/secret") {
		t.Errorf("no error-level log with a hint and upstream_status 401:\n%s", logs.String())
	}
}

// TestE8_TokenEndpointAnswers pins SECURITY.md E6 and E8 at the routes:
// what each token endpoint answer becomes for the browser and in the log.
// Only invalid_grant and a 2xx the kit cannot use are "sign in again"; a
// refusal of the app's client is a 502 logged at Error with a hint; any
// other 4xx is an upstream error; every error answer logs upstream_status.
func TestE8_TokenEndpointAnswers(t *testing.T) {
	const form = "application/x-www-form-urlencoded"
	tests := []struct {
		name    string
		status  int
		ctype   string
		body    string
		outcome string
		code    int    // the route's status
		level   string // of handoff.failed
		hint    string // part of the hint, "" for none
		kept    bool   // the stored pair is untouched
		dead    bool   // the stored pair is dead: no refresh token
	}{
		{name: "400 invalid_grant", status: 400, body: `{"error":"invalid_grant"}`, outcome: "reauth_required", code: 401, level: "info", dead: true},
		{name: "400 invalid_grant form", status: 400, ctype: form, body: `error=invalid_grant&error_description=reused`, outcome: "reauth_required", code: 401, level: "info", dead: true},
		{name: "200 without access_token", status: 200, body: `{"refresh_token":"r2","expires_in":900}`, outcome: "reauth_required", code: 401, level: "error", hint: "refresh token is spent", dead: true},
		{name: "200 HTML", status: 200, ctype: "text/html", body: `<html>ok</html>`, outcome: "reauth_required", code: 401, level: "error", hint: "refresh token is spent", dead: true},
		{name: "400 invalid_client", status: 400, body: `{"error":"invalid_client"}`, outcome: "forbidden", code: 502, level: "error", hint: "check BLUENEXUS_CLIENT_ID/secret", kept: true},
		{name: "401 unauthorized_client form", status: 401, ctype: form, body: `error=unauthorized_client`, outcome: "forbidden", code: 502, level: "error", hint: "check BLUENEXUS_CLIENT_ID/secret", kept: true},
		{name: "400 unsupported_grant_type", status: 400, body: `{"error":"unsupported_grant_type"}`, outcome: "forbidden", code: 502, level: "error", hint: "check BLUENEXUS_CLIENT_ID/secret", kept: true},
		{name: "400 invalid_request", status: 400, body: `{"error":"invalid_request"}`, outcome: "upstream_error", code: 502, level: "warn", kept: true},
		{name: "400 invalid_scope", status: 400, body: `{"error":"invalid_scope"}`, outcome: "upstream_error", code: 502, level: "warn", kept: true},
		{name: "401 HTML from a gateway", status: 401, ctype: "text/html", body: `<html>401</html>`, outcome: "upstream_error", code: 502, level: "warn", kept: true},
		{name: "403 empty", status: 403, outcome: "upstream_error", code: 502, level: "warn", kept: true},
		{name: "429", status: 429, body: `{"error":"TooManyRequestsError","statusCode":429}`, outcome: "unavailable", code: 503, level: "warn", kept: true},
		{name: "503", status: 503, outcome: "unavailable", code: 503, level: "warn", kept: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs testkit.SyncBuffer
			clock := testkit.NewClock(time.Now())
			h := newHarness(t, harnessConfig{mount: "chi", tokens: true, clock: clock.Now,
				kitOpts: []handlers.Option{handlers.WithLogger(zerolog.New(&logs))},
				tokenEndpoint: func(w http.ResponseWriter, r *http.Request) {
					ct := tc.ctype
					if ct == "" {
						ct = "application/json"
					}
					w.Header().Set("Content-Type", ct)
					w.WriteHeader(tc.status)
					w.Write([]byte(tc.body))
				}})
			before := h.storedPair()
			clock.Advance(16 * time.Minute)
			resp, body := h.get(h.app.URL+"/manage-connections", "Accept", "application/json")
			if resp.StatusCode != tc.code || !strings.Contains(body, `"`+tc.outcome+`"`) {
				t.Fatalf("manage: %d %s, want %d %s", resp.StatusCode, body, tc.code, tc.outcome)
			}
			ev := rigLogEvents(t, logs.String(), "handoff.failed")
			if len(ev) != 1 {
				t.Fatalf("%d handoff.failed events:\n%s", len(ev), logs.String())
			}
			hint, _ := ev[0]["hint"].(string)
			if ev[0]["level"] != tc.level || ev[0]["outcome"] != tc.outcome || tc.hint != "" && !strings.Contains(hint, tc.hint) || tc.hint == "" && hint != "" {
				t.Errorf("log %v, want level %s, outcome %s, hint %q", ev[0], tc.level, tc.outcome, tc.hint)
			}
			if tc.status >= 400 && ev[0]["upstream_status"] != float64(tc.status) {
				t.Errorf("upstream_status %v, want %d", ev[0]["upstream_status"], tc.status)
			}
			after := h.storedPair()
			if tc.kept && after != before {
				t.Error("the stored pair changed")
			}
			if tc.dead && after.RefreshToken != "" {
				t.Error("the stored pair is not dead: its refresh token could be presented again")
			}
			noTokensIn(t, "the logs", logs.String(), before)
			noTokensIn(t, "the body", body, before)
		})
	}
}
