package handlers_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/handlers"
	"github.com/handoffkit/handoffkit/session"
)

// TestNewRejectsBadConfiguration: bad configuration fails at construction
// with an error naming the option.
func TestNewRejectsBadConfiguration(t *testing.T) {
	client, err := bluenexus.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	store, err := session.NewCookieStore(testKeys)
	if err != nil {
		t.Fatal(err)
	}
	flows, err := session.New(store)
	if err != nil {
		t.Fatal(err)
	}
	token := handlers.WithAccessToken(func(*http.Request) (bluenexus.AccessToken, bool) { return "", false })
	good := []handlers.Option{
		handlers.WithWhiteLabelURL("https://connect.example.com/"),
		handlers.WithReturnURL("https://app.example.com/connections/return"),
		token,
	}
	if _, err := handlers.New(client, flows, good...); err != nil {
		t.Fatalf("good configuration: %v", err)
	}
	for _, tc := range []struct {
		name string
		opts []handlers.Option
		want string
	}{
		{"no white-label URL", []handlers.Option{handlers.WithReturnURL("https://app.example.com/r"), token}, "WithWhiteLabelURL"},
		{"no return URL", []handlers.Option{handlers.WithWhiteLabelURL("https://connect.example.com/"), token}, "WithReturnURL"},
		{"no access token", []handlers.Option{handlers.WithWhiteLabelURL("https://connect.example.com/"), handlers.WithReturnURL("https://app.example.com/r")}, "WithAccessToken"},
		{"white-label over plain http off loopback", append(good, handlers.WithWhiteLabelURL("http://connect.example.com/")), "WithWhiteLabelURL"},
		{"return URL over plain http off loopback", append(good, handlers.WithReturnURL("http://app.example.com/r")), "WithReturnURL"},
		{"return URL with userinfo", append(good, handlers.WithReturnURL("https://u@app.example.com/r")), "WithReturnURL"},
		{"return URI javascript", append(good, handlers.WithReturnURIs("javascript:alert(1)")), "WithReturnURIs"},
		{"return URI with fragment", append(good, handlers.WithReturnURIs("yourapp://connections#x")), "WithReturnURIs"},
		{"code param with space", append(good, handlers.WithCodeParam("a b")), "WithCodeParam"},
		{"default next off-site", append(good, handlers.WithDefaultNext("//evil.example")), "WithDefaultNext"},
		{"hook timeout zero", append(good, handlers.WithHookTimeout(0)), "WithHookTimeout"},
		{"min code life too long", append(good, handlers.WithMinCodeLife(30_000_000_000)), "WithMinCodeLife"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := handlers.New(client, flows, tc.opts...)
			if err == nil || !strings.HasPrefix(err.Error(), "handlers: ") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one naming %s", err, tc.want)
			}
		})
	}
	if _, err := handlers.New(client, flows, append(good, handlers.WithWhiteLabelURL("http://127.0.0.1:8081/white-label"))...); err != nil {
		t.Errorf("plain http on loopback (development): %v", err)
	}
}

// TestOutcomeOfHookFirst: a hook error is hook_failed whatever it wraps.
func TestOutcomeOfHookFirst(t *testing.T) {
	for _, inner := range []error{session.ErrExpired, session.ErrUnavailable, bluenexus.ErrTimeout, context.DeadlineExceeded} {
		err := fmt.Errorf("%w: %w", handlers.ErrHook, inner)
		if got := handlers.OutcomeOf(err); got != handlers.OutcomeHookFailed {
			t.Errorf("OutcomeOf(hook error wrapping %v) = %s, want hook_failed", inner, got)
		}
		if got := handlers.StatusOf(err); got != http.StatusInternalServerError {
			t.Errorf("StatusOf(hook error wrapping %v) = %d, want 500", inner, got)
		}
	}
	if got := handlers.OutcomeOf(errors.New("anything else")); got != handlers.OutcomeUpstreamError {
		t.Errorf("unclassified error: %s", got)
	}
}
