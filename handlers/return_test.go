package handlers_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/handoffkit/handoffkit/bluenexus/bluenexustest"
	"github.com/handoffkit/handoffkit/handlers"
	"github.com/handoffkit/handoffkit/internal/testkit"
	"github.com/handoffkit/handoffkit/session"
)

func stateOf(t *testing.T, returnURL string) string {
	t.Helper()
	u, err := url.Parse(returnURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("state")
}

func flashOf(resp *http.Response) string {
	for _, c := range resp.Cookies() {
		if strings.HasSuffix(c.Name, "handoffkit-outcome") {
			return c.Value
		}
	}
	return ""
}

// TestReturnExpired pins SECURITY.md's "11 minutes with a 10-minute TTL"
// row: 410, no hook, and the flow stays refused.
func TestReturnExpired(t *testing.T) {
	clock := testkit.NewClock(time.Now())
	h := newHarness(t, harnessConfig{mount: "chi", sessionOpts: []session.Option{session.WithClock(clock.Now)}})
	back := h.complete(h.startFlow(""))
	clock.Advance(11 * time.Minute)
	resp, _ := h.get(back)
	if resp.StatusCode != http.StatusGone {
		t.Fatalf("status %d, want 410", resp.StatusCode)
	}
	if resp, _ := h.get(back); resp.StatusCode != http.StatusGone {
		t.Fatalf("expired flow tried again: status %d, want 410", resp.StatusCode)
	}
	if n := h.hooks.Load(); n != 0 {
		t.Fatalf("hook ran %d times", n)
	}
}

// TestReturnReplayed: the same return URL twice is refused the second time
// by the replay guard (SECURITY.md B4): the sealed state alone stays valid
// until it expires.
func TestReturnReplayed(t *testing.T) {
	t.Run("memory guard", func(t *testing.T) {
		h := newHarness(t, harnessConfig{mount: "chi"})
		back := h.complete(h.startFlow(""))
		if resp, _ := h.get(back); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("first return: %d", resp.StatusCode)
		}
		resp, body := h.get(back, "Accept", "application/json")
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, `"replayed"`) {
			t.Fatalf("replayed state: %d %s, want 403 replayed", resp.StatusCode, body)
		}
		if n := h.hooks.Load(); n != 1 {
			t.Fatalf("hook ran %d times, want 1", n)
		}
	})
	t.Run("no guard is refused", func(t *testing.T) {
		if _, err := session.New([]session.KeyPair{testKeys}, session.WithReplayGuard(nil)); err == nil || !strings.Contains(err.Error(), "WithReplayGuard") {
			t.Fatalf("session.New with WithReplayGuard(nil): %v, want an error naming it", err)
		}
	})
	t.Run("a guard that accepts everything", func(t *testing.T) {
		// What the guard is for: the sealed state cannot refuse itself.
		h := newHarness(t, harnessConfig{mount: "chi", sessionOpts: []session.Option{session.WithReplayGuard(acceptAll{})}})
		back := h.complete(h.startFlow(""))
		h.get(back)
		if resp, _ := h.get(back); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("without a working guard the state is expected to finish again (documented); status %d", resp.StatusCode)
		}
	})
}

// acceptAll is a replay guard that never refuses.
type acceptAll struct{}

func (acceptAll) Consume(context.Context, string, time.Time) error { return nil }

// TestB1_AttackerState: an attacker's own valid state, delivered to the
// victim's browser (login CSRF), is refused: it was sealed for the
// attacker, not for the user signed in.
func TestB1_AttackerState(t *testing.T) {
	h := newHarness(t, harnessConfig{mount: "chi"})
	var attackerBack string
	bob := h.newBrowser()
	h.as(bob, func() {
		h.signIn("bob")
		attackerBack = h.complete(h.startFlow(""))
	})
	h.startFlow("") // the victim has a pending flow of their own
	resp, body := h.get(attackerBack, "Accept", "application/json")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, `"wrong_user"`) {
		t.Fatalf("attacker's state in the victim's browser: %d %s, want 403 wrong_user", resp.StatusCode, body)
	}
	if n := h.hooks.Load(); n != 0 {
		t.Fatalf("hook ran %d times", n)
	}
}

// TestReturnTwoTabs: two flows in one browser complete in either order.
func TestReturnTwoTabs(t *testing.T) {
	for _, order := range []string{"first-started first", "second-started first"} {
		t.Run(order, func(t *testing.T) {
			h := newHarness(t, harnessConfig{mount: "chi"})
			back1 := h.complete(h.startFlow("?next=/one"))
			back2 := h.complete(h.startFlow("?next=/two"))
			first, second, firstNext, secondNext := back1, back2, "/one", "/two"
			if order == "second-started first" {
				first, second, firstNext, secondNext = back2, back1, "/two", "/one"
			}
			for _, step := range []struct{ back, next string }{{first, firstNext}, {second, secondNext}} {
				resp, _ := h.get(step.back)
				if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != step.next {
					t.Fatalf("return: %d to %q, want 303 to %s", resp.StatusCode, resp.Header.Get("Location"), step.next)
				}
			}
			if n := h.hooks.Load(); n != 2 {
				t.Fatalf("hook ran %d times, want 2", n)
			}
		})
	}
}

// TestReturnBadState: a state altered in one character, or sealed with keys the
// app does not have, is unknown (SECURITY.md B2): 403, never a 500, no
// hook. With a fixed redirectUri, an altered flow cookie is "no flow"
// (SECURITY.md C5).
func TestReturnBadState(t *testing.T) {
	other, err := session.New([]session.KeyPair{{Hash: []byte("another hash key, 32 bytes long!"), Block: []byte("another block key, 32 bytes lon!")}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		mangle func(h *harness, back string) string
	}{
		{"altered", func(h *harness, back string) string {
			st := []byte(stateOf(h.t.(*testing.T), back))
			// Another base64url character: the seal, not the shape, fails.
			if i := len(st) / 2; st[i] == 'A' {
				st[i] = 'B'
			} else {
				st[i] = 'A'
			}
			return h.app.URL + "/connections/return?state=" + string(st)
		}},
		{"other keys", func(h *harness, back string) string {
			return h.instance(other) + "/connections/return?state=" + stateOf(h.t.(*testing.T), back)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, harnessConfig{mount: "chi"})
			back := h.complete(h.startFlow(""))
			resp, body := h.get(tc.mangle(h, back), "Accept", "application/json")
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, `"unknown_state"`) {
				t.Fatalf("status %d body %s, want 403 unknown_state", resp.StatusCode, body)
			}
			if n := h.hooks.Load(); n != 0 {
				t.Fatalf("hook ran %d times", n)
			}
		})
	}
	t.Run("fixed redirectUri, altered cookie", func(t *testing.T) {
		h := newHarness(t, harnessConfig{mount: "chi", kitOpts: []handlers.Option{handlers.WithFixedRedirectURI()}})
		back := h.complete(h.startFlow(""))
		c := h.flowCookie()
		v := []byte(c.Value)
		v[len(v)/2] ^= 1
		h.browser.Jar, _ = newJarWithUser(h.app.URL)
		h.setCookie(&http.Cookie{Name: c.Name, Value: string(v)})
		resp, body := h.get(back, "Accept", "application/json")
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, `"no_flow"`) {
			t.Fatalf("status %d body %s, want 403 no_flow", resp.StatusCode, body)
		}
	})
}

// TestReturnBlueNexusError: BlueNexus sends the user back with error
// parameters: the flow is consumed, the hook does not run, the user lands on
// next with the bluenexus_error flash.
func TestReturnBlueNexusError(t *testing.T) {
	h := newHarness(t, harnessConfig{mount: "servemux"})
	h.emu.ReturnWithError("access_denied", "The user cancelled")
	back := h.complete(h.startFlow("?next=/after"))
	if !strings.Contains(back, "error=access_denied") {
		t.Fatalf("emulator did not add the error: %s", back)
	}
	resp, _ := h.get(back)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/after" || flashOf(resp) != "bluenexus_error" {
		t.Fatalf("got %d to %q flash %q", resp.StatusCode, resp.Header.Get("Location"), flashOf(resp))
	}
	if n := h.hooks.Load(); n != 0 {
		t.Fatalf("hook ran %d times", n)
	}
	if resp, _ := h.get(back); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("the flow was not consumed: %d", resp.StatusCode)
	}
}

// TestReturnHookFailure: a failing or slow hook goes to the error handler
// (500) by default, or lands the user on next with the hook_failed flash
// under WithHookErrorsLogged. Either way the flow is consumed.
func TestReturnHookFailure(t *testing.T) {
	slow := func(ctx context.Context, _ handlers.ReturnEvent) error {
		<-ctx.Done() // bounded by WithHookTimeout
		return ctx.Err()
	}
	failing := func(context.Context, handlers.ReturnEvent) error { return errors.New("refresh failed") }
	for _, tc := range []struct {
		name       string
		hook       func(context.Context, handlers.ReturnEvent) error
		logged     bool
		wantStatus int
	}{
		{"error", failing, false, http.StatusInternalServerError},
		{"timeout", slow, false, http.StatusInternalServerError},
		{"error logged", failing, true, http.StatusSeeOther},
		{"timeout logged", slow, true, http.StatusSeeOther},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := []handlers.Option{handlers.WithHookTimeout(50 * time.Millisecond)}
			if tc.logged {
				opts = append(opts, handlers.WithHookErrorsLogged())
			}
			h := newHarness(t, harnessConfig{mount: "chi", kitOpts: opts, hook: tc.hook, hookFails: true})
			back := h.complete(h.startFlow(""))
			start := time.Now()
			resp, _ := h.get(back)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.wantStatus)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("return took %v despite the hook time limit", d)
			}
			if tc.logged && flashOf(resp) != "hook_failed" {
				t.Fatalf("flash %q, want hook_failed", flashOf(resp))
			}
			if resp, _ := h.get(back); resp.StatusCode != http.StatusForbidden {
				t.Fatalf("flow not consumed after a hook failure: %d", resp.StatusCode)
			}
			if n := h.hooks.Load(); n != 1 {
				t.Fatalf("hook ran %d times, want 1", n)
			}
		})
	}
}

// TestFixedRedirectURI: the redirectUri stays byte for byte the configured
// one, and the return is bound by the flow's cookie alone.
func TestFixedRedirectURI(t *testing.T) {
	h := newHarness(t, harnessConfig{mount: "chi", kitOpts: []handlers.Option{handlers.WithFixedRedirectURI()}})
	back := h.complete(h.startFlow("?next=/fixed"))
	if back != h.app.URL+"/connections/return" {
		t.Fatalf("redirectUri = %q, want the configured URL exactly", back)
	}
	resp, _ := h.get(back)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/fixed" {
		t.Fatalf("return: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := h.get(back); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("second return with no pending flow: %d, want 403", resp.StatusCode)
	}
}

// TestMobileFlow: a mobile app asks for JSON with an allowlisted deep link,
// BlueNexus sends the user to the deep link, and the app hands the state
// back with a JSON POST.
func TestMobileFlow(t *testing.T) {
	const deepLink = "yourapp://connections"
	h := newHarness(t, harnessConfig{mount: "chi", kitOpts: []handlers.Option{handlers.WithReturnURIs(deepLink)}})
	resp, body := h.get(h.app.URL+"/manage-connections?redirect="+url.QueryEscape(deepLink)+"&next=/m", "Accept", "application/json")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("manage: %d %s", resp.StatusCode, body)
	}
	var minted struct{ URL string }
	json.Unmarshal([]byte(body), &minted)
	back := h.complete(minted.URL)
	if !strings.HasPrefix(back, deepLink+"?state=") {
		t.Fatalf("BlueNexus sent the user to %q, want the deep link with the state", back)
	}
	post := func(body string) (*http.Response, string) {
		req, _ := http.NewRequest(http.MethodPost, h.app.URL+"/connections/return", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		return h.do(req)
	}
	resp, body = post(`{"state":` + strconv.Quote(stateOf(t, back)) + `}`)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"outcome":"success"`) || !strings.Contains(body, `"next":"/m"`) {
		t.Fatalf("POST return: %d %s", resp.StatusCode, body)
	}
	assertNoStore(t, resp)
	ev := <-h.events
	if ev.ReturnURI != deepLink {
		t.Errorf("event ReturnURI = %q", ev.ReturnURI)
	}
	for _, bad := range []string{
		`{"state":` + strconv.Quote(stateOf(t, back)) + `}`, // replay
		`{"state":"x"}`, `{"state":1}`, `{"state":"a","extra":1}`, `{"state":"a"} {}`, `not json`,
		`{"state":"` + strings.Repeat("A", 8000) + `"}`,
	} {
		if resp, body := post(bad); resp.StatusCode < 400 || resp.StatusCode >= 500 {
			t.Errorf("POST %.40q: %d %s, want 4xx", bad, resp.StatusCode, body)
		}
	}
}

// TestOpenRedirectCorpusAsNext: every payload of testdata/open-redirects.txt
// is refused as `next` and as a `redirect` choice (the kit allowlists only
// yourapp://connections here) before any upstream call (SECURITY.md B6).
func TestOpenRedirectCorpusAsNext(t *testing.T) {
	f, err := os.Open("../testdata/open-redirects.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := newHarness(t, harnessConfig{mount: "chi", kitOpts: []handlers.Option{handlers.WithReturnURIs("yourapp://connections")}})
	n := 0
	for sc := bufio.NewScanner(f); sc.Scan(); {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] != '"' {
			continue
		}
		payload, err := strconv.Unquote(line)
		if err != nil {
			t.Fatalf("corpus line %q: %v", line, err)
		}
		n++
		for _, param := range []string{"next", "redirect"} {
			resp, _ := h.get(h.app.URL + "/manage-connections?" + param + "=" + url.QueryEscape(payload))
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("%s=%q: status %d, want 400", param, payload, resp.StatusCode)
			}
		}
	}
	if n < 60 {
		t.Fatalf("corpus has %d payloads", n)
	}
	if hits := h.emu.Hits(bluenexustest.PathHandoffInit); hits != 0 {
		t.Fatalf("upstream hits = %d, want 0", hits)
	}
}

// TestReturnTwoTabsOnTheWhiteLabelPage: two tabs of one browser are on the
// white-label page at once; each Done returns to its own flow, in either
// order, and both succeed.
func TestReturnTwoTabsOnTheWhiteLabelPage(t *testing.T) {
	h := newHarness(t, harnessConfig{mount: "chi"})
	_, csrf1 := h.whiteLabel(h.startFlow("?next=/one"))
	_, csrf2 := h.whiteLabel(h.startFlow("?next=/two"))
	done := func(csrf string) string {
		resp, body := h.postForm(h.emu.WhiteLabelURL()+"/done", url.Values{"csrf_token": {csrf}})
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("done: %d %s", resp.StatusCode, body)
		}
		return resp.Header.Get("Location")
	}
	back2 := done(csrf2)
	back1 := done(csrf1)
	if back1 == back2 {
		t.Fatal("both tabs returned with the same state")
	}
	for _, step := range []struct{ back, next string }{{back1, "/one"}, {back2, "/two"}} {
		resp, _ := h.get(step.back)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != step.next {
			t.Fatalf("return: %d to %q, want 303 to %s", resp.StatusCode, resp.Header.Get("Location"), step.next)
		}
	}
	if n := h.hooks.Load(); n != 2 {
		t.Fatalf("hook ran %d times, want 2", n)
	}
}

// TestMobileFlowBlueNexusError: a mobile app hands back BlueNexus's error
// with the state: the flow is consumed, the hook does not run, and the JSON
// answer names the outcome and BlueNexus's error code.
func TestMobileFlowBlueNexusError(t *testing.T) {
	h := newHarness(t, harnessConfig{mount: "chi"})
	back := h.complete(h.startFlow(""))
	body := `{"state":` + strconv.Quote(stateOf(t, back)) + `,"error":"access_denied","error_description":"cancelled"}`
	req, _ := http.NewRequest(http.MethodPost, h.app.URL+"/connections/return", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, got := h.do(req)
	if resp.StatusCode != http.StatusOK || !strings.Contains(got, `"outcome":"bluenexus_error"`) || !strings.Contains(got, `"error":"access_denied","error_description":"cancelled"`) {
		t.Fatalf("POST return: %d %s", resp.StatusCode, got)
	}
	if n := h.hooks.Load(); n != 0 {
		t.Fatalf("hook ran %d times", n)
	}
	if resp, _ := h.get(back); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("flow not consumed: %d", resp.StatusCode)
	}
}
