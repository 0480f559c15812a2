package handlers_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/rs/zerolog/hlog"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/bluenexus/bluenexustest"
	"github.com/handoffkit/handoffkit/handlers"
	"github.com/handoffkit/handoffkit/internal/bnwire"
	"github.com/handoffkit/handoffkit/session"
)

// canaryToken is alice's BlueNexus access token in the leak test: easy to
// recognise anywhere it should not be.
const canaryToken = bluenexus.AccessToken("tok-CANARY-3f9a6c1e7b2d4058")

// leakCanaries collects every secret value seen during a run, by kind.
type leakCanaries struct {
	codes, states, cookies []string
}

func (c *leakCanaries) all() map[string][]string {
	return map[string][]string{"code": c.codes, "state": c.states, "cookie": c.cookies, "token": {canaryToken.Reveal()}}
}

// fromManage records the code of a 302 to the white-label page and the flow
// cookies the response sets.
func (c *leakCanaries) fromManage(t *testing.T, resp *http.Response) {
	t.Helper()
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || u.Query().Get("code") == "" {
		t.Fatalf("manage: no code in Location %q", resp.Header.Get("Location"))
	}
	c.codes = append(c.codes, u.Query().Get("code"))
	c.fromCookies(resp)
}

func (c *leakCanaries) fromCookies(resp *http.Response) {
	for _, ck := range resp.Cookies() {
		// The flash cookie carries only an outcome name, and a deleted
		// cookie nothing.
		if ck.Value == "" || strings.HasSuffix(ck.Name, "handoffkit-outcome") || ck.Name == "user" {
			continue
		}
		c.cookies = append(c.cookies, ck.Value)
	}
}

func (c *leakCanaries) fromReturn(t *testing.T, back string) {
	t.Helper()
	u, err := url.Parse(back)
	if err != nil || u.Query().Get("state") == "" {
		t.Fatalf("no state in the return URL %q", back)
	}
	c.states = append(c.states, u.Query().Get("state"))
}

// leakForms are the forms a value may take when it leaks: as is, and
// query-escaped.
func leakForms(v string) []string {
	out := []string{v}
	if e := url.QueryEscape(v); e != v {
		out = append(out, e)
	}
	return out
}

// leakRig builds the rig with all three loggers at debug level writing to
// one buffer, each line tagged with the logger it came from: the kit's own
// (handlers.WithLogger, "kit"), the request logger (hlog.NewHandler,
// "request", when requestLogger), and an access log ("access":
// hlog.AccessHandler logging the path, as the middleware package's example
// does, with the request id). hlog.RequestIDHandler is always mounted; with
// a request logger it adds the id to it, as usual. A stub stands in front of
// the emulator, for answers the emulator cannot give.
func leakRig(t *testing.T, requestLogger bool, skew *atomic.Int64, hookFails *atomic.Bool) *rig {
	t.Helper()
	logger := func(w io.Writer, name string) zerolog.Logger {
		return zerolog.New(w).Level(zerolog.DebugLevel).With().Str("logger", name).Logger()
	}
	return newRig(t, rigConfig{
		token:  canaryToken,
		record: true,
		front:  true,
		sessionOpts: []session.Option{session.WithClock(func() time.Time {
			return time.Now().Add(time.Duration(skew.Load()))
		})},
		hook: func(context.Context, handlers.ReturnEvent) error {
			if hookFails.Load() {
				return errors.New("app cache unavailable")
			}
			return nil
		},
		logger: func(w io.Writer) zerolog.Logger { return logger(w, "kit") },
		wrap: func(log io.Writer, next http.Handler) http.Handler {
			access := logger(log, "access")
			h := hlog.AccessHandler(func(r *http.Request, status, size int, d time.Duration) {
				ev := access.Info().Str("method", r.Method).Str("path", r.URL.Path).
					Int("status", status).Float64("latency_ms", float64(d)/float64(time.Millisecond))
				if id, ok := hlog.IDFromRequest(r); ok {
					ev = ev.Str("request_id", id.String())
				}
				ev.Msg("http request")
			})(next)
			if !requestLogger {
				return hlog.RequestIDHandler("", "X-Request-Id")(h)
			}
			h = hlog.RequestIDHandler("request_id", "X-Request-Id")(h)
			return hlog.NewHandler(logger(log, "request"))(h)
		},
	})
}

// TestD2_NoSecretLeaks pins SECURITY.md D2 over the whole flow and every
// failure path: no code, state, token or cookie value reaches the logs (the
// kit's logger, a request logger and the access log, all at debug level),
// any response header other than the intended Location, any response body
// other than the JSON-mode url, or the error handler's error text. It also
// pins what the log lines do carry: the event names with outcome and
// latency, and the request id.
func TestD2_NoSecretLeaks(t *testing.T) {
	for _, requestLogger := range []bool{true, false} {
		name := "configured logger"
		if requestLogger {
			name = "request logger"
		}
		t.Run(name, func(t *testing.T) {
			var skew atomic.Int64
			var hookFails atomic.Bool
			r := leakRig(t, requestLogger, &skew, &hookFails)
			if r.token != canaryToken {
				t.Fatal("the emulator did not take the canary token")
			}
			var c leakCanaries
			ret := r.app.URL + "/connections/return"

			// A flow from start to its return.
			flow := func(query string) (back string) {
				t.Helper()
				resp, body := r.get(r.app.URL + "/manage-connections" + query)
				if resp.StatusCode != http.StatusFound {
					t.Fatalf("manage: status %d: %s", resp.StatusCode, body)
				}
				c.fromManage(t, resp)
				back = r.complete(resp.Header.Get("Location"), "google")
				c.fromReturn(t, back)
				return back
			}
			expect := func(what string, resp *http.Response, want int) {
				t.Helper()
				if resp.StatusCode != want {
					t.Errorf("%s: status %d, want %d", what, resp.StatusCode, want)
				}
				c.fromCookies(resp)
			}

			// Success, browser mode; then the same return replayed, with the
			// flow cookie as it was before the return (a saved copy).
			back := flow("?next=/settings")
			appURL, _ := url.Parse(r.app.URL)
			before := r.browser.Jar.Cookies(appURL)
			resp, _ := r.get(back)
			expect("return", resp, http.StatusSeeOther)
			resp, _ = r.get(back)
			expect("repeated return", resp, http.StatusForbidden)
			r.browser.Jar.SetCookies(appURL, before)
			resp, _ = r.get(back)
			expect("replayed return with an old cookie copy", resp, http.StatusForbidden)

			// Success, JSON mode on both routes.
			resp, body := r.get(r.app.URL+"/manage-connections", "Accept", "application/json")
			expect("manage (JSON)", resp, http.StatusOK)
			var minted struct{ URL string }
			if err := json.Unmarshal([]byte(body), &minted); err != nil {
				t.Fatal(err)
			}
			u, _ := url.Parse(minted.URL)
			c.codes = append(c.codes, u.Query().Get("code"))
			back = r.complete(minted.URL)
			c.fromReturn(t, back)
			req, _ := http.NewRequest(http.MethodPost, ret,
				strings.NewReader(`{"state":"`+c.states[len(c.states)-1]+`"}`))
			req.Header.Set("Content-Type", "application/json")
			resp, _ = r.do(req)
			expect("return (JSON)", resp, http.StatusOK)

			// Failures at /manage-connections.
			resp, _ = r.get(r.app.URL+"/manage-connections", hdrNoToken, "1")
			expect("no token", resp, http.StatusUnauthorized)
			resp, _ = r.get(r.app.URL+"/manage-connections", hdrNoIP, "1")
			expect("no client IP", resp, http.StatusBadRequest)
			resp, _ = r.get(r.app.URL + "/manage-connections?next=//evil.example")
			expect("bad next", resp, http.StatusBadRequest)
			upstream := []struct {
				fault bluenexustest.Fault
				want  int
			}{
				{bluenexustest.Status(500), http.StatusBadGateway},
				{bluenexustest.Fault{Status: 400, Message: bnwire.ClientCriteriaMessage + " for Bearer " + canaryToken.Reveal()}, http.StatusBadGateway},
				{bluenexustest.Fault{Status: 401, Message: "token " + canaryToken.Reveal() + " expired"}, http.StatusUnauthorized},
				{bluenexustest.Fault{Status: 403, Message: "token " + canaryToken.Reveal() + " is not a white-label client's"}, http.StatusBadGateway},
				{bluenexustest.RetryAfter(429, time.Minute), http.StatusServiceUnavailable},
				{bluenexustest.MalformedJSON(), http.StatusBadGateway},
				{bluenexustest.ResetAfterRead(), http.StatusBadGateway},
				{bluenexustest.RedirectTo(r.emu.URL() + "/elsewhere?token=" + canaryToken.Reveal()), http.StatusBadGateway},
			}
			for _, u := range upstream {
				r.emu.Inject(bluenexustest.PathHandoffInit, u.fault)
				resp, _ = r.get(r.app.URL + "/manage-connections")
				expect("upstream "+u.fault.String(), resp, u.want)
			}
			// Answers only a stand-in can give: a code over 2 KB, and two
			// dead codes in a row (bad_response); the codes are canaries.
			long := "CANARY-long-code-" + strings.Repeat("L", 3000)
			c.codes = append(c.codes, long, "CANARY-dead-code-1", "CANARY-dead-code-2")
			r.front.queue(stubJSON(http.StatusOK, `{"code":"`+long+`","expiresIn":30}`))
			resp, _ = r.get(r.app.URL + "/manage-connections")
			expect("a code over 2 KB", resp, http.StatusBadGateway)
			r.front.queue(stubJSON(http.StatusOK, `{"code":"CANARY-dead-code-1","expiresIn":0}`),
				stubJSON(http.StatusOK, `{"code":"CANARY-dead-code-2","expiresIn":0}`))
			resp, _ = r.get(r.app.URL+"/manage-connections", "Accept", "application/json")
			expect("two dead codes", resp, http.StatusBadGateway)
			// The browser leaves while the code is minted (client_gone).
			r.abandonMint("?next=/gone")

			// Failures at /return.
			back = flow("")
			for _, q := range []string{
				"?state=" + strings.Repeat("A", 120),                                          // wrong
				"?state=" + url.QueryEscape("%%not-base64"),                                   // malformed
				"?state=" + c.states[len(c.states)-1] + "&state=" + c.states[len(c.states)-1], // duplicated
				"", // missing
			} {
				resp, _ = r.get(ret + q)
				if resp.StatusCode < 400 || resp.StatusCode >= 500 {
					t.Errorf("return%s: status %d, want 4xx", q, resp.StatusCode)
				}
				c.fromCookies(resp)
			}
			// Another user signed in on this browser with this flow's state:
			// refused, and the state is used up.
			r.signIn("bob")
			resp, _ = r.get(back)
			expect("return for another user", resp, http.StatusForbidden)
			r.signIn("alice")
			resp, _ = r.get(back)
			expect("return after another user's attempt", resp, http.StatusForbidden)

			back = flow("")
			skew.Store(int64(11 * time.Minute))
			resp, _ = r.get(back)
			expect("expired return", resp, http.StatusGone)
			skew.Store(0)

			hookFails.Store(true)
			back = flow("")
			resp, _ = r.get(back)
			expect("hook failure", resp, http.StatusInternalServerError)
			hookFails.Store(false)

			r.emu.ReturnWithError("access_denied", "The user cancelled")
			back = flow("")
			resp, _ = r.get(back)
			expect("BlueNexus error return", resp, http.StatusSeeOther)

			// Every state the kit sent BlueNexus, also those of failed
			// mints (never handed to the browser) and the abandoned one.
			sent := r.front.states()
			if len(sent) < 15 {
				t.Fatalf("only %d states seen by the stub", len(sent))
			}
			c.states = append(c.states, sent...)
			// The state carries the flow: the kit sets no cookie but the
			// outcome flash, which carries only an outcome name.
			if len(c.codes) < 6 || len(c.states) < 6 || len(c.cookies) != 0 {
				t.Fatalf("too few leakCanaries captured (or cookies set): %d codes, %d states, %d cookies", len(c.codes), len(c.states), len(c.cookies))
			}
			assertNoLeakCanaries(t, r, c)
			assertKitLogEvents(t, r, requestLogger)
		})
	}
}

// assertNoLeakCanaries checks the log, every app response and every error the
// error handler received.
func assertNoLeakCanaries(t *testing.T, r *rig, c leakCanaries) {
	t.Helper()
	log := r.log.String()
	if log == "" {
		t.Fatal("nothing was logged")
	}
	for kind, values := range c.all() {
		for _, v := range values {
			for _, form := range leakForms(v) {
				if strings.Contains(log, form) {
					t.Errorf("the log contains a %s", kind)
				}
				for _, err := range r.errs.all() {
					if strings.Contains(err.Error(), form) {
						t.Errorf("the error handler's error %q contains a %s", err.Error(), kind)
					}
				}
				for _, resp := range r.responses.all() {
					where := fmt.Sprintf("%s %s (%d)", resp.method, resp.path, resp.status)
					manage := resp.path == "/manage-connections"
					for name, hv := range resp.header {
						// Intended: the code in the 302 to the white-label
						// page; cookie values in their own Set-Cookie.
						if kind == "code" && manage && resp.status == http.StatusFound && name == "Location" ||
							kind == "cookie" && name == "Set-Cookie" {
							continue
						}
						for _, h := range hv {
							if strings.Contains(h, form) {
								t.Errorf("%s: header %s contains a %s", where, name, kind)
							}
						}
					}
					// Intended: the code in the JSON-mode url.
					if kind == "code" && manage && resp.status == http.StatusOK {
						continue
					}
					if strings.Contains(resp.body, form) {
						t.Errorf("%s: the body contains a %s", where, kind)
					}
				}
			}
		}
	}
}

// assertKitLogEvents checks that the kit's events are logged, through the
// request logger when there is one, with outcome, latency and the request
// id (once), and that failures carry the upstream details.
func assertKitLogEvents(t *testing.T, r *rig, requestLogger bool) {
	t.Helper()
	wantLogger := "kit"
	if requestLogger {
		wantLogger = "request"
	}
	outcomes := map[string][]string{}
	for _, ev := range rigLogEvents(t, r.log.String(), "") {
		name, _ := ev["event"].(string)
		if name == "" {
			if ev["message"] == "http request" {
				if ev["logger"] != "access" && ev["logger"] != "request" {
					t.Errorf("access log line from logger %v", ev["logger"])
				}
				if _, ok := ev["request_id"]; !ok {
					t.Errorf("access log line without request_id: %v", ev)
				}
			}
			continue
		}
		if ev["logger"] != wantLogger {
			t.Errorf("%s logged by %v, want the %s logger", name, ev["logger"], wantLogger)
		}
		for _, f := range []string{"outcome", "latency_ms", "route", "path", "request_id"} {
			if _, ok := ev[f]; !ok {
				t.Errorf("%s event without %s: %v", name, f, ev)
			}
		}
		if _, ok := ev["status"]; name == "handoff.failed" && !ok {
			t.Errorf("%s event without status: %v", name, ev)
		}
		outcomes[name] = append(outcomes[name], fmt.Sprint(ev["outcome"]))
		switch ev["outcome"] {
		case "upstream_error", "token_expired", "forbidden", "client_criteria", "bad_response", "unavailable":
			if _, ok := ev["upstream_error"]; !ok {
				t.Errorf("upstream failure without upstream_error: %v", ev)
			}
		case "client_gone":
			if _, ok := ev["upstream_error"]; ok {
				t.Errorf("a browser that left is counted as an upstream error: %v", ev)
			}
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(r.log.String()), "\n") {
		if strings.Contains(line, `"event":"handoff.`) && strings.Count(line, `"request_id":`) != 1 {
			t.Errorf("kit log line with the request id %d times: %s", strings.Count(line, `"request_id":`), line)
		}
	}
	want := map[string][]string{
		"handoff.minted":   {"minted"},
		"handoff.returned": {"success", "bluenexus_error"},
		"handoff.failed": {"replayed", "unauthenticated", "no_client_ip", "bad_request", "malformed", "upstream_error",
			"token_expired", "forbidden", "client_criteria", "unavailable", "bad_response", "client_gone",
			"unknown_state", "wrong_user", "expired", "hook_failed"},
	}
	for name, outs := range want {
		for _, o := range outs {
			if !slices.Contains(outcomes[name], o) {
				t.Errorf("no %s event with outcome %s (got %v)", name, o, outcomes[name])
			}
		}
	}
	// The upstream failures carry BlueNexus's status when it answered.
	var statuses []int
	for _, ev := range r.logged("handoff.failed") {
		if s, ok := ev["upstream_status"].(float64); ok {
			statuses = append(statuses, int(s))
		}
	}
	for _, s := range []int{500, 400, 401, 403, 429} {
		if !slices.Contains(statuses, s) {
			t.Errorf("no handoff.failed event with upstream_status %d (got %v)", s, statuses)
		}
	}
}
