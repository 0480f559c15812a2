package bluenexus

import (
	"context"
	"testing"
	"time"

	"github.com/handoffkit/handoffkit/internal/testkit"
)

// TestMemoryLeaseRunsOutByTheStoreClock: the memory store's lease runs
// out by its own clock, at ttl and not before.
func TestMemoryLeaseRunsOutByTheStoreClock(t *testing.T) {
	ctx := context.Background()
	clock := testkit.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	s := NewMemoryTokenStore().(*memoryTokenStore)
	s.now = clock.Now
	if err := s.Save(ctx, "u", Token{AccessToken: "at", RefreshToken: "rt"}); err != nil {
		t.Fatal(err)
	}
	lease := func(holder string) bool {
		t.Helper()
		ok, err := s.Lease(ctx, "u", "rt", holder, 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !lease("h1") {
		t.Fatal("lease refused")
	}
	clock.Advance(30*time.Second - time.Nanosecond)
	if lease("h2") {
		t.Fatal("leased before the first lease ran out")
	}
	clock.Advance(time.Nanosecond)
	if !lease("h2") {
		t.Fatal("lease refused once the first ran out")
	}
}
