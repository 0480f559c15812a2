package testkit

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// ServeAtOnce sends n requests made by req to each handler, all at the same
// time, and fails the test unless every one answers want.
func ServeAtOnce(t testing.TB, n, want int, req func() *http.Request, handlers ...http.Handler) {
	t.Helper()
	var wg sync.WaitGroup
	codes := make([]int, n*len(handlers))
	for i := range codes {
		h := handlers[i%len(handlers)]
		wg.Go(func() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req())
			codes[i] = rec.Code
		})
	}
	wg.Wait()
	for i, c := range codes {
		if c != want {
			t.Fatalf("request %d: %d, want %d", i, c, want)
		}
	}
}
