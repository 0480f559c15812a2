package main

import (
	"context"
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
