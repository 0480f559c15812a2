package demoapp

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/handoffkit/handoffkit/handlers"
)

// TestKitErrorKeepsRetryAfter: the app's own error page passes on the
// kit's Retry-After, as the kit's default page does, so that a user (and
// a load balancer) told 503 knows when to try again.
func TestKitErrorKeepsRetryAfter(t *testing.T) {
	pages, err := newPages()
	if err != nil {
		t.Fatal(err)
	}
	a := &App{pages: pages, journeys: map[string]*Journey{}}
	for _, tc := range []struct {
		err  *handlers.Error
		want string
	}{
		{&handlers.Error{Outcome: "state_unavailable", Status: http.StatusServiceUnavailable, RetryAfter: time.Second}, "1"},
		{&handlers.Error{Outcome: "unavailable", Status: http.StatusServiceUnavailable, RetryAfter: 1500 * time.Millisecond}, "2"},
		{&handlers.Error{Outcome: "no_flow", Status: http.StatusForbidden}, ""},
	} {
		rec := httptest.NewRecorder()
		a.kitError(rec, httptest.NewRequest(http.MethodGet, "/connections/return", nil), tc.err)
		if rec.Code != tc.err.Status || rec.Header().Get("Retry-After") != tc.want {
			t.Errorf("%s: %d, Retry-After %q; want %d, %q", tc.err.Outcome, rec.Code, rec.Header().Get("Retry-After"), tc.err.Status, tc.want)
		}
	}
}
