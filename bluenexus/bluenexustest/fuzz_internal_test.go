package bluenexustest

import (
	"encoding/base64"
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
// Past the default allowed domains, an http or https redirectUri names a
// loopback host or one of the listed test hosts, never anything else.
func FuzzCheckRedirectURI(f *testing.F) {
	defaults, err := parseDomains(defaultDomains)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		"https://app.example.com/return?state=x", "http://127.0.0.1:8080/cb", "http://localhost/cb",
		"http://[::1]/cb", "yourapp://connections", "com.example.app:/cb", "javascript:alert(1)",
		"https://a@b.example/", "https://b.example/#x", "http://10.0.0.1/", "data:,x", "c:/x",
		"https://b.example\\@evil.example", "HTTP://LOCALHOST./", "http://127.1/", "http://0x7f.1/",
		"https://app.example.com./r", "https://APP.EXAMPLE/r", "https://app.example.com.evil.example/",
		"https://[::ffff:127.0.0.1]/", "https://127.0.0.1%2f@evil.example/", "https://%61pp.example/",
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
		if msg := defaults.check(raw); msg != "" {
			if !strings.HasPrefix(msg, "redirectUri ") {
				t.Errorf("message %q does not name the field", msg)
			}
			return
		}
		if s := strings.ToLower(u.Scheme); s == "http" || s == "https" {
			host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
			ip, err := netip.ParseAddr(host)
			if !(host == "localhost" || host == "app.example.com" || host == "app.example" || (err == nil && ip.Unmap().IsLoopback())) {
				t.Fatalf("default domains let %q through (host %q)", raw, host)
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

// FuzzDecodeBasic checks the token endpoint's reader of HTTP Basic client
// credentials (RFC 6749 section 2.3.1): it never panics, and what it
// accepts encodes back, the way bluenexus.WithClientCredentials sends it,
// to credentials it reads as the same id and secret.
func FuzzDecodeBasic(f *testing.F) {
	for _, s := range []string{
		base64.StdEncoding.EncodeToString([]byte("bluenexus-emulator:bluenexus-emulator-secret")),
		base64.StdEncoding.EncodeToString([]byte("my+app:s3cr%3At%26")),
		base64.StdEncoding.EncodeToString([]byte("no-colon")),
		base64.StdEncoding.EncodeToString([]byte("bad%zz:x")),
		base64.StdEncoding.EncodeToString([]byte(":")),
		"!!!", "", " YTpi ",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, creds string) {
		id, secret, ok := decodeBasic(creds)
		if !ok {
			if id != "" || secret != "" {
				t.Fatalf("refused %q but returned %q %q", creds, id, secret)
			}
			return
		}
		again := base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id) + ":" + url.QueryEscape(secret)))
		id2, secret2, ok := decodeBasic(again)
		if !ok || id2 != id || secret2 != secret {
			t.Fatalf("%q -> %q %q -> %q -> %q %q %v", creds, id, secret, again, id2, secret2, ok)
		}
	})
}
