package handlers

import (
	"net/http"
	"strings"
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
