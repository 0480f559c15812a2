package middleware

import "net/http"

// NoStore is middleware that marks every response as uncacheable and
// refererless before next runs: Cache-Control: no-store, Pragma: no-cache,
// Referrer-Policy: no-referrer (SECURITY.md D1). Use it on routes whose
// responses or URLs carry a code or a state. next may still change the
// headers before it writes.
func NoStore(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		// One allocation for the three values; each slice is capped at its
		// own element, so a later append copies instead of overwriting.
		v := &[3]string{"no-store", "no-cache", "no-referrer"}
		h["Cache-Control"] = v[0:1:1]
		h["Pragma"] = v[1:2:2]
		h["Referrer-Policy"] = v[2:3:3]
		next.ServeHTTP(w, r)
	})
}
