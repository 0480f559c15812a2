package bluenexustest

import (
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"unicode"
)

// FuzzCheckRedirectURI checks that every accepted redirectUri keeps the
// promised properties (SECURITY.md B6, B7): it parses, is absolute and
// hierarchical, has no fragment, user information, whitespace or control
// characters, uses no denied scheme, and plain http only reaches loopback.
func FuzzCheckRedirectURI(f *testing.F) {
	for _, s := range []string{
		"https://app.example.com/return?state=x", "http://127.0.0.1:8080/cb", "http://localhost/cb",
		"http://[::1]/cb", "yourapp://connections", "com.example.app:/cb", "javascript:alert(1)",
		"https://a@b.example/", "https://b.example/#x", "http://10.0.0.1/", "data:,x", "c:/x",
		"https://b.example\\@evil.example", "HTTP://LOCALHOST./", "http://127.1/", "http://0x7f.1/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if msg := checkRedirectURI(raw); msg != "" {
			if !strings.HasPrefix(msg, "redirectUri ") {
				t.Errorf("message %q does not name the field", msg)
			}
			return
		}
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("accepted unparsable %q: %v", raw, err)
		}
		if u.Scheme == "" || u.Opaque != "" || u.User != nil || strings.ContainsAny(raw, "#\\") || deniedSchemes[u.Scheme] {
			t.Fatalf("accepted %q", raw)
		}
		for _, c := range raw {
			if unicode.IsSpace(c) || unicode.IsControl(c) {
				t.Fatalf("accepted %q with %U", raw, c)
			}
		}
		switch u.Scheme {
		case "http":
			if !isLoopbackHost(u.Hostname()) {
				t.Fatalf("accepted non-loopback http %q", raw)
			}
		case "https":
			if u.Hostname() == "" {
				t.Fatalf("accepted https without host %q", raw)
			}
		}
	})
}

// FuzzParseIP checks the client-IP header parser (SECURITY.md A4, A5):
// accepted values are one valid, specified, unmapped IP without a zone, and
// the canonical form parses back to itself.
func FuzzParseIP(f *testing.F) {
	for _, s := range []string{"203.0.113.7", "::1", "::ffff:10.0.0.5", "fe80::1%eth0", "010.001.002.003",
		"3627734734", "0.0.0.0", "::", "1.2.3.4:80", "[::1]", "unknown", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ip, ok := parseIP(s)
		if !ok {
			return
		}
		if !ip.IsValid() || ip.IsUnspecified() || ip.Is4In6() || ip.Zone() != "" {
			t.Fatalf("parseIP(%q) = %v", s, ip)
		}
		again, ok := parseIP(ip.String())
		if !ok || again != ip {
			t.Fatalf("not idempotent: %q -> %v -> %v", s, ip, again)
		}
		if want, err := netip.ParseAddr(s); err != nil || want.Unmap().WithZone("") != ip {
			t.Fatalf("parseIP(%q) = %v, ParseAddr says %v %v", s, ip, want, err)
		}
	})
}
