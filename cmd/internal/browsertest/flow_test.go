package browsertest

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/handoffkit/handoffkit/bluenexus/bluenexustest"
)

// TestBrowser runs every scenario in one Chromium, once with the app on
// plain http (development cookies) and once on TLS (Secure cookies). Each
// scenario has its own app, emulator and browser context.
func TestBrowser(t *testing.T) {
	browser := startBrowser(t)
	dir, err := shotDir()
	if err != nil {
		t.Fatalf("screenshot folder: %v", err)
	}
	t.Logf("screenshots in %s", dir)
	fmt.Println("browsertest: screenshots in", dir)
	for _, secure := range []bool{false, true} {
		run := "http"
		if secure {
			run = "https"
		}
		t.Run(run, func(t *testing.T) {
			t.Run("ManageConnections", func(t *testing.T) { testManageConnections(t, browser, secure) })
			t.Run("ReturnOutcomes", func(t *testing.T) { testReturnOutcomes(t, browser, secure) })
			t.Run("B5_TwoTabsTwoFlows", func(t *testing.T) { testTwoTabs(t, browser, secure) })
		})
	}
	t.Run("E_TokenExpiresTwice", func(t *testing.T) { testTokenExpiresTwice(t, browser) })
}

// testTokenExpiresTwice: access tokens live 3 s. The user signs in, waits
// past that, opens Manage connections (the kit refreshes first), waits past
// it again on the white-label page, connects Google and presses Done: the
// hook reads the connections with a token refreshed again, and the user is
// back home with Google listed. Real time, as a person would take it.
func testTokenExpiresTwice(t *testing.T, browser context.Context) {
	const ttl = 3 * time.Second
	st := startStack(t, false, bluenexustest.WithTokenTTL(ttl))
	w := newWindow(t, browser)
	w.navigate(t, st.appURL+"/signin")
	signIn(t, w, st)
	wantRows(t, w, "notion")
	time.Sleep(ttl + 500*time.Millisecond) // past the first token's life
	resp := w.click(t, "#manage")
	wantStatus(t, resp, http.StatusOK)
	wantText(t, w, "Manage your connections")
	time.Sleep(ttl + 500*time.Millisecond) // past the refreshed token's life, on the page
	connect(t, w, "google")
	resp = w.click(t, "form.done button")
	wantStatus(t, resp, http.StatusOK)
	wantLocation(t, w, st.appURL+"/")
	wantOutcome(t, w, "success")
	wantRows(t, w, "google", "notion")
	wantText(t, w, "the kit refreshed it first", "with a freshly refreshed access token")
	if n := st.emu.RefreshReplays(); n != 0 {
		t.Errorf("refresh tokens replayed: %d", n)
	}
	if n := st.emu.Hits(bluenexustest.PathToken); n < 2 {
		t.Errorf("token endpoint calls: %d, want at least 2", n)
	}
}

// testManageConnections is the walkthrough: sign in, manage connections on
// the emulator's page (connect two, remove one), Done, and the result on the
// home page; then what the browser kept, and what Back and a second visit
// of the return URL do.
func testManageConnections(t *testing.T, browser context.Context, secure bool) {
	st := startStack(t, secure)
	w := newWindow(t, browser)

	// The app sends a browser without a session to its sign-in page.
	w.navigate(t, st.appURL+"/")
	wantLocation(t, w, st.appURL+"/signin")
	w.shot(t, st, "1-sign-in")
	signIn(t, w, st)
	wantText(t, w, "Signed in as alice", "Your connected services")
	wantRows(t, w, "notion")
	if _, ok := w.attr(t, "#flash", "data-outcome"); ok {
		t.Error("home page shows a flash before any flow")
	}
	w.shot(t, st, "2-home")

	// Manage connections: the kit mints a code and sends the browser to the
	// emulator's white-label page, which trades the code for its session.
	hooks := st.hookRuns()
	resp := w.click(t, "#manage")
	wantStatus(t, resp, http.StatusOK)
	wantLocation(t, w, st.emu.URL()+bluenexustest.PathWhiteLabelSession)
	wantText(t, w, "Manage your connections", "Signed in as alice", "Notion")
	if st.obs.mints() != 1 {
		t.Errorf("codes minted: %d, want 1", st.obs.mints())
	}
	// The app's cookies as the browser stored them, while the flow is pending.
	pending := w.cookies(t, st.appURL)
	w.shot(t, st, "white-label-start")

	connect(t, w, "google")
	connect(t, w, "slack")
	wantText(t, w, "Connected Slack.", "alice+google@example.com", "alice+slack@example.com")
	w.shot(t, st, "3-white-label")
	w.click(t, `button[aria-label^="Remove Notion"]`)
	wantText(t, w, "Removed Notion")
	w.shot(t, st, "white-label-removed")

	// Done: BlueNexus sends the browser to the return URL; the kit checks the
	// state, runs the hook, and lands on the clean home page.
	resp = w.click(t, "form.done button")
	wantStatus(t, resp, http.StatusOK)
	wantLocation(t, w, st.appURL+"/")
	wantOutcome(t, w, "success")
	wantRows(t, w, "google", "slack")
	wantText(t, w, "Welcome back.", "What just happened", "Handoff code minted", "outcome success",
		"Refresh hook ran", "Connections before: notion; after: google, slack.", "+ google", "+ slack", "− notion")
	if got := st.hookRuns(); got != hooks+1 {
		t.Errorf("hook runs: %d, want %d", got, hooks+1)
	}
	if j, ok := st.app.Journey("alice"); !ok || !j.HookRan || j.Outcome != "success" {
		t.Errorf("journey: %+v", j)
	}
	w.shot(t, st, "4-back-home")

	t.Run("C1_CookieAttributes", func(t *testing.T) {
		checkStoredCookies(t, st, pending)
		checkSetCookies(t, st, w.net)
	})
	t.Run("D1_NoCodeOrStateInReferer", func(t *testing.T) { checkReferers(t, w.net) })
	t.Run("D2_NoCodeOrStateInHistoryOrLogs", func(t *testing.T) {
		codes, states := w.net.secrets()
		for _, e := range w.history(t).Entries {
			if containsAny(e.URL, codes, states) {
				t.Errorf("history entry %s carries a code or a state", redact(e.URL))
			}
		}
		if containsAny(st.logs.String(), codes, states) {
			t.Error("the app's log carries a code or a state")
		}
	})
	t.Run("B4_BackButtonReplaysNothing", func(t *testing.T) {
		hooks, mints, returns := st.hookRuns(), st.obs.mints(), st.obs.total("return")
		visits := len(w.net.returnURLs())
		// Back, one entry at a time, to the home page as it was before the
		// flow: through the emulator's pages (their session is over).
		entries := len(w.history(t).Entries)
		for range entries {
			w.back(t)
			loc := w.location(t)
			o, _ := w.attr(t, "#flash", "data-outcome")
			title, _ := chromedp.Run(w.ctx, chromedp.Title())
			t.Logf("back: %s %q (flash %q)", redact(loc), title, o)
			if o == "success" {
				t.Errorf("going back reached %s with a success flash", redact(loc))
			}
			if loc == st.appURL+"/" {
				break
			}
		}
		wantLocation(t, w, st.appURL+"/")
		w.shot(t, st, "back-button")
		if st.hookRuns() != hooks || st.obs.mints() != mints || st.obs.total("return") != returns {
			t.Errorf("after Back: hook runs %d (want %d), codes minted %d (want %d), returns %d (want %d)",
				st.hookRuns(), hooks, st.obs.mints(), mints, st.obs.total("return"), returns)
		}
		if n := len(w.net.returnURLs()); n != visits {
			t.Errorf("going back requested the return URL again (%d requests, want %d)", n, visits)
		}
	})
	t.Run("B4_ReturnURLTwiceIsLocalError", func(t *testing.T) {
		returns := w.net.returnURLs()
		if len(returns) != 1 {
			t.Fatalf("the browser requested the return URL %d times, want 1", len(returns))
		}
		hooks := st.hookRuns()
		resp := w.navigate(t, returns[0])
		wantStatus(t, resp, http.StatusForbidden)
		// A local page: no redirect anywhere.
		wantLocation(t, w, returns[0])
		o, _ := w.attr(t, "#flash", "data-outcome")
		if o != "replayed" {
			t.Errorf("second return: outcome %q, want replayed", o)
		}
		wantText(t, w, "Back to your connections")
		if st.hookRuns() != hooks {
			t.Errorf("second return ran the hook: %d runs, want %d", st.hookRuns(), hooks)
		}
		w.shot(t, st, "6-return-used-twice")
	})
}

// testReturnOutcomes covers the two other flashes: a return carrying
// BlueNexus `error` parameters, and a hook that fails.
func testReturnOutcomes(t *testing.T, browser context.Context, secure bool) {
	st := startStack(t, secure)
	w := newWindow(t, browser)
	signIn(t, w, st)

	t.Run("BlueNexusError", func(t *testing.T) {
		hooks := st.hookRuns()
		st.emu.ReturnWithError("access_denied", "The user closed the page.")
		w.click(t, "#manage")
		wantLocation(t, w, st.emu.URL()+bluenexustest.PathWhiteLabelSession)
		connect(t, w, "github")
		w.click(t, "form.done button")
		wantLocation(t, w, st.appURL+"/")
		wantOutcome(t, w, "bluenexus_error")
		wantText(t, w, "BlueNexus reported an error.", "outcome bluenexus_error", "Refresh hook did not run",
			"after: not refreshed")
		// The app's copy is unchanged: the hook did not re-read it.
		wantRows(t, w, "notion")
		if st.hookRuns() != hooks {
			t.Errorf("hook runs: %d, want %d", st.hookRuns(), hooks)
		}
		if n := st.obs.count("return", "bluenexus_error"); n != 1 {
			t.Errorf("bluenexus_error returns: %d, want 1", n)
		}
		w.shot(t, st, "5-bluenexus-error")
	})
	t.Run("HookFailed", func(t *testing.T) {
		hooks := st.hookRuns()
		w.click(t, "#manage")
		wantLocation(t, w, st.emu.URL()+bluenexustest.PathWhiteLabelSession)
		connect(t, w, "slack")
		// The hook's connections read fails once.
		st.emu.Inject(bluenexustest.PathConnections, bluenexustest.Status(http.StatusInternalServerError))
		w.click(t, "form.done button")
		wantLocation(t, w, st.appURL+"/")
		wantOutcome(t, w, "hook_failed")
		wantText(t, w, "the list could not be refreshed", "outcome hook_failed", "Refresh hook ran, and failed", "after: could not be read")
		if st.hookRuns() != hooks+1 {
			t.Errorf("hook runs: %d, want %d", st.hookRuns(), hooks+1)
		}
		w.shot(t, st, "hook-failed")
	})
	t.Run("D1_NoCodeOrStateInReferer", func(t *testing.T) { checkReferers(t, w.net) })
}

// testTwoTabs starts a flow in one tab, runs a whole flow in a second tab
// of the same browser while the first sits on the white-label page, then
// finishes the first: both succeed (SECURITY.md B5).
func testTwoTabs(t *testing.T, browser context.Context, secure bool) {
	st := startStack(t, secure)
	tab1 := newWindow(t, browser)
	signIn(t, tab1, st)
	hooks := st.hookRuns()

	tab1.click(t, "#manage")
	wantLocation(t, tab1, st.emu.URL()+bluenexustest.PathWhiteLabelSession)
	connect(t, tab1, "github")

	tab2 := tab1.newTab(t)
	tab2.navigate(t, st.appURL+"/")
	wantText(t, tab2, "Signed in as alice")
	tab2.click(t, "#manage")
	wantLocation(t, tab2, st.emu.URL()+bluenexustest.PathWhiteLabelSession)
	connect(t, tab2, "slack")
	tab2.click(t, "form.done button")
	wantLocation(t, tab2, st.appURL+"/")
	wantOutcome(t, tab2, "success")
	wantRows(t, tab2, "github", "notion", "slack")
	if st.hookRuns() != hooks+1 {
		t.Errorf("after tab 2: hook runs %d, want %d", st.hookRuns(), hooks+1)
	}
	tab2.shot(t, st, "tab-2-done")

	tab1.click(t, "form.done button")
	wantLocation(t, tab1, st.appURL+"/")
	wantOutcome(t, tab1, "success")
	wantRows(t, tab1, "github", "notion", "slack")
	if st.hookRuns() != hooks+2 {
		t.Errorf("after both tabs: hook runs %d, want %d", st.hookRuns(), hooks+2)
	}
	if n := st.obs.count("return", "success"); n != 2 {
		t.Errorf("successful returns: %d, want 2", n)
	}
	if _, states := tab1.net.secrets(); len(states) != 2 {
		t.Errorf("the two returns carried %d distinct states, want 2", len(states))
	}
	tab1.shot(t, st, "tab-1-done")
	t.Run("D1_NoCodeOrStateInReferer", func(t *testing.T) { checkReferers(t, tab1.net) })
}

// signIn signs in as alice, the sign-in page's first choice.
func signIn(t *testing.T, w *tab, st *stack) {
	t.Helper()
	w.navigate(t, st.appURL+"/signin")
	wantStatus(t, w.click(t, "#signin-button"), http.StatusOK)
	wantLocation(t, w, st.appURL+"/")
}

// connect picks a service on the white-label page and connects it.
func connect(t *testing.T, w *tab, provider string) {
	t.Helper()
	w.do(t, "choose "+provider, chromedp.SetValue(chromedp.CSS("#provider"), provider))
	wantStatus(t, w.click(t, "form.connect button[type=submit]"), http.StatusOK)
}

func wantStatus(t *testing.T, resp *network.Response, want int) {
	t.Helper()
	if resp == nil {
		t.Fatalf("no response, want status %d", want)
	}
	if resp.Status != int64(want) {
		t.Fatalf("%s: status %d, want %d", redact(resp.URL), resp.Status, want)
	}
}

func wantLocation(t *testing.T, w *tab, want string) {
	t.Helper()
	if got := w.location(t); got != want {
		t.Fatalf("page is %s, want %s", redact(got), redact(want))
	}
}

func wantText(t *testing.T, w *tab, want ...string) {
	t.Helper()
	text := w.text(t)
	for _, s := range want {
		if !strings.Contains(text, s) {
			t.Errorf("page %s lacks %q; it reads:\n%s", redact(w.location(t)), s, text)
		}
	}
}

func wantOutcome(t *testing.T, w *tab, want string) {
	t.Helper()
	got, ok := w.attr(t, "#flash", "data-outcome")
	if !ok || got != want {
		t.Errorf("flash outcome %q (present %v), want %q; page reads:\n%s", got, ok, want, w.text(t))
	}
}

func wantRows(t *testing.T, w *tab, providers ...string) {
	t.Helper()
	got := w.attrs(t, "tr[data-provider]", "data-provider")
	slices.Sort(got)
	if !slices.Equal(got, providers) {
		t.Errorf("connection rows %v, want %v", got, providers)
	}
}

// checkReferers fails when a request the browser sent carries a code or a
// state in its Referer (SECURITY.md D1: no-referrer on every response that
// holds one).
func checkReferers(t *testing.T, rec *recorder) {
	t.Helper()
	codes, states := rec.secrets()
	if len(codes) == 0 || len(states) == 0 {
		t.Fatalf("saw %d codes and %d states in URLs: the check would prove nothing", len(codes), len(states))
	}
	reqs, _, _ := rec.snapshot()
	checked := 0
	for _, q := range reqs {
		if q.referer == "" {
			continue
		}
		checked++
		if containsAny(q.referer, codes, states) {
			t.Errorf("a request to %s went with a Referer carrying a code or a state", redact(q.url))
		}
		if u, err := url.Parse(q.referer); err == nil && (u.Query().Has("code") || u.Query().Has("state")) {
			t.Errorf("a request to %s went with Referer %s", redact(q.url), redact(q.referer))
		}
	}
	t.Logf("%d requests, %d with a Referer; %d codes and %d states seen in URLs", len(reqs), checked, len(codes), len(states))
}

func containsAny(s string, lists ...[]string) bool {
	for _, l := range lists {
		for _, v := range l {
			if strings.Contains(s, v) {
				return true
			}
		}
	}
	return false
}
