package handlers

import "net/http"

// noStore is middleware that marks every response as uncacheable and
// refererless before next runs: Cache-Control: no-store, Pragma: no-cache,
// Referrer-Policy: no-referrer (SECURITY.md D1). Both routes use it:
// their responses or URLs carry a code or a state. next may still change the
// headers before it writes.
func noStore(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("Pragma", "no-cache")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}
