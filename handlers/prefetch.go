package handlers

import (
	"net/http"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// isPrefetch reports whether r is a speculative fetch rather than the
// user's navigation: a Sec-Purpose (speculation rules: "prefetch",
// "prefetch;prerender") or a legacy Purpose (Chrome's link prefetch)
// header that starts with "prefetch".
func isPrefetch(r *http.Request) bool {
	for _, name := range [...]string{"Sec-Purpose", "Purpose"} {
		for _, v := range r.Header.Values(name) {
			if len(v) >= len("prefetch") && strings.EqualFold(v[:len("prefetch")], "prefetch") {
				return true
			}
		}
	}
	return false
}

// declinePrefetch answers a prefetch of /manage-connections with a bare 503
// (no-store, from noStore): no code, no flow, no cookie, no upstream call.
// A browser discards a prefetch that is not 2xx and sends the real
// navigation to the server, which mints then. No Retry-After: Chrome would
// hold back every prefetch to the site for that long. docs/operations.md
// says why 503.
func (k *Kit) declinePrefetch(w http.ResponseWriter, r *http.Request, start time.Time) {
	const status = http.StatusServiceUnavailable
	k.done(r, routeManage, "handoff.prefetch", OutcomePrefetch, status, start, zerolog.InfoLevel).Msg("prefetch declined")
	w.WriteHeader(status)
}
