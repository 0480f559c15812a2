package handlers_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/bluenexus/bluenexustest"
	"github.com/handoffkit/handoffkit/handlers"
)

// internalMessage is outcome.go's message for "internal".
const internalMessage = "Something went wrong on our side. Please try again."

// serveError runs DefaultErrorHandler for err on a request with accept.
func serveError(err error, accept string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, "https://app.example.com/manage-connections", nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	rec := httptest.NewRecorder()
	handlers.DefaultErrorHandler(rec, req, err)
	return rec
}

// jsonError decodes the default JSON error body, failing t unless it is
// exactly {"error", "message"}.
func jsonError(t *testing.T, body string) (outcome, message string) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("body is not JSON: %q", body)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"error", "message"}) {
		t.Fatalf("JSON error body has members %v, want exactly error and message: %s", keys, body)
	}
	outcome, _ = m["error"].(string)
	message, _ = m["message"].(string)
	return outcome, message
}

// TestDefaultErrorHandlerUnrecognised: what the kit does not recognise is
// an internal error: DefaultErrorHandler answers an
// error that is not a *handlers.Error with 500 "internal" and the generic
// message, never the error's own text, in HTML and in JSON.
func TestDefaultErrorHandlerUnrecognised(t *testing.T) {
	secret := errors.New("dial tcp 10.1.2.3:6379: redis password=hunter2 refused")
	for _, err := range []error{secret, fmt.Errorf("wrapped: %w", secret), nil} {
		rec := serveError(err, "")
		if rec.Code != http.StatusInternalServerError || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
			t.Fatalf("%v: status %d, Content-Type %q; want 500 HTML", err, rec.Code, rec.Header().Get("Content-Type"))
		}
		if body := rec.Body.String(); !strings.Contains(body, internalMessage) || strings.Contains(body, "hunter2") || strings.Contains(body, "10.1.2.3") {
			t.Errorf("%v: HTML page %q, want the internal message and none of the error text", err, body)
		}
		rec = serveError(err, "application/json")
		if rec.Code != http.StatusInternalServerError || rec.Header().Get("Content-Type") != "application/json" {
			t.Fatalf("%v (JSON): status %d, Content-Type %q", err, rec.Code, rec.Header().Get("Content-Type"))
		}
		if outcome, msg := jsonError(t, rec.Body.String()); outcome != "internal" || msg != internalMessage {
			t.Errorf("%v (JSON): %q %q, want internal and its message", err, outcome, msg)
		}
		if rec.Header().Get("Retry-After") != "" {
			t.Errorf("%v: Retry-After %q on an internal error", err, rec.Header().Get("Retry-After"))
		}
	}
}

// TestDefaultErrorHandlerKitErrors: an *handlers.Error, even wrapped, is
// answered with its own status, outcome and message, Retry-After rounded up
// to whole seconds, and a link to its Next; client_gone gets its status and
// nothing else (nobody is there to read it).
func TestDefaultErrorHandlerKitErrors(t *testing.T) {
	e := &handlers.Error{Outcome: "unavailable", Status: http.StatusServiceUnavailable, Message: "Busy, try again.",
		RetryAfter: 1500 * time.Millisecond, Next: "/settings", Err: errors.New("upstream said secret-detail")}
	for _, err := range []error{e, fmt.Errorf("outer: %w", e)} {
		rec := serveError(err, "")
		if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "2" {
			t.Errorf("status %d Retry-After %q, want 503 and 2", rec.Code, rec.Header().Get("Retry-After"))
		}
		body := rec.Body.String()
		if !strings.Contains(body, `<p id="message">Busy, try again.</p>`) || !strings.Contains(body, `id="back" href="/settings"`) || strings.Contains(body, "secret-detail") {
			t.Errorf("page %s: want the message and a link to /settings, not the error text", body)
		}
		if rec.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("X-Content-Type-Options = %q", rec.Header().Get("X-Content-Type-Options"))
		}
		rec = serveError(err, "application/json")
		if outcome, msg := jsonError(t, rec.Body.String()); outcome != "unavailable" || msg != "Busy, try again." {
			t.Errorf("JSON %q %q", outcome, msg)
		}
	}
	// An Error without a message or a Next: the generic text, a link home.
	rec := serveError(&handlers.Error{Outcome: "forbidden", Status: http.StatusBadGateway}, "")
	if body := rec.Body.String(); rec.Code != http.StatusBadGateway || !strings.Contains(body, internalMessage) || !strings.Contains(body, `id="back" href="/"`) {
		t.Errorf("bare Error: %d %s", rec.Code, body)
	}
	// A Next that is not a URL html/template trusts is not rendered as one.
	rec = serveError(&handlers.Error{Outcome: "internal", Status: 500, Next: "javascript:alert(1)"}, "")
	if strings.Contains(rec.Body.String(), "javascript:") {
		t.Errorf("the page links to a javascript: URL: %s", rec.Body.String())
	}
	rec = serveError(&handlers.Error{Outcome: "client_gone", Status: 499, Message: "gone", RetryAfter: time.Second}, "")
	if rec.Code != 499 || rec.Body.Len() != 0 || rec.Header().Get("Retry-After") != "" {
		t.Errorf("client_gone: %d %q Retry-After %q, want 499 and nothing else", rec.Code, rec.Body.String(), rec.Header().Get("Retry-After"))
	}
}

// TestDefaultErrorHandlerAccept: JSON only when Accept lists
// application/json before text/html; HTML otherwise.
func TestDefaultErrorHandlerAccept(t *testing.T) {
	for accept, wantJSON := range map[string]bool{
		"":                                   false,
		"*/*":                                false,
		"text/html":                          false,
		"text/html, application/json":        false,
		"text/html;q=0.9,application/json":   false,
		"application/json":                   true,
		"Application/JSON; charset=utf-8":    true,
		"application/json, text/html":        true,
		"image/webp, application/json, */*":  true,
		"application/xhtml+xml, text/html":   false,
		"application/problem+json, */*;q=.1": false,
	} {
		rec := serveError(errors.New("x"), accept)
		if got := rec.Header().Get("Content-Type") == "application/json"; got != wantJSON {
			t.Errorf("Accept %q: Content-Type %q, want JSON %v", accept, rec.Header().Get("Content-Type"), wantJSON)
		}
	}
}

// TestB7_ErrorPageThroughTheKit: the error pages of both routes render
// locally: the outcome's message and a link (id="back") to the request's
// validated `next`, or to "/" when `next` is unsafe; JSON {"error",
// "message"} when Accept prefers JSON; never the code, state or token.
func TestB7_ErrorPageThroughTheKit(t *testing.T) {
	r := newRig(t, rigConfig{token: canaryToken})
	const expired = "Your session with the connection service has expired. Please sign in again."
	secrets := func(t *testing.T, body string, extra ...string) {
		t.Helper()
		for _, s := range append(extra, canaryToken.Reveal(), "code=", "state=") {
			if s != "" && strings.Contains(body, s) {
				t.Errorf("the error page contains %q: %s", s, body)
			}
		}
	}

	// An upstream 401 at /manage-connections?next=/settings: back to /settings.
	r.emu.Inject(bluenexustest.PathHandoffInit, bluenexustest.Status(401))
	resp, body, _ := r.manageQuery("?next=/settings", "Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("status %d %q, want 401 HTML", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if !strings.Contains(body, `<p id="message">`+expired+`</p>`) || !strings.Contains(body, `<a id="back" href="/settings">`) {
		t.Errorf("page %s: want the token_expired message and a link to /settings", body)
	}
	secrets(t, body)

	// The same as JSON.
	r.emu.Inject(bluenexustest.PathHandoffInit, bluenexustest.Status(401))
	resp, body, _ = r.manageQuery("?next=/settings", "Accept", "application/json")
	if outcome, msg := jsonError(t, body); resp.StatusCode != http.StatusUnauthorized || outcome != "token_expired" || msg != expired {
		t.Errorf("JSON: %d %q %q", resp.StatusCode, outcome, msg)
	}
	secrets(t, body)

	// An unsafe next: refused before any upstream call, the link goes home
	// and the page does not echo it.
	hits := r.hits()
	for _, next := range []string{"//evil.example", "https://evil.example/", `/\evil.example`, "/%2F%2Fevil.example"} {
		resp, body, _ = r.manageQuery("?next=" + url.QueryEscape(next))
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `<a id="back" href="/">`) || strings.Contains(body, "evil.example") {
			t.Errorf("next=%q: %d %s; want 400 with a link to / and no echo", next, resp.StatusCode, body)
		}
	}
	// A safe next with a failure before the upstream call (no token) still
	// links back to it.
	resp, body, _ = r.manageQuery("?next=/billing", hdrNoToken, "1")
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `<a id="back" href="/billing">`) {
		t.Errorf("no token with next=/billing: %d %s", resp.StatusCode, body)
	}
	if n := r.hits(); n != hits {
		t.Errorf("upstream hits went from %d to %d", hits, n)
	}

	// /return with a state the kit did not seal: a local 403, a link home,
	// and the state nowhere.
	state := strings.Repeat("Q", 120)
	resp, body = r.get(r.app.URL + "/connections/return?state=" + state)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, `<a id="back" href="/">`) || resp.Header.Get("Location") != "" {
		t.Errorf("return: %d %s", resp.StatusCode, body)
	}
	secrets(t, body, state)
	resp, body = r.get(r.app.URL+"/connections/return?state="+state, "Accept", "application/json")
	if outcome, _ := jsonError(t, body); resp.StatusCode != http.StatusForbidden || outcome != "unknown_state" {
		t.Errorf("return (JSON): %d %s", resp.StatusCode, body)
	}
	secrets(t, body, state)
}

// TestUnrecognisedFailureIsInternal: a failure of the BlueNexus call that
// matches no upstream class (here the client refuses, before any I/O, an
// access token that the app's Config.AccessToken returned with a space in
// it) is "internal", 500, logged as an error: a bug on our side, never
// blamed on BlueNexus.
func TestUnrecognisedFailureIsInternal(t *testing.T) {
	r := newRig(t, rigConfig{accessToken: func(*http.Request) (bluenexus.AccessToken, bool) { return "not a token", true }})
	resp, body, _ := r.manage()
	if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(body, internalMessage) {
		t.Fatalf("status %d %s, want 500 internal", resp.StatusCode, body)
	}
	if e := kitError(t, r.errs.last()); e.Outcome != "internal" || e.Status != http.StatusInternalServerError {
		t.Errorf("error handler got %s %d, want internal 500", e.Outcome, e.Status)
	}
	if n := r.hits(); n != 0 {
		t.Errorf("upstream hits = %d, want 0", n)
	}
	if _, outcomes, _ := r.obs.snapshot(); !slices.Equal(outcomes, []string{"manage/internal"}) {
		t.Errorf("observer outcomes %v, want [manage/internal]", outcomes)
	}
	evs := r.logged("handoff.failed")
	if len(evs) != 1 || evs[0]["outcome"] != "internal" || evs[0]["level"] != "error" {
		t.Errorf("log events %v, want one internal at error", evs)
	}
}
