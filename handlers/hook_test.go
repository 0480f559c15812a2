package handlers_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/handoffkit/handoffkit/handlers"
	"github.com/handoffkit/handoffkit/internal/testkit"
)

// TestHookErrorScrubbed: a hook whose error holds the state, the code, the
// access token the kit handed it and the return URL with its query is
// logged (WithHookErrorsLogged) and handed to the error handler without any
// of them.
func TestHookErrorScrubbed(t *testing.T) {
	for _, logged := range []bool{true, false} {
		t.Run(fmt.Sprint("logged=", logged), func(t *testing.T) {
			var logs testkit.SyncBuffer
			var handled error
			var back, code string
			opts := []handlers.Option{
				handlers.WithLogger(zerolog.New(&logs)),
				handlers.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {
					handled = err
					handlers.DefaultErrorHandler(w, r, err)
				}),
			}
			if logged {
				opts = append(opts, handlers.WithHookErrorsLogged())
			}
			h := newHarness(t, harnessConfig{mount: "chi", hookFails: true, kitOpts: opts,
				hook: func(ctx context.Context, ev handlers.ReturnEvent) error {
					tok, err := ev.AccessToken(ctx)
					if err != nil {
						return err
					}
					state := ev.Request.URL.Query().Get("state")
					return fmt.Errorf("refresh failed for state=%s code %s token %s at %s: %w", state, code, tok, back, errors.ErrUnsupported)
				}})
			wl := h.startFlow("?next=/after")
			u, err := url.Parse(wl)
			if err != nil {
				t.Fatal(err)
			}
			code = u.Query().Get("code")
			back = h.complete(wl)
			state := mustQuery(t, back, "state")
			resp, _ := h.get(back)
			want := http.StatusInternalServerError
			if logged {
				want = http.StatusSeeOther
			}
			if resp.StatusCode != want {
				t.Fatalf("return: %d, want %d", resp.StatusCode, want)
			}
			out := logs.String()
			if !strings.Contains(out, "hook_failed") {
				t.Fatalf("no hook_failed in the log:\n%s", out)
			}
			if logged && !strings.Contains(out, "refresh failed for state=[REDACTED]") {
				t.Errorf("the hook's error is not logged:\n%s", out)
			}
			if !errors.Is(handled, errors.ErrUnsupported) && !logged {
				t.Errorf("error handler got %v, want it to wrap the hook's error", handled)
			}
			for name, secret := range map[string]string{"state": state, "code": code, "token": string(h.token), "query": "?state="} {
				if secret == "" {
					t.Fatalf("no %s to look for", name)
				}
				if strings.Contains(out, secret) {
					t.Errorf("the log holds the %s:\n%s", name, out)
				}
				if handled != nil && strings.Contains(handled.Error(), secret) {
					t.Errorf("the error handler's error holds the %s: %v", name, handled)
				}
			}
		})
	}
}

// TestHookOverrunIsHookFailed: a hook that overran WithHookTimeout failed,
// even when it returns nil afterwards (docs/operations.md: hook_failed is
// "the hook failed or timed out").
func TestHookOverrunIsHookFailed(t *testing.T) {
	for _, logged := range []bool{true, false} {
		t.Run(fmt.Sprint("logged=", logged), func(t *testing.T) {
			opts := []handlers.Option{handlers.WithHookTimeout(time.Millisecond)}
			if logged {
				opts = append(opts, handlers.WithHookErrorsLogged())
			}
			h := newHarness(t, harnessConfig{mount: "chi", hookFails: true, kitOpts: opts,
				hook: func(ctx context.Context, _ handlers.ReturnEvent) error {
					<-ctx.Done() // the deadline passes
					return nil
				}})
			resp, body := h.get(h.complete(h.startFlow("?next=/late")))
			if logged {
				if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/late" || flashOf(resp) != "hook_failed" {
					t.Fatalf("return: %d to %q flash %q, want 303 to /late with hook_failed", resp.StatusCode, resp.Header.Get("Location"), flashOf(resp))
				}
				return
			}
			if resp.StatusCode != http.StatusInternalServerError {
				t.Fatalf("return: %d %s, want 500 hook_failed", resp.StatusCode, body)
			}
		})
	}
}

func mustQuery(t *testing.T, raw, name string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get(name)
}

// TestHookReadsConnections: ev.Connections reads what the user connected
// on the white-label page, with the token of Config.AccessToken or of the
// token source.
func TestHookReadsConnections(t *testing.T) {
	for _, tokens := range []bool{false, true} {
		t.Run(fmt.Sprint("tokens=", tokens), func(t *testing.T) {
			got := make(chan []string, 1)
			h := newHarness(t, harnessConfig{mount: "chi", tokens: tokens,
				hook: func(ctx context.Context, ev handlers.ReturnEvent) error {
					conns, err := ev.Connections(ctx)
					var providers []string
					for _, c := range conns {
						providers = append(providers, c.ProviderID)
					}
					slices.Sort(providers)
					got <- providers
					return err
				}})
			resp, body := h.get(h.complete(h.startFlow(""), "google", "notion"))
			if resp.StatusCode != http.StatusSeeOther || flashOf(resp) != "success" {
				t.Fatalf("return: %d %s flash %q, want 303 success", resp.StatusCode, body, flashOf(resp))
			}
			if p := <-got; !slices.Equal(p, []string{"google", "notion"}) {
				t.Errorf("the hook read %v, want [google notion]", p)
			}
			if n := len(h.emu.Connections("alice")); n != 2 {
				t.Errorf("the emulator holds %d connections, want 2", n)
			}
		})
	}
}
