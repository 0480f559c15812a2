package handlers_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/handoffkit/handoffkit/bluenexus/bluenexustest"
	"github.com/handoffkit/handoffkit/handlers"
	"github.com/handoffkit/handoffkit/internal/replay"
	"github.com/handoffkit/handoffkit/session"
)

// Tests of the sealed state (SECURITY.md B1, B5): the ordinary accidents of
// a browser (a double click, two tabs, a return racing a new flow, a user
// switch), an app without cookies, and a second instance after a key
// rotation. Each runs with the state in the redirectUri and, where a
// browser is involved, with a fixed redirectUri (a cookie per flow).

// stateModes are the two ways a flow travels.
var stateModes = []struct {
	name string
	opts []handlers.Option
}{
	{"state in the redirectUri", nil},
	{"fixed redirectUri", []handlers.Option{handlers.WithFixedRedirectURI()}},
}

// atOnce sends reqs at the same moment, each with the browser's cookies as
// they are now, and returns the responses in request order without keeping
// their Set-Cookies (see keep).
func (h *harness) atOnce(reqs ...*http.Request) []*http.Response {
	h.t.Helper()
	u, _ := url.Parse(h.app.URL)
	cookies := h.browser.Jar.Cookies(u)
	client := &http.Client{Transport: h.browser.Transport, CheckRedirect: h.browser.CheckRedirect}
	out := make([]*http.Response, len(reqs))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, req := range reqs {
		for _, c := range cookies {
			req.AddCookie(c)
		}
		wg.Go(func() {
			<-start
			resp, err := client.Do(req)
			if err != nil {
				h.t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			out[i] = resp
		})
	}
	close(start)
	wg.Wait()
	for i, resp := range out {
		if resp == nil {
			h.t.Fatalf("request %d failed", i)
		}
	}
	return out
}

// keep applies resp's Set-Cookies to the browser's jar, as a browser does
// when the response arrives.
func (h *harness) keep(resps ...*http.Response) {
	u, _ := url.Parse(h.app.URL)
	for _, resp := range resps {
		h.browser.Jar.SetCookies(u, resp.Cookies())
	}
}

func (h *harness) request(path string) *http.Request {
	req, err := http.NewRequest(http.MethodGet, h.app.URL+path, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	return req
}

func (h *harness) get303(t *testing.T, back string) string {
	t.Helper()
	resp, body := h.get(back)
	if resp.StatusCode != http.StatusSeeOther || flashOf(resp) != "success" {
		t.Fatalf("return: %d %s flash %q, want 303 success", resp.StatusCode, body, flashOf(resp))
	}
	return resp.Header.Get("Location")
}

// orders are the two orders in which two responses can reach the browser.
var orders = []struct {
	name  string
	first int
}{{"first response kept first", 0}, {"second response kept first", 1}}

// TestB5_DoubleClick: two /manage-connections at once with the same cookies
// (a double click), their Set-Cookies kept in either order; the browser
// follows the second: its flow succeeds.
func TestB5_DoubleClick(t *testing.T) {
	for _, mode := range stateModes {
		for _, order := range orders {
			t.Run(mode.name+"/"+order.name, func(t *testing.T) {
				h := newHarness(t, harnessConfig{mount: "chi", kitOpts: mode.opts})
				resps := h.atOnce(h.request("/manage-connections?next=/dc"), h.request("/manage-connections?next=/dc"))
				for i, resp := range resps {
					if resp.StatusCode != http.StatusFound {
						t.Fatalf("manage %d: %d, want 302", i, resp.StatusCode)
					}
				}
				h.keep(resps[order.first], resps[1-order.first])
				back := h.complete(resps[1].Header.Get("Location"))
				if next := h.get303(t, back); next != "/dc" {
					t.Fatalf("landed on %q, want /dc", next)
				}
				if n := h.hooks.Load(); n != 1 {
					t.Fatalf("hook ran %d times, want 1", n)
				}
			})
		}
	}
}

// TestB5_TwoTabsAtOnce: two tabs start flows at the same moment; both
// complete, in either order, each hook once. With the state in the URL each
// lands on its own next page; with a fixed redirectUri each return takes
// the newest pending flow (the documented limit), and they may swap. Then
// two returns at once: both succeed too.
func TestB5_TwoTabsAtOnce(t *testing.T) {
	for _, mode := range stateModes {
		for _, order := range orders {
			t.Run(mode.name+"/"+order.name, func(t *testing.T) {
				h := newHarness(t, harnessConfig{mount: "chi", kitOpts: mode.opts})
				resps := h.atOnce(h.request("/manage-connections?next=/one"), h.request("/manage-connections?next=/two"))
				h.keep(resps[order.first], resps[1-order.first])
				backs := []string{h.complete(resps[0].Header.Get("Location")), h.complete(resps[1].Header.Get("Location"))}
				wants := []string{"/one", "/two"}
				landed := map[string]bool{}
				for _, i := range []int{order.first, 1 - order.first} {
					next := h.get303(t, backs[i])
					if mode.opts == nil && next != wants[i] {
						t.Fatalf("tab %d landed on %q, want %s", i, next, wants[i])
					}
					landed[next] = true
				}
				if len(landed) != 2 || h.hooks.Load() != 2 {
					t.Fatalf("landed on %v, hook ran %d times: want both pages, 2 runs", landed, h.hooks.Load())
				}
			})
		}
		t.Run(mode.name+"/returns at once", func(t *testing.T) {
			h := newHarness(t, harnessConfig{mount: "chi", kitOpts: mode.opts})
			resps := h.atOnce(h.request("/manage-connections?next=/one"), h.request("/manage-connections?next=/two"))
			h.keep(resps...)
			back0, back1 := h.complete(resps[0].Header.Get("Location")), h.complete(resps[1].Header.Get("Location"))
			rets := h.atOnce(h.request(strings.TrimPrefix(back0, h.app.URL)), h.request(strings.TrimPrefix(back1, h.app.URL)))
			for i, resp := range rets {
				if resp.StatusCode != http.StatusSeeOther || flashOf(resp) != "success" {
					t.Fatalf("return %d at once: %d flash %q, want 303 success", i, resp.StatusCode, flashOf(resp))
				}
			}
			if n := h.hooks.Load(); n != 2 {
				t.Fatalf("hook ran %d times, want 2", n)
			}
		})
	}
}

// TestB5_ReturnRacesNewFlow: a return and a new /manage-connections at the
// same moment, their Set-Cookies kept in either order: both flows end well.
func TestB5_ReturnRacesNewFlow(t *testing.T) {
	for _, mode := range stateModes {
		for _, order := range orders {
			t.Run(mode.name+"/"+order.name, func(t *testing.T) {
				h := newHarness(t, harnessConfig{mount: "chi", kitOpts: mode.opts})
				back1 := h.complete(h.startFlow("?next=/one"))
				resps := h.atOnce(h.request(strings.TrimPrefix(back1, h.app.URL)), h.request("/manage-connections?next=/two"))
				if resps[0].StatusCode != http.StatusSeeOther || flashOf(resps[0]) != "success" || resps[1].StatusCode != http.StatusFound {
					t.Fatalf("return %d (flash %q), manage %d: want 303 success and 302", resps[0].StatusCode, flashOf(resps[0]), resps[1].StatusCode)
				}
				h.keep(resps[order.first], resps[1-order.first])
				back2 := h.complete(resps[1].Header.Get("Location"))
				if next := h.get303(t, back2); next != "/two" {
					t.Fatalf("second flow landed on %q, want /two", next)
				}
				if n := h.hooks.Load(); n != 2 {
					t.Fatalf("hook ran %d times, want 2", n)
				}
			})
		}
	}
}

// TestB1_UserSwitch: Alice starts a flow, signs out, and Bob signs in on the
// same browser before her return arrives: the return is refused (403
// wrong_user) and the hook never runs, for Bob or anyone.
func TestB1_UserSwitch(t *testing.T) {
	for _, mode := range stateModes {
		t.Run(mode.name, func(t *testing.T) {
			h := newHarness(t, harnessConfig{mount: "chi", kitOpts: mode.opts})
			back := h.complete(h.startFlow(""))
			h.signIn("bob")
			resp, body := h.get(back, "Accept", "application/json")
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, `"error":"wrong_user"`) {
				t.Fatalf("Alice's return with Bob signed in: %d %s, want 403 wrong_user", resp.StatusCode, body)
			}
			if n := h.hooks.Load(); n != 0 {
				t.Fatalf("hook ran %d times, want 0", n)
			}
		})
	}
}

// TestMobileBearerNoCookies: an app that authenticates with a bearer token
// and keeps no cookies at all: JSON /manage-connections, the deep link, a
// JSON POST return. It succeeds, the hook runs once for the user, and the
// kit sets no cookie on the way.
func TestMobileBearerNoCookies(t *testing.T) {
	const deepLink = "yourapp://connections"
	h := newHarness(t, harnessConfig{mount: "chi", kitOpts: []handlers.Option{handlers.WithReturnURIs(deepLink)}})
	app := &http.Client{Transport: h.browser.Transport} // no cookie jar
	call := func(req *http.Request) (*http.Response, string) {
		t.Helper()
		req.Header.Set("Authorization", "Bearer app-alice")
		req.Header.Set("Accept", "application/json")
		resp, err := app.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if sc := resp.Header["Set-Cookie"]; len(sc) != 0 {
			t.Errorf("%s %s set cookies %q, want none", req.Method, req.URL.Path, sc)
		}
		return resp, string(b)
	}
	resp, body := call(h.request("/manage-connections?next=/m&redirect=" + url.QueryEscape(deepLink)))
	var minted struct{ URL string }
	if err := json.Unmarshal([]byte(body), &minted); resp.StatusCode != http.StatusOK || err != nil {
		t.Fatalf("manage: %d %s", resp.StatusCode, body)
	}
	back := h.complete(minted.URL) // the white-label page, in the system browser
	req, _ := http.NewRequest(http.MethodPost, h.app.URL+"/connections/return", strings.NewReader(`{"state":`+strconv.Quote(stateOf(t, back))+`}`))
	req.Header.Set("Content-Type", "application/json")
	resp, body = call(req)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"outcome":"success"`) || !strings.Contains(body, `"next":"/m"`) {
		t.Fatalf("POST return: %d %s", resp.StatusCode, body)
	}
	if n := h.hooks.Load(); n != 1 {
		t.Fatalf("hook ran %d times, want 1", n)
	}
	if ev := <-h.events; ev.User != "alice" || ev.ReturnURI != deepLink {
		t.Errorf("event User %q ReturnURI %q, want alice and the deep link", ev.User, ev.ReturnURI)
	}
}

// TestKeyRotationAcrossInstances: a flow started on one instance, still
// sealing with the old keys, returns on another that already seals with
// new ones ([new, old], step 2 of the rotation in package session): it
// succeeds once, and the shared guard refuses it on the first instance
// afterwards.
func TestKeyRotationAcrossInstances(t *testing.T) {
	guard := replay.New(time.Now, replay.DefaultMaxEntries)
	h := newHarness(t, harnessConfig{mount: "chi", sessionOpts: []session.Option{session.WithReplayGuard(guard)}})
	newKeys := session.KeyPair{Hash: []byte("a new hash key of 32 bytes......"), Block: []byte("a new block key of 32 bytes.....")}
	rotated, err := session.New([]session.KeyPair{newKeys, testKeys}, session.WithReplayGuard(guard))
	if err != nil {
		t.Fatal(err)
	}
	second := h.instance(rotated)
	back := h.complete(h.startFlow("?next=/rotated"))
	if !strings.HasPrefix(back, h.app.URL+"/connections/return?state=") {
		t.Fatalf("return URL %q", back)
	}
	if next := h.get303(t, second+strings.TrimPrefix(back, h.app.URL)); next != "/rotated" {
		t.Fatalf("landed on %q, want /rotated", next)
	}
	if resp, _ := h.get(back); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("the same state on the first instance: %d, want 403", resp.StatusCode)
	}
	if ev := <-h.events; ev.User != "alice" {
		t.Errorf("event User %q, want alice", ev.User)
	}
}

// TestStateLength: a 512-byte next gives a 792-character state, and a
// redirectUri far inside the 2048 characters BlueNexus takes; a next that
// would make the state longer than 1024 characters is refused with a 400
// before any upstream call.
func TestStateLength(t *testing.T) {
	h := newHarness(t, harnessConfig{mount: "chi"})
	next := "/" + strings.Repeat("n", 511)
	back := h.complete(h.startFlow("?next=" + next))
	if st := stateOf(t, back); len(st) != 792 || len(back) > 1024 {
		t.Fatalf("state of %d characters in a redirectUri of %d, want 792 and at most 1024", len(st), len(back))
	}
	if got := h.get303(t, back); got != next {
		t.Fatalf("landed on %.40q, want the 512-byte next", got)
	}
	calls := h.emu.Hits(bluenexustest.PathHandoffInit)
	resp, body := h.get(h.app.URL+"/manage-connections?next=/"+strings.Repeat("n", 700), "Accept", "application/json")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `"bad_request"`) {
		t.Fatalf("a next too long for the state: %d %s, want 400 bad_request", resp.StatusCode, body)
	}
	if h.emu.Hits(bluenexustest.PathHandoffInit) != calls {
		t.Error("a next too long for the state reached BlueNexus")
	}
}
