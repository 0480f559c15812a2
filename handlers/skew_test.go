package handlers_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

// TestClockSkew: with the app's clock 25 s fast or slow of BlueNexus's
// (the emulator runs on a clock offset from the app's), the code's life is
// read on BlueNexus's clock: the handoff succeeds, and the JSON answer's
// expiresAt and expiresIn give the code's true remaining life by the app's
// clock (at least the kit's 10 s minimum, at most the 30 s a code lives).
func TestClockSkew(t *testing.T) {
	for _, tc := range []struct {
		name string
		skew time.Duration // the app's clock less BlueNexus's
	}{{"app 25s fast", 25 * time.Second}, {"app 25s slow", -25 * time.Second}} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, harnessConfig{mount: "chi", clock: func() time.Time { return time.Now().Add(-tc.skew) }})
			resp, body := h.get(h.app.URL+"/manage-connections", "Accept", "application/json")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("manage: status %d: %s", resp.StatusCode, body)
			}
			var got struct {
				URL       string    `json:"url"`
				ExpiresAt time.Time `json:"expiresAt"`
				ExpiresIn int       `json:"expiresIn"`
			}
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatal(err)
			}
			date, err := http.ParseTime(resp.Header.Get("Date"))
			if err != nil {
				t.Fatal(err)
			}
			if d := got.ExpiresAt.Sub(date); d < 9*time.Second || d > 30*time.Second { // both whole seconds
				t.Errorf("expiresAt %v after the answer's Date, want 10 to 30 s", d)
			}
			if got.ExpiresIn < 10 || got.ExpiresIn > 30 {
				t.Errorf("expiresIn %d, want 10 to 30", got.ExpiresIn)
			}
			back := h.complete(got.URL, "google")
			if resp, _ := h.get(back); resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("return: status %d, want 303", resp.StatusCode)
			}
			if n := h.hooks.Load(); n != 1 {
				t.Errorf("hook ran %d times, want 1", n)
			}
		})
	}
}
