package testkit

import (
	"strings"
	"testing"
)

// CheckCookieAttrs fails t unless the Set-Cookie header carries every
// attribute in want and none in not. An attribute matches by its whole text
// ("SameSite=Lax") or by its name ("Domain").
func CheckCookieAttrs(t testing.TB, header string, want, not []string) {
	t.Helper()
	attrs := map[string]bool{}
	for _, a := range strings.Split(header, "; ")[1:] {
		attrs[a] = true
		k, _, _ := strings.Cut(a, "=")
		attrs[k] = true
	}
	for _, a := range want {
		if !attrs[a] {
			t.Errorf("Set-Cookie %q lacks %s", header, a)
		}
	}
	for _, a := range not {
		if attrs[a] {
			t.Errorf("Set-Cookie %q has %s", header, a)
		}
	}
}
