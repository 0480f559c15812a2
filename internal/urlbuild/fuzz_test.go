package urlbuild

import (
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

// appBase is the page a next path is resolved against in the oracles.
var appBase = &url.URL{Scheme: "https", Host: "app.example", Path: "/connections/return"}

// browserView is next as a WHATWG URL parser reads it for an http(s) base:
// tabs and newlines deleted, backslashes read as slashes.
var browserView = strings.NewReplacer("\t", "", "\n", "", "\r", "", "\\", "/")

// checkNextOracle fails t unless the accepted next stays on appBase's origin
// however it is read: by net/url, by a browser, and fully percent-decoded.
func checkNextOracle(t testing.TB, next string) {
	t.Helper()
	if next == "" || len(next) > maxNext {
		t.Fatalf("accepted next of length %d", len(next))
	}
	u, err := url.Parse(next)
	if err != nil {
		t.Fatalf("accepted next %q does not parse: %v", next, err)
	}
	r := appBase.ResolveReference(u)
	if r.Scheme != appBase.Scheme || r.Host != appBase.Host || r.User != nil || u.Scheme != "" || u.Host != "" {
		t.Fatalf("accepted next %q leaves the origin: %s", next, r)
	}
	if b := browserView.Replace(next); !strings.HasPrefix(b, "/") || strings.HasPrefix(b, "//") {
		t.Fatalf("accepted next %q reads as %q in a browser", next, b)
	}
	if d, err := url.PathUnescape(next); err != nil || strings.Contains(d, "%") {
		t.Fatalf("accepted next %q needs more than one decoding: %q, %v", next, d, err)
	}
	d := next
	for range 5 {
		dd, err := url.PathUnescape(d)
		if err != nil || dd == d {
			break
		}
		d = dd
	}
	if strings.Contains(d, "//") || strings.ContainsAny(d, "\\\t\n\r\x00") {
		t.Fatalf("accepted next %q decodes to %q", next, d)
	}
	for i := 0; i < len(next); i++ {
		if next[i] <= ' ' || next[i] >= 0x7f {
			t.Fatalf("accepted next %q has byte %#x", next, next[i])
		}
	}
}

// checkReturnURIOracle fails t unless the accepted raw is a well-formed
// absolute URI that the scheme rules allow, and an allowlist of it matches it.
func checkReturnURIOracle(t testing.TB, raw string) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("accepted %q does not parse: %v", raw, err)
	}
	if u.String() != raw {
		t.Fatalf("accepted %q prints as %q", raw, u.String())
	}
	if u.User != nil || u.Fragment != "" || strings.Contains(raw, "#") || u.Opaque != "" {
		t.Fatalf("accepted %q has userinfo, a fragment or an opaque part", raw)
	}
	if strings.ContainsAny(raw, " \t\r\n\\") {
		t.Fatalf("accepted %q has whitespace or a backslash", raw)
	}
	switch u.Scheme {
	case "https":
		if u.Hostname() == "" {
			t.Fatalf("accepted https %q without a host", raw)
		}
	case "http":
		h := u.Hostname()
		a, err := netip.ParseAddr(h)
		if h != "localhost" && (err != nil || !a.IsLoopback() || a.Is4In6()) {
			t.Fatalf("accepted http %q off loopback", raw)
		}
	case "", "javascript", "data", "file", "vbscript", "blob", "about":
		t.Fatalf("accepted %q with scheme %q", raw, u.Scheme)
	default:
		if len(u.Scheme) < 2 {
			t.Fatalf("accepted %q with one-letter scheme", raw)
		}
	}
}

func FuzzCheckNext(f *testing.F) {
	for _, s := range []string{"/", "/settings?tab=connections#x", "/a%2525", "/a%20b", "//evil.example", "/%5cevil", "/\t/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, next string) {
		if CheckNext(next) == nil {
			checkNextOracle(t, next)
		}
	})
}

func FuzzCheckReturnURI(f *testing.F) {
	for _, s := range []string{"https://app.example/return", "http://[::1]:3000/", "myapp://connections", "javascript:alert(1)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		err := CheckReturnURI(raw, false)
		if err == nil {
			checkReturnURIOracle(t, raw)
		}
	})
}

func FuzzWithParam(f *testing.F) {
	f.Add("https://connect.example.com/wl?a=1&code=2", "code", "abc")
	f.Add("myapp://x?state=1#f", "state", "a b&c")
	f.Fuzz(func(t *testing.T, base, param, code string) {
		b, err := url.Parse(base)
		if err != nil || param == "" || b.Scheme == "" || b.Host == "" {
			return
		}
		if _, err := url.Parse(b.String()); err != nil {
			return
		}
		checkWithParam(t, base, param, code, WithParam(b, param, code))
	})
}
