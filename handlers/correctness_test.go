package handlers_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/handoffkit/handoffkit/bluenexus/bluenexustest"
	"github.com/handoffkit/handoffkit/handlers"
)

// TestB2_FailedMintLeavesNoFlow: the flow is saved only with a minted code.
// With WithFixedRedirectURI a return completes the browser's newest pending
// flow by the cookie alone, so a flow begun before a mint that then failed
// would be completed by the next load of /return, hook and all. It is not:
// the failed /manage-connections sets no flow cookie, and the return is
// 403 no_flow with no hook run.
func TestB2_FailedMintLeavesNoFlow(t *testing.T) {
	for _, fault := range []bluenexustest.Fault{bluenexustest.Status(500), bluenexustest.Status(401), bluenexustest.MalformedJSON()} {
		t.Run(fault.String(), func(t *testing.T) {
			h := newHarness(t, harnessConfig{mount: "chi", kitOpts: []handlers.Option{handlers.WithFixedRedirectURI()}})
			h.emu.Inject(bluenexustest.PathHandoffInit, fault)
			resp, body := h.get(h.app.URL + "/manage-connections?next=/after")
			if resp.StatusCode < 400 {
				t.Fatalf("manage with %s: status %d, want a failure: %s", fault, resp.StatusCode, body)
			}
			if flowCookieSet(resp) || h.flowCookie() != nil {
				t.Fatal("a failed mint left a flow cookie")
			}
			resp, body = h.get(h.app.URL+"/connections/return", "Accept", "application/json")
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, `"error":"no_flow"`) {
				t.Fatalf("return after the failed mint: %d %s, want 403 no_flow", resp.StatusCode, body)
			}
			if n := h.hooks.Load(); n != 0 {
				t.Fatalf("hook ran %d times for a flow that never had a code", n)
			}
			// The next flow works as usual.
			back := h.complete(h.startFlow("?next=/again"))
			if resp, _ := h.get(back); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/again" {
				t.Fatalf("the next flow: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
			}
		})
	}
}

type hookValueKey struct{}

// TestHookOutlivesTheRequest: the on-return hook runs on a context that
// keeps the request's values but not its cancellation. The hook blocks until
// the test has cancelled the request's context (the tab closed), then finds
// its own context still live, and the return succeeds.
func TestHookOutlivesTheRequest(t *testing.T) {
	entered, proceed := make(chan struct{}), make(chan struct{})
	var hookErr error
	h := newHarness(t, harnessConfig{
		mount:     "chi",
		hookFails: true, // the return is served by a direct call, outside the counting app
		kitOpts:   []handlers.Option{handlers.WithHookTimeout(time.Minute)},
		hook: func(ctx context.Context, ev handlers.ReturnEvent) error {
			close(entered)
			<-proceed
			switch {
			case ctx.Err() != nil:
				hookErr = ctx.Err()
			case ctx.Value(hookValueKey{}) != "kept":
				hookErr = errors.New("the request's context values are gone")
			case ev.Request.Context().Err() == nil:
				hookErr = errors.New("the request was not cancelled")
			}
			return hookErr
		},
	})
	back := h.complete(h.startFlow("?next=/after"))
	req := httptest.NewRequest(http.MethodGet, back, nil)
	for _, c := range h.browser.Jar.Cookies(mustURL(t, h.app.URL)) {
		req.AddCookie(c)
	}
	ctx, cancel := context.WithCancel(context.WithValue(context.WithValue(context.Background(), hookValueKey{}, "kept"), userKey{}, "alice"))
	defer cancel()
	req = req.WithContext(ctx)
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.kit.Return().ServeHTTP(rec, req)
	}()
	<-entered
	cancel() // the browser closed the tab while the hook runs
	close(proceed)
	<-done
	if hookErr != nil {
		t.Fatalf("the hook saw: %v", hookErr)
	}
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/after" || flashOf(rec.Result()) != "success" {
		t.Fatalf("return: %d to %q flash %q, want 303 to /after with success", rec.Code, rec.Header().Get("Location"), flashOf(rec.Result()))
	}
}

// TestStrictQuery: a query that url.ParseQuery rejects (a `;`, a bad %
// escape) is refused with 400 on both routes, never read with the bad
// pairs silently dropped (r.URL.Query would keep "next=/a" of
// "next=/a&next=//evil.example;x" and lose the second, repeated next), and
// reaches no upstream and no hook.
func TestStrictQuery(t *testing.T) {
	const deepLink = "yourapp://connections"
	h := newHarness(t, harnessConfig{mount: "chi", kitOpts: []handlers.Option{handlers.WithReturnURIs(deepLink)}})
	send := func(path, rawQuery string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, h.app.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.URL.RawQuery = rawQuery
		req.Header.Set("Accept", "application/json")
		return h.do(req)
	}
	for _, q := range []string{
		"next=/a&next=//evil.example;x",
		"redirect=" + deepLink + ";x",
		"next=/a;b",
		"next=%zz",
		"next=/a&utm=%G1",
	} {
		resp, body := send("/manage-connections", q)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `"error":"bad_request"`) || resp.Header.Get("Location") != "" {
			t.Errorf("manage ?%s: %d %s, want 400 bad_request", q, resp.StatusCode, body)
		}
	}
	if n := h.emu.Hits(bluenexustest.PathHandoffInit); n != 0 {
		t.Fatalf("upstream hits = %d, want 0", n)
	}

	back := h.complete(h.startFlow("?next=/ok"))
	state := stateOf(t, back)
	for _, q := range []string{
		"state=" + state + ";y",
		"state=" + state + "&utm=a;b",
		"state=" + state + "&x=%zz",
		"state=%zz",
		"state=" + state + "%",
	} {
		resp, body := send("/connections/return", q)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `"error":"malformed"`) {
			t.Errorf("return ?%s: %d %s, want 400 malformed", strings.ReplaceAll(q, state, "STATE"), resp.StatusCode, body)
		}
	}
	if n := h.hooks.Load(); n != 0 {
		t.Fatalf("hook ran %d times on malformed returns", n)
	}
	// The refusals came before the flow was looked up: it still works once.
	if resp, _ := h.get(back); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ok" {
		t.Fatalf("the real return afterwards: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestB3_StrictReturnBody: a POST return's JSON body is an object with the
// string members state, error and error_description, each at most once,
// and nothing else; and the state is not in the query as well. Anything
// else is 400 malformed before the flow is looked up, and no hook runs,
// even where encoding/json would have read a valid state (it keeps the
// last of duplicated keys, ignores unknown members and stops before
// trailing data).
func TestB3_StrictReturnBody(t *testing.T) {
	h := newHarness(t, harnessConfig{mount: "chi"})
	back := h.complete(h.startFlow("?next=/m"))
	s := strconv.Quote(stateOf(t, back))
	post := func(query, contentType, body string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, h.app.URL+"/connections/return"+query, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("Accept", "application/json")
		return h.do(req)
	}
	for _, tc := range []struct{ name, query, contentType, body string }{
		{"duplicated state, the last one valid", "", "application/json", `{"state":"AAAA","state":` + s + `}`},
		{"duplicated state, both valid", "", "application/json", `{"state":` + s + `,"state":` + s + `}`},
		{"duplicated error", "", "application/json", `{"state":` + s + `,"error":"a","error":"b"}`},
		{"non-string state", "", "application/json", `{"state":[` + s + `]}`},
		{"non-string error", "", "application/json", `{"state":` + s + `,"error":1}`},
		{"null error", "", "application/json", `{"state":` + s + `,"error":null}`},
		{"object error_description", "", "application/json", `{"state":` + s + `,"error_description":{}}`},
		{"unknown member", "", "application/json", `{"state":` + s + `,"extra":"x"}`},
		{"unknown member only", "", "application/json", `{"State":` + s + `}`},
		{"trailing object", "", "application/json", `{"state":` + s + `} {}`},
		{"trailing garbage", "", "application/json", `{"state":` + s + `}x`},
		{"not an object", "", "application/json", `[` + s + `]`},
		{"state in the query too", "?state=" + stateOf(t, back), "application/json", `{"state":` + s + `}`},
		{"state in the query only", "?state=" + stateOf(t, back), "application/json", `{}`},
		{"bad query", "?x=1;y", "application/json", `{"state":` + s + `}`},
		{"not JSON content", "", "text/plain", `{"state":` + s + `}`},
		{"form content", "", "application/x-www-form-urlencoded", `state=` + stateOf(t, back)},
	} {
		resp, body := post(tc.query, tc.contentType, tc.body)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `"error":"malformed"`) {
			t.Errorf("%s: %d %s, want 400 malformed", tc.name, resp.StatusCode, body)
		}
		assertNoStore(t, resp)
	}
	if n := h.hooks.Load(); n != 0 {
		t.Fatalf("hook ran %d times on refused bodies", n)
	}
	resp, body := post("", "application/json; charset=utf-8", "\n {\"state\" : "+s+"}\n")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"outcome":"success"`) {
		t.Fatalf("the well-formed POST afterwards: %d %s", resp.StatusCode, body)
	}
	if n := h.hooks.Load(); n != 1 {
		t.Fatalf("hook ran %d times, want 1", n)
	}
}
