package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/handoffkit/handoffkit/internal/testkit"
)

var csrfToken = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// TestDemoScriptedFlow starts the demo as `make demo` does (on free ports)
// and completes the flow with a scripted cookie-jar client, on both routers.
func TestDemoScriptedFlow(t *testing.T) {
	for _, mux := range []string{"chi", "servemux"} {
		t.Run(mux, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			ready := make(chan string, 1)
			done := make(chan error, 1)
			out := &testkit.SyncBuffer{}
			go func() {
				done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-emulator-addr", "127.0.0.1:0",
					"-insecure-dev-cookies", "-mux", mux, "-log-level", "debug"}, out, ready)
			}()
			var app string
			select {
			case app = <-ready:
			case err := <-done:
				t.Fatalf("demo stopped: %v", err)
			case <-time.After(10 * time.Second):
				t.Fatal("demo did not start")
			}
			defer func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("demo shutdown: %v", err)
				}
			}()

			jar, _ := cookiejar.New(nil)
			browser := &http.Client{Jar: jar, Timeout: 10 * time.Second}
			var last *url.URL
			fetch := func(resp *http.Response, err error) string {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				last = resp.Request.URL
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("%s: status %d: %s", resp.Request.URL, resp.StatusCode, b)
				}
				return string(b)
			}
			home := fetch(browser.PostForm(app+"/signin", url.Values{"user": {"alice"}}))
			if !strings.Contains(home, "Signed in as alice") || !strings.Contains(home, `data-provider="notion"`) {
				t.Fatalf("home after sign-in:\n%s", home)
			}
			// Manage connections follows the 302 to the emulator's page.
			page := fetch(browser.Get(app + "/manage-connections?next=/"))
			m := csrfToken.FindStringSubmatch(page)
			if m == nil {
				t.Fatalf("white-label page:\n%s", page)
			}
			if last.Path != "/white-label/session" {
				t.Fatalf("manage-connections ended on %s, want the emulator's page", last)
			}
			base := last.Scheme + "://" + last.Host + "/white-label"
			fetch(browser.PostForm(base+"/connect", url.Values{"provider": {"google"}, "csrf_token": {m[1]}}))
			// Done: back through /connections/return to the home page.
			home = fetch(browser.PostForm(base+"/done", url.Values{"csrf_token": {m[1]}}))
			for _, want := range []string{`data-provider="google"`, `data-outcome="success"`, "Refresh hook ran", "after: google, notion"} {
				if !strings.Contains(home, want) {
					t.Errorf("home after the flow lacks %q:\n%s", want, home)
				}
			}
			// /metrics counts the code minted for the flow.
			if text := fetch(browser.Get(app + "/metrics")); !strings.Contains(text, "\nhandoffkit_handoffs_minted_total 1\n") {
				t.Errorf("/metrics lacks handoffkit_handoffs_minted_total 1:\n%s", text)
			}
		})
	}
}

// TestTokenVariantsReachTheEmulator: -token-variants configures the
// embedded emulator's token endpoint.
func TestTokenVariantsReachTheEmulator(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	out := &testkit.SyncBuffer{}
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-emulator-addr", "127.0.0.1:0",
			"-insecure-dev-cookies", "-token-variants", "form-errors"}, out, ready)
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("demo stopped: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("demo did not start")
	}
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("demo shutdown: %v", err)
		}
	}()
	m := regexp.MustCompile(`BlueNexus emulator: API (\S+),`).FindStringSubmatch(out.String())
	if m == nil || !strings.Contains(out.String(), "token endpoint variants form-errors") {
		t.Fatalf("output:\n%s", out.String())
	}
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"bnxr_unknown"},
		"client_id": {"bluenexus-emulator"}, "client_secret": {"bluenexus-emulator-secret"}}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).PostForm(m[1]+"/api/v1/auth/token", form)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || resp.Header.Get("Content-Type") != "application/x-www-form-urlencoded" || !strings.HasPrefix(string(b), "error=invalid_grant&") {
		t.Errorf("token endpoint: %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
}

// TestHelp: -h prints the usage and is not a failure (main exits 0 on
// flag.ErrHelp).
func TestHelp(t *testing.T) {
	var out strings.Builder
	err := run(t.Context(), []string{"-h"}, &out, nil)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("run -h = %v, want flag.ErrHelp", err)
	}
}

// TestDemoMobileBearerFlow: the path of examples/expo with no cookie jar.
// A bearer token from POST /api/signin, the JSON start with the deep link
// of -return-uris, the white-label page (its own cookie, as the phone's
// auth session keeps it), the POST return with the deep link's state, the
// refreshed connections at /api/connections. A bad bearer token is refused
// even beside a good sign-in cookie.
func TestDemoMobileBearerFlow(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	out := &testkit.SyncBuffer{}
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-emulator-addr", "127.0.0.1:0",
			"-return-uris", "yourapp://connections"}, out, ready)
	}()
	var app string
	select {
	case app = <-ready:
	case err := <-done:
		t.Fatalf("demo stopped: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("demo did not start")
	}
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("demo shutdown: %v", err)
		}
	}()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	api := &http.Client{Transport: tr, Timeout: 10 * time.Second, CheckRedirect: noRedirect}
	call := func(method, target, bearer, body string, want int) string {
		t.Helper()
		req, _ := http.NewRequest(method, target, strings.NewReader(body))
		req.Header.Set("Accept", "application/json")
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := api.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("%s %s: status %d, want %d: %s", method, target, resp.StatusCode, want, b)
		}
		return string(b)
	}
	var signin struct{ User, Token string }
	if err := json.Unmarshal([]byte(call("POST", app+"/api/signin", "", `{"user":"alice"}`, 200)), &signin); err != nil || signin.Token == "" {
		t.Fatalf("sign-in: %v %+v", err, signin)
	}
	call("GET", app+"/api/connections", "", "", 401)
	call("GET", app+"/api/connections", signin.Token+"x", "", 401)
	call("POST", app+"/api/signin", "", `{"user":"mallory"}`, 400)

	var start struct {
		URL       string `json:"url"`
		ExpiresIn int    `json:"expiresIn"`
	}
	q := url.Values{"redirect": {"yourapp://connections"}, "next": {"/"}}
	if err := json.Unmarshal([]byte(call("GET", app+"/manage-connections?"+q.Encode(), signin.Token, "", 200)), &start); err != nil || start.URL == "" || start.ExpiresIn <= 0 {
		t.Fatalf("start: %v %+v", err, start)
	}
	// The auth session: a browser of its own, with the page's cookie.
	jar, _ := cookiejar.New(nil)
	var deepLink string
	browser := &http.Client{Transport: tr, Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if req.URL.Scheme == "yourapp" {
			deepLink = req.URL.String()
			return http.ErrUseLastResponse
		}
		return nil
	}}
	resp, err := browser.Get(start.URL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfToken.FindStringSubmatch(string(page))
	if m == nil {
		t.Fatalf("white-label page %d:\n%s", resp.StatusCode, page)
	}
	base := resp.Request.URL.Scheme + "://" + resp.Request.URL.Host + "/white-label"
	for _, form := range []struct {
		path string
		v    url.Values
	}{{"/connect", url.Values{"provider": {"google"}, "csrf_token": {m[1]}}}, {"/done", url.Values{"csrf_token": {m[1]}}}} {
		resp, err := browser.PostForm(base+form.path, form.v)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	link, err := url.Parse(deepLink)
	if err != nil || !strings.HasPrefix(deepLink, "yourapp://connections?") || link.Query().Get("state") == "" {
		t.Fatalf("deep link %q", deepLink)
	}
	body, _ := json.Marshal(map[string]string{"state": link.Query().Get("state")})
	if got := call("POST", app+"/connections/return", signin.Token, string(body), 200); !strings.Contains(got, `"outcome":"success"`) {
		t.Errorf("return: %s", got)
	}
	if got := call("POST", app+"/connections/return", signin.Token, string(body), 403); !strings.Contains(got, `"error":"replayed"`) {
		t.Errorf("replayed return: %s", got)
	}
	if got := call("GET", app+"/api/connections", signin.Token, "", 200); !strings.Contains(got, `"providerId":"google"`) || !strings.Contains(got, `"providerId":"notion"`) {
		t.Errorf("connections after the return: %s", got)
	}
}

// TestDemoRefusesPrivateHTTPWithoutSwitch: a white-label URL on a private
// network address over plain http stops the demo unless -insecure-dev-http.
// Nothing is sent to that address: the kit refuses it at construction.
func TestDemoRefusesPrivateHTTPWithoutSwitch(t *testing.T) {
	args := []string{"-addr", "127.0.0.1:0", "-emulator-addr", "127.0.0.1:0", "-white-label-url", "http://10.0.2.2:8081/white-label"}
	err := run(t.Context(), args, io.Discard, nil)
	if err == nil || !strings.Contains(err.Error(), "WithInsecureDevHTTP") {
		t.Fatalf("run without -insecure-dev-http = %v, want the kit's refusal", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	out := &testkit.SyncBuffer{}
	go func() { done <- run(ctx, append(args, "-insecure-dev-http"), out, ready) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("demo with -insecure-dev-http stopped: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("demo did not start")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("demo shutdown: %v", err)
	}
	if !strings.Contains(out.String(), "white-label page http://10.0.2.2:8081/white-label") {
		t.Errorf("output:\n%s", out.String())
	}
}
