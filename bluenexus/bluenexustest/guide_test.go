package bluenexustest_test

// The snippets of docs/testing.md, run against a real app built with the
// kit (newApp, set up as the guide's first test is). Keep the two in step:
// each test names its section.

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/bluenexus/bluenexustest"
	"github.com/handoffkit/handoffkit/handlers"
	"github.com/handoffkit/handoffkit/middleware"
)

// get is the guide's browser.Get, with header as name, value pairs; the
// body is read into memory, so the caller need not close it.
func get(t *testing.T, browser *http.Client, rawURL string, header ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := browser.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp
}

// TestGuideFaults: "Faults". Each case injects on handoff init and reads
// the kit's answer to /manage-connections.
func TestGuideFaults(t *testing.T) {
	tests := []struct {
		name           string
		clientOpts     []bluenexus.Option
		inject         func(emu *bluenexustest.Server)
		wantStatus     int
		wantRetryAfter string
	}{
		{
			name:       "timeout",
			clientOpts: []bluenexus.Option{bluenexus.WithTimeout(200 * time.Millisecond)},
			inject: func(emu *bluenexustest.Server) {
				emu.Inject(bluenexustest.PathHandoffInit, bluenexustest.Latency(10*time.Second))
			},
			wantStatus: http.StatusGatewayTimeout,
		},
		{
			name: "5xx",
			inject: func(emu *bluenexustest.Server) {
				emu.Inject(bluenexustest.PathHandoffInit, bluenexustest.Status(http.StatusInternalServerError))
			},
			wantStatus: http.StatusBadGateway,
		},
		{
			name: "429",
			inject: func(emu *bluenexustest.Server) {
				emu.Inject(bluenexustest.PathHandoffInit, bluenexustest.RetryAfter(http.StatusTooManyRequests, 30*time.Second))
			},
			wantStatus: http.StatusServiceUnavailable, wantRetryAfter: "30",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newApp(t, appConfig{clientOpts: tc.clientOpts})
			emu, app, browser := a.emu, a.srv, a.browser
			tc.inject(emu)
			resp := get(t, browser, app.URL+"/manage-connections")
			if resp.StatusCode != tc.wantStatus || resp.Header.Get("Retry-After") != tc.wantRetryAfter {
				t.Fatalf("manage: %d Retry-After %q, want %d %q", resp.StatusCode, resp.Header.Get("Retry-After"), tc.wantStatus, tc.wantRetryAfter)
			}
			if n := emu.Hits(bluenexustest.PathHandoffInit); n != 1 {
				t.Errorf("init calls %d, want 1 (no retry)", n)
			}
			// The fault was played once: the next try works.
			if resp := get(t, browser, app.URL+"/manage-connections"); resp.StatusCode != http.StatusFound {
				t.Errorf("manage after the fault: %d, want 302", resp.StatusCode)
			}
		})
	}
}

// TestGuideBreaker: "Faults", the circuit breaker.
func TestGuideBreaker(t *testing.T) {
	a := newApp(t, appConfig{clientOpts: []bluenexus.Option{
		bluenexus.WithBreaker(bluenexus.BreakerSettings{ConsecutiveFailures: 3, OpenTimeout: time.Minute}),
	}})
	emu, app, browser := a.emu, a.srv, a.browser

	emu.InjectAlways(bluenexustest.PathHandoffInit, bluenexustest.Status(http.StatusInternalServerError))
	for range 3 {
		if resp := get(t, browser, app.URL+"/manage-connections"); resp.StatusCode != http.StatusBadGateway {
			t.Fatalf("manage: %d, want 502", resp.StatusCode)
		}
	}
	resp := get(t, browser, app.URL+"/manage-connections") // the breaker is open
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("manage with the breaker open: %d Retry-After %q, want 503 with one", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if n := emu.Hits(bluenexustest.PathHandoffInit); n != 3 {
		t.Errorf("init calls %d, want 3: the open breaker sends none", n)
	}
}

// TestGuideIPFingerprint: "The IP fingerprint".
func TestGuideIPFingerprint(t *testing.T) {
	strategy, err := middleware.NewXFFTrustedRangesStrategy("127.0.0.0/8", "::1") // the app trusts its loopback proxy
	if err != nil {
		t.Fatal(err)
	}
	a := newApp(t, appConfig{strategy: strategy, emuOpts: []bluenexustest.Option{bluenexustest.WithPageIPHeader("X-Forwarded-For")}})
	emu, app, browser := a.emu, a.srv, a.browser
	ctx := t.Context()

	home := bluenexustest.FromIP(browser, netip.MustParseAddr("203.0.113.7"))
	start, _ := home.Get(app.URL + "/manage-connections")
	ret, err := bluenexustest.NewUser(emu, home).Done(ctx, start) // same IP: the page opens
	wantReturn(t, ret, err, "/")

	cell := bluenexustest.FromIP(browser, netip.MustParseAddr("198.51.100.20"))
	start, _ = home.Get(app.URL + "/manage-connections")
	_, err = bluenexustest.NewUser(emu, cell).Done(ctx, start) // the network changed on the way
	if pe, ok := err.(*bluenexustest.PageError); !ok || pe.Status != http.StatusForbidden {
		t.Fatalf("Done from another network: %v, want a 403 PageError", err)
	}
}

// TestGuideExpiredTokens: "Expired tokens".
func TestGuideExpiredTokens(t *testing.T) {
	t.Run("expired by the clock", func(t *testing.T) {
		a := newApp(t, appConfig{})
		emu, app, browser := a.emu, a.srv, a.browser
		ctx := t.Context()

		emu.AdvanceClock(time.Hour) // alice signed in an hour ago: her access token is dead
		start, _ := browser.Get(app.URL + "/manage-connections")
		ret, err := bluenexustest.NewUser(emu, browser).Done(ctx, start, bluenexustest.Connect("google"))
		wantReturn(t, ret, err, "/")
		// emu.Hits(bluenexustest.PathToken) == 1: the kit renewed once, on the 401
		// emu.RefreshReplays() == 0: no refresh token was spent twice
		if n, r := emu.Hits(bluenexustest.PathToken), emu.RefreshReplays(); n != 1 || r != 0 {
			t.Errorf("token calls %d, replays %d; want 1 and 0", n, r)
		}
		if saw, _ := a.runs(); len(saw) != 1 || len(saw[0]) != 1 || saw[0][0] != "google" {
			t.Errorf("hook runs %v, want one seeing google", saw)
		}
	})
	t.Run("short-lived tokens", func(t *testing.T) {
		a := newApp(t, appConfig{emuOpts: []bluenexustest.Option{bluenexustest.WithTokenTTL(time.Second)}})
		emu, app, browser := a.emu, a.srv, a.browser

		start, _ := browser.Get(app.URL + "/manage-connections")
		ret, err := bluenexustest.NewUser(emu, browser).Done(t.Context(), start)
		wantReturn(t, ret, err, "/")
		// Each use comes within the source's 60 s margin: it refreshes first, at
		// /manage-connections and for the hook.
		if n, r := emu.Hits(bluenexustest.PathToken), emu.RefreshReplays(); n != 2 || r != 0 {
			t.Errorf("token calls %d, replays %d; want 2 and 0", n, r)
		}
	})
	t.Run("revoked", func(t *testing.T) {
		a := newApp(t, appConfig{})
		emu, app, browser := a.emu, a.srv, a.browser
		emu.RevokeSessions("alice") // signed out at BlueNexus: the app must sign her in again
		resp := get(t, browser, app.URL+"/manage-connections")
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("manage: %d, want 401 reauth_required", resp.StatusCode)
		}
	})
}

// TestGuideMobile: "A mobile (JSON) flow".
func TestGuideMobile(t *testing.T) {
	a := newApp(t, appConfig{kitOpts: []handlers.Option{handlers.WithReturnURIs("yourapp://connections")}})
	emu, app, browser := a.emu, a.srv, a.browser
	ctx := t.Context()

	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, app.URL+"/manage-connections?redirect="+url.QueryEscape("yourapp://connections"), nil)
	req.Header.Set("Accept", "application/json")
	start, _ := browser.Do(req) // 200 {"url": ..., "expiresAt": ...}
	ret, err := bluenexustest.NewUser(emu, browser).Done(ctx, start, bluenexustest.Connect("google"))
	if err != nil {
		t.Fatal(err)
	}
	// ret.Response == nil; ret.URL is yourapp://connections?state=...
	body := `{"state":"` + ret.URL.Query().Get("state") + `"}`
	resp, err := browser.Post(app.URL+"/return", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct{ Outcome, Next string } // 200 {"outcome":"success","next":"/"}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || got.Outcome != "success" || ret.Response != nil {
		t.Fatalf("POST /return: %d %+v %v", resp.StatusCode, got, err)
	}
}
