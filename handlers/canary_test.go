package handlers_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/handoffkit/handoffkit/bluenexus/bluenexustest"
	"github.com/handoffkit/handoffkit/handlers"
)

// TestCanaryInNoLog is a second check, independent of TestD2_NoSecretLeaks,
// of "no secret in any log" (docs/SECURITY.md D2): a canary access token,
// and every state and code of the run, go through both routes and most
// outcomes, including a hook whose error quotes them all; then neither the
// kit's log, nor the observer's events, nor the errors the error handler
// got hold any of them.
func TestCanaryInNoLog(t *testing.T) {
	const canary = "CANARYtokenCANARYtokenCANARY0123456789"
	var secrets []string
	hookErr := false
	var r *rig
	r = newRig(t, rigConfig{token: canary, kitOpts: []handlers.Option{handlers.WithHookErrorsLogged()},
		hook: func(ctx context.Context, ev handlers.ReturnEvent) error {
			if !hookErr {
				return nil
			}
			tok, err := ev.AccessToken(ctx)
			return fmt.Errorf("hook: %s %s %s: %w", tok, ev.Request.URL.String(), strings.Join(secrets, ","), err)
		}})
	keep := func(wl, back string) {
		secrets = append(secrets, mustQuery(t, wl, "code"))
		if back != "" {
			secrets = append(secrets, mustQuery(t, back, "state"), back)
		}
	}
	flow := func() string {
		wl := r.startFlow("?next=/after")
		back := r.complete(wl)
		keep(wl, back)
		return back
	}

	back := flow()
	r.get(back) // success
	r.get(back) // replayed
	r.get(strings.Replace(back, "state=", "state=A", 1))
	r.get(back + "&state=x")
	hookErr = true
	r.get(flow()) // hook_failed, logged
	hookErr = false
	r.emu.ReturnWithError("access_denied", "cancelled")
	r.get(flow())
	r.manage(hdrNoToken, "1")
	r.manage(hdrNoIP, "1")
	r.manage("Sec-Purpose", "prefetch")
	r.manage("Accept", "application/json")
	r.emu.InjectAlways(bluenexustest.PathHandoffInit, bluenexustest.Status(401))
	r.manage()
	r.emu.InjectAlways(bluenexustest.PathHandoffInit, bluenexustest.Status(500))
	r.manage()
	r.emu.ClearFaults()

	_, outcomes, classes := r.obs.snapshot()
	var seen strings.Builder
	seen.WriteString(r.log.String())
	fmt.Fprint(&seen, outcomes, classes, r.obs.tokens)
	for _, err := range r.errs.all() {
		seen.WriteString(err.Error())
	}
	for _, want := range []string{"return/success", "return/replayed", "return/hook_failed", "return/bluenexus_error", "manage/no_client_ip", "manage/token_expired", "manage/upstream_error", "manage/prefetch"} {
		if !strings.Contains(fmt.Sprint(outcomes), want) {
			t.Errorf("the run never reached %s: %v", want, outcomes)
		}
	}
	for _, s := range append(secrets, canary) {
		if s == "" {
			t.Fatal("an empty secret")
		}
		if strings.Contains(seen.String(), s) {
			t.Errorf("a log, event or error holds %q", s)
		}
	}
	if !strings.Contains(seen.String(), "hook: [REDACTED]") {
		t.Errorf("the hook's error was not logged:\n%s", r.log.String())
	}
}
