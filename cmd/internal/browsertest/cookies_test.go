package browsertest

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"

	"github.com/handoffkit/handoffkit/bluenexus/bluenexustest"
)

// appCookies are the app's cookie names without the __Host- prefix that
// the TLS run adds: the sign-in cookie and the kit's flash cookie. The kit
// sets no flow cookie: the state in the return URL carries the flow.
var appCookies = []string{"demo-user", "handoffkit-outcome"}

// wantName is the cookie's name in this run: __Host- prefixed over TLS.
func wantName(st *stack, base string) string {
	if st.secure {
		return "__Host-" + base
	}
	return base
}

// checkStoredCookies checks the app's cookies as the browser stored them
// (read through the DevTools protocol, HttpOnly ones included) while a flow
// was pending: the sign-in cookie, and no flow cookie; each HttpOnly, SameSite=Lax,
// Path=/, host-only, and Secure exactly when the app runs on TLS
// (SECURITY.md C1).
func checkStoredCookies(t *testing.T, st *stack, cookies []*network.Cookie) {
	t.Helper()
	seen := map[string]bool{}
	for _, c := range cookies {
		if c.Name == bluenexustest.SessionCookie {
			continue // the emulator's, on the same host (cookies ignore ports)
		}
		seen[c.Name] = true
		if !c.HTTPOnly || c.SameSite != network.CookieSameSiteLax || c.Path != "/" ||
			c.Secure != st.secure || strings.HasPrefix(c.Domain, ".") {
			t.Errorf("stored cookie %s: HttpOnly=%v SameSite=%q Path=%q Domain=%q Secure=%v; want HttpOnly, Lax, /, host-only, Secure=%v",
				c.Name, c.HTTPOnly, c.SameSite, c.Path, c.Domain, c.Secure, st.secure)
		}
	}
	for _, base := range appCookies[:1] {
		if name := wantName(st, base); !seen[name] {
			t.Errorf("the browser did not store %s (stored: %v)", name, seen)
		}
	}
	for name := range seen {
		if strings.Contains(name, "handoffkit-flow") {
			t.Errorf("the browser stored a flow cookie %s: the state carries the flow", name)
		}
	}
}

// checkSetCookies checks every Set-Cookie line the app sent during the run,
// the flash cookie included, and that the browser refused none of them.
func checkSetCookies(t *testing.T, st *stack, rec *recorder) {
	t.Helper()
	_, lines, blocked := rec.snapshot()
	for _, b := range blocked {
		t.Errorf("the browser refused a cookie: %s", b)
	}
	seen := map[string]bool{}
	for _, line := range lines {
		c, err := http.ParseSetCookie(line)
		if err != nil {
			t.Errorf("unparseable Set-Cookie for %s: %v", cookieName(line), err)
			continue
		}
		if c.Name == bluenexustest.SessionCookie {
			continue
		}
		seen[c.Name] = true
		if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" || c.Secure != st.secure {
			t.Errorf("Set-Cookie %s: HttpOnly=%v SameSite=%v Path=%q Domain=%q Secure=%v; want HttpOnly, Lax, /, no Domain, Secure=%v",
				c.Name, c.HttpOnly, c.SameSite, c.Path, c.Domain, c.Secure, st.secure)
		}
	}
	for _, base := range appCookies {
		if name := wantName(st, base); !seen[name] {
			t.Errorf("the app never set %s (set: %v)", name, seen)
		}
	}
}
