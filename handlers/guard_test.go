package handlers_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/handoffkit/handoffkit/handlers"
	"github.com/handoffkit/handoffkit/internal/replay"
	"github.com/handoffkit/handoffkit/internal/testkit"
	"github.com/handoffkit/handoffkit/session"
)

// TestGuardUnderPressure: when the in-memory replay guard is full it drops
// the entries that expire first and refuses, as expired, flows issued
// before them: fresh flows still return, replays are still refused, and
// the refusal is heard (Warn, with a hint) and counted.
func TestGuardUnderPressure(t *testing.T) {
	clock := testkit.NewClock(time.Now())
	var logs testkit.SyncBuffer
	obs := &rigObserver{}
	h := newHarness(t, harnessConfig{mount: "chi", clock: clock.Now,
		sessionOpts: []session.Option{session.WithClock(clock.Now), session.WithReplayGuard(replay.New(clock.Now, 3))},
		kitOpts:     []handlers.Option{handlers.WithObserver(obs), handlers.WithLogger(zerolog.New(&logs))},
	})
	// Five flows in this browser, one a second; the oldest's return is kept
	// back.
	backs := make([]string, 5)
	for i := range backs {
		backs[i] = h.complete(h.startFlow(""))
		clock.Advance(time.Second)
	}
	for i := 1; i <= 3; i++ { // fills the guard: 3 entries
		if resp, _ := h.get(backs[i]); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("return %d: %d, want 303", i, resp.StatusCode)
		}
	}
	// The guard is full: the fifth, the newest, still returns; the guard
	// drops what expires first.
	if resp, _ := h.get(backs[4]); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("fresh return with the guard full: %d, want 303", resp.StatusCode)
	}
	// The first flow, issued before the dropped entries, is refused as
	// expired: the effective TTL shrank.
	resp, body := h.get(backs[0], "Accept", "application/json")
	if resp.StatusCode != http.StatusGone || !strings.Contains(body, `"expired"`) {
		t.Fatalf("older flow under pressure: %d %s, want 410 expired", resp.StatusCode, body)
	}
	// A replay of a dropped state is refused too, never accepted.
	if resp, _ := h.get(backs[1]); resp.StatusCode != http.StatusGone && resp.StatusCode != http.StatusForbidden {
		t.Fatalf("replay of a dropped state: %d, want 410 or 403", resp.StatusCode)
	}
	if h.hooks.Load() != 4 {
		t.Errorf("hook ran %d times, want 4", h.hooks.Load())
	}
	obs.mu.Lock()
	pressure := obs.pressure
	obs.mu.Unlock()
	if pressure < 1 {
		t.Error("the observer heard no guard pressure")
	}
	if !strings.Contains(logs.String(), `"level":"warn"`) || !strings.Contains(logs.String(), "replay guard is full") {
		t.Errorf("no warning with a hint in the log:\n%s", logs.String())
	}
}
