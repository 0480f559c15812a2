package handlers_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/handoffkit/handoffkit/internal/testkit"
)

// BenchmarkManageTokens is /manage-connections on a token source against
// the emulator over loopback: with the cached token fresh (the common
// case), and with it expired at every request, so each request is a
// refresh (the token call and the save) followed by the mint. The
// difference is what a refresh adds to a handoff:
//
//	go test -run '^$' -bench ManageTokens -benchmem ./handlers/ | benchstat -col /token -
func BenchmarkManageTokens(b *testing.B) {
	for _, tc := range []struct {
		name    string
		advance time.Duration
	}{{"token=fresh", 0}, {"token=refresh", 15 * time.Minute}} {
		b.Run(tc.name, func(b *testing.B) {
			clock := testkit.NewClock(time.Now())
			h := newHarness(b, harnessConfig{mount: "chi", tokens: true, clock: clock.Now})
			manage := h.manageHandler(h.kit)
			b.ReportAllocs()
			for b.Loop() {
				clock.Advance(tc.advance)
				rec := httptest.NewRecorder()
				manage.ServeHTTP(rec, manageRequest())
				if rec.Code != http.StatusFound {
					b.Fatalf("status %d", rec.Code)
				}
			}
		})
	}
}
