package handlers_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/handoffkit/handoffkit/bluenexus/bluenexustest"
	"github.com/handoffkit/handoffkit/handlers"
	"github.com/handoffkit/handoffkit/internal/testkit"
)

// TestPrefetchMintsNothing: a prefetch of /manage-connections (speculation
// rules' Sec-Purpose, Chrome's legacy Purpose) answers a bare 503, no-store:
// no code, no call to BlueNexus, no cookie, no hook; the outcome is logged
// and counted. The user's real click afterwards mints as usual.
func TestPrefetchMintsNothing(t *testing.T) {
	for _, hdr := range [][2]string{
		{"Sec-Purpose", "prefetch"},
		{"Sec-Purpose", "prefetch;prerender"},
		{"Sec-Purpose", "Prefetch; anonymous-client-ip"},
		{"Purpose", "prefetch"},
	} {
		t.Run(hdr[0]+": "+hdr[1], func(t *testing.T) {
			var logs testkit.SyncBuffer
			obs := &rigObserver{}
			h := newHarness(t, harnessConfig{mount: "chi", tokens: true,
				kitOpts: []handlers.Option{handlers.WithObserver(obs), handlers.WithLogger(zerolog.New(&logs))}})
			tokenHits := h.emu.Hits(bluenexustest.PathToken)
			for _, accept := range []string{"text/html", "application/json"} {
				resp, body := h.get(h.app.URL+"/manage-connections?next=/settings", hdr[0], hdr[1], "Accept", accept)
				if resp.StatusCode != http.StatusServiceUnavailable || body != "" || resp.Header.Get("Retry-After") != "" {
					t.Fatalf("prefetch (%s): %d %q, Retry-After %q; want a bare 503", accept, resp.StatusCode, body, resp.Header.Get("Retry-After"))
				}
				assertNoStore(t, resp)
				if c := resp.Header.Values("Set-Cookie"); len(c) != 0 {
					t.Errorf("prefetch set cookies: %q", c)
				}
			}
			if n, m := h.emu.Hits(bluenexustest.PathHandoffInit), h.emu.Hits(bluenexustest.PathToken)-tokenHits; n != 0 || m != 0 {
				t.Errorf("prefetches made %d handoff init and %d token calls, want none", n, m)
			}
			minted, outcomes, _ := obs.snapshot()
			if minted != 0 || strings.Join(outcomes, ",") != "manage/prefetch,manage/prefetch" {
				t.Errorf("observed %d mints, outcomes %v", minted, outcomes)
			}
			if got := logs.String(); strings.Count(got, `"outcome":"prefetch"`) != 2 || !strings.Contains(got, `"status":503`) {
				t.Errorf("logs = %s", got)
			}

			// The real click mints, and the flow completes once.
			back := h.complete(h.startFlow("?next=/settings"), "google")
			if resp, _ := h.get(back); resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("return: %d, want 303", resp.StatusCode)
			}
			if n := h.hooks.Load(); n != 1 {
				t.Errorf("hook ran %d times, want 1", n)
			}
		})
	}
}
