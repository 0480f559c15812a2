package handlers_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/handlers"
	"github.com/handoffkit/handoffkit/internal/flow"
	"github.com/handoffkit/handoffkit/session"
)

// goodConfig is a valid Config for construction tests.
func goodConfig() handlers.Config {
	return handlers.Config{
		WhiteLabelURL: "https://connect.example.com/",
		ReturnURL:     "https://app.example.com/connections/return",
		CookieKeys:    []session.KeyPair{testKeys},
		User:          func(*http.Request) (string, bool) { return "", false },
		AccessToken:   func(*http.Request) (bluenexus.AccessToken, bool) { return "", false },
	}
}

// TestNewRejectsBadConfiguration: bad configuration fails at construction
// with an error naming the package and the setting: every required Config
// field, every URL rule, and every option given a nil, zero or empty value
// (never read as "use the default").
func TestNewRejectsBadConfiguration(t *testing.T) {
	client, err := bluenexus.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	flows, err := session.New([]session.KeyPair{testKeys})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := handlers.New(goodConfig()); err != nil {
		t.Fatalf("good configuration: %v", err)
	}
	noKeys := goodConfig()
	noKeys.CookieKeys = nil
	if _, err := handlers.New(noKeys, handlers.WithClient(client), handlers.WithFlows(flows)); err != nil {
		t.Fatalf("good configuration with WithFlows: %v", err)
	}
	dev := goodConfig()
	dev.WhiteLabelURL = "http://127.0.0.1:8081/white-label"
	dev.ReturnURL = "http://localhost:8080/connections/return"
	if _, err := handlers.New(dev); err != nil {
		t.Errorf("plain http on loopback (development): %v", err)
	}

	for _, tc := range []struct {
		name string
		cfg  func(*handlers.Config)
		opts []handlers.Option
		want string
	}{
		{name: "no white-label URL", cfg: func(c *handlers.Config) { c.WhiteLabelURL = "" }, want: "Config.WhiteLabelURL"},
		{name: "no return URL", cfg: func(c *handlers.Config) { c.ReturnURL = "" }, want: "Config.ReturnURL"},
		{name: "no access token function", cfg: func(c *handlers.Config) { c.AccessToken = nil }, want: "Config.AccessToken"},
		{name: "no user function", cfg: func(c *handlers.Config) { c.User = nil }, want: "Config.User"},
		{name: "both token settings", cfg: func(c *handlers.Config) { c.Tokens = &bluenexus.TokenSource{} }, want: "exclusive"},
		{name: "no cookie keys", cfg: func(c *handlers.Config) { c.CookieKeys = nil }, want: "Config.CookieKeys"},
		{name: "cookie keys too short", cfg: func(c *handlers.Config) {
			c.CookieKeys = []session.KeyPair{{Hash: []byte("short"), Block: []byte("short")}}
		}, want: "Config.CookieKeys"},
		{name: "cookie keys and WithFlows", opts: []handlers.Option{handlers.WithFlows(flows)}, want: "CookieKeys and WithFlows"},
		{name: "white-label over plain http off loopback", cfg: func(c *handlers.Config) { c.WhiteLabelURL = "http://connect.example.com/" }, want: "Config.WhiteLabelURL"},
		{name: "white-label relative", cfg: func(c *handlers.Config) { c.WhiteLabelURL = "/white-label" }, want: "Config.WhiteLabelURL"},
		{name: "return URL over plain http off loopback", cfg: func(c *handlers.Config) { c.ReturnURL = "http://app.example.com/r" }, want: "Config.ReturnURL"},
		{name: "return URL with userinfo", cfg: func(c *handlers.Config) { c.ReturnURL = "https://u@app.example.com/r" }, want: "Config.ReturnURL"},
		{name: "return URL with fragment", cfg: func(c *handlers.Config) { c.ReturnURL = "https://app.example.com/r#x" }, want: "Config.ReturnURL"},
		{name: "return URI javascript", opts: []handlers.Option{handlers.WithReturnURIs("javascript:alert(1)")}, want: "WithReturnURIs"},
		{name: "return URI with fragment", opts: []handlers.Option{handlers.WithReturnURIs("yourapp://connections#x")}, want: "WithReturnURIs"},
		{name: "return URI empty", opts: []handlers.Option{handlers.WithReturnURIs("")}, want: "WithReturnURIs"},
		{name: "code param with space", opts: []handlers.Option{handlers.WithCodeParam("a b")}, want: "WithCodeParam"},
		{name: "default next off-site", opts: []handlers.Option{handlers.WithDefaultNext("//evil.example")}, want: "WithDefaultNext"},
		{name: "hook timeout negative", opts: []handlers.Option{handlers.WithHookTimeout(-1)}, want: "WithHookTimeout"},
		{name: "a WithFlows manager not from session.New", cfg: func(c *handlers.Config) { c.CookieKeys = nil },
			opts: []handlers.Option{handlers.WithFlows(&session.Manager{})}, want: "WithFlows"},

		// Every option's nil, zero or empty value.
		{name: "WithClient(nil)", opts: []handlers.Option{handlers.WithClient(nil)}, want: "WithClient"},
		{name: "WithFlows(nil)", cfg: func(c *handlers.Config) { c.CookieKeys = nil }, opts: []handlers.Option{handlers.WithFlows(nil)}, want: "WithFlows"},
		{name: "WithClientIP(nil)", opts: []handlers.Option{handlers.WithClientIP(nil)}, want: "WithClientIP"},
		{name: "WithOnReturn(nil)", opts: []handlers.Option{handlers.WithOnReturn(nil)}, want: "WithOnReturn"},
		{name: "WithErrorHandler(nil)", opts: []handlers.Option{handlers.WithErrorHandler(nil)}, want: "WithErrorHandler"},
		{name: "WithLogger(zero Logger)", opts: []handlers.Option{handlers.WithLogger(zerolog.Logger{})}, want: "WithLogger"},
		{name: "WithCodeParam(empty)", opts: []handlers.Option{handlers.WithCodeParam("")}, want: "WithCodeParam"},
		{name: "WithDefaultNext(empty)", opts: []handlers.Option{handlers.WithDefaultNext("")}, want: "WithDefaultNext"},
		{name: "WithHookTimeout(0)", opts: []handlers.Option{handlers.WithHookTimeout(0)}, want: "WithHookTimeout"},
		{name: "WithObserver(nil)", opts: []handlers.Option{handlers.WithObserver(nil)}, want: "WithObserver"},
		{name: "WithReturnURIs()", opts: []handlers.Option{handlers.WithReturnURIs()}, want: "WithReturnURIs"},
		{name: "nil Option", opts: []handlers.Option{nil}, want: "nil Option"},
		{name: "a bad option after good ones", opts: []handlers.Option{handlers.WithLogger(zerolog.Nop()), handlers.WithObserver(nil)}, want: "WithObserver"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := goodConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			kit, err := handlers.New(cfg, tc.opts...)
			if err == nil || !strings.HasPrefix(err.Error(), "handlers: ") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one naming %s", err, tc.want)
			}
			if kit != nil {
				t.Error("New returned a Kit with its error")
			}
		})
	}
}

// TestHookErrorIsHookFailed: whatever a failing hook's error wraps (a flow
// error, a BlueNexus timeout, a context error), the return ends as
// hook_failed, 500: the outcome is decided where the hook failed, not by
// matching the error against a list afterwards.
func TestHookErrorIsHookFailed(t *testing.T) {
	for _, inner := range []error{flow.ErrExpired, session.ErrUnavailable, flow.ErrReplayed, flow.ErrNoFlow,
		bluenexus.ErrTimeout, bluenexus.ErrCircuitOpen, context.DeadlineExceeded, context.Canceled} {
		t.Run(inner.Error(), func(t *testing.T) {
			var got error
			h := newHarness(t, harnessConfig{
				mount:     "chi",
				hook:      func(context.Context, handlers.ReturnEvent) error { return fmt.Errorf("refreshing: %w", inner) },
				hookFails: true,
				kitOpts: []handlers.Option{handlers.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {
					got = err
					handlers.DefaultErrorHandler(w, r, err)
				})},
			})
			back := h.complete(h.startFlow(""))
			resp, body := h.get(back, "Accept", "application/json")
			if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(body, `"error":"hook_failed"`) {
				t.Fatalf("status %d body %s, want 500 hook_failed", resp.StatusCode, body)
			}
			var e *handlers.Error
			if !errors.As(got, &e) || e.Outcome != "hook_failed" || e.Status != http.StatusInternalServerError || !errors.Is(got, inner) {
				t.Errorf("error handler got %v, want a hook_failed *Error wrapping %v", got, inner)
			}
		})
	}
}
