package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestServesBothApps: each app answers /manage-connections with a 302 to
// the white-label page for the printed cookie, a 401 without it, and
// reports its stats.
func TestServesBothApps(t *testing.T) {
	for _, app := range []string{"kit", "baseline"} {
		t.Run(app, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			ready := make(chan string, 1)
			done := make(chan error, 1)
			go func() { done <- run(ctx, []string{"-app", app}, io.Discard, ready) }()
			defer func() {
				cancel()
				if err := <-done; err != nil {
					t.Error(err)
				}
			}()
			u := <-ready
			hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			defer hc.CloseIdleConnections()
			for _, tc := range []struct {
				cookie string
				want   int
			}{{userCookie, http.StatusFound}, {"", http.StatusUnauthorized}} {
				req, _ := http.NewRequest(http.MethodGet, u, nil)
				if tc.cookie != "" {
					req.Header.Set("Cookie", tc.cookie)
				}
				resp, err := hc.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != tc.want {
					t.Fatalf("cookie %q: status %d, want %d", tc.cookie, resp.StatusCode, tc.want)
				}
				if tc.want == http.StatusFound && !strings.Contains(resp.Header.Get("Location"), "/white-label?") {
					t.Errorf("Location %q is not the white-label page", resp.Header.Get("Location"))
				}
			}
			resp, err := hc.Get(strings.TrimSuffix(u, "/manage-connections") + "/debug/stats")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var stats struct {
				App          string `json:"app"`
				HandoffInits int    `json:"handoffInits"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&stats); err != nil || stats.App != app || stats.HandoffInits != 1 {
				t.Errorf("stats %+v (%v), want app %s with 1 handoff init", stats, err, app)
			}
		})
	}
	if err := run(context.Background(), []string{"-app", "other"}, io.Discard, nil); err == nil {
		t.Error("-app other accepted")
	}
}
