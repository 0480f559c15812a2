package urlbuild

import (
	"strings"
	"testing"
)

func TestCheckReturnURI_B6(t *testing.T) {
	tests := []struct {
		name string
		uri  string
		ok   bool
	}{
		{"https", "https://app.example.com/connections/return", true},
		{"https with query", "https://app.example.com/return?src=bn", true},
		{"https with port", "https://app.example.com:8443/return", true},
		{"https no path", "https://app.example.com", true},
		{"https IPv4", "https://192.0.2.10/return", true},
		{"https IPv6", "https://[2001:db8::1]/return", true},
		{"https punycode", "https://xn--bcher-kva.example/", true},
		{"http localhost", "http://localhost:8080/return", true},
		{"http 127.0.0.1", "http://127.0.0.1/return", true},
		{"http 127.0.0.0/8", "http://127.9.9.9:3000/", true},
		{"http ::1", "http://[::1]:3000/return", true},
		{"deep link host", "myapp://connections", true},
		{"deep link path", "com.example.app:/oauth2redirect", true},
		{"deep link empty host", "myapp:///connections?x=1", true},
		{"deep link with dashes", "my-app+x.y://connections/done", true},
		{"max length", "https://a.example/" + strings.Repeat("a", maxReturnURI-len("https://a.example/")), true},

		{"empty", "", false},
		{"too long", "https://a.example/" + strings.Repeat("a", maxReturnURI), false},
		{"relative", "/return", false},
		{"scheme-relative", "//app.example/return", false},
		{"http off loopback", "http://app.example.com/return", false},
		{"http localhost subdomain", "http://evil.localhost/", false},
		{"http unspecified", "http://0.0.0.0/", false},
		{"http mapped loopback", "http://[::ffff:127.0.0.1]/", false},
		{"https no host", "https:///return", false},
		{"https opaque", "https:app.example", false},
		{"https single slash", "https:/app.example", false},
		{"userinfo", "https://user@app.example/", false},
		{"userinfo trick", "https://app.example@evil.example/", false},
		{"fragment", "https://app.example/#x", false},
		{"empty fragment", "https://app.example/#", false},
		{"backslash", "https://app.example\\@evil.example/", false},
		{"space", "https://app.example/a b", false},
		{"tab", "https://app.example/\t", false},
		{"newline", "https://app.example/\n", false},
		{"non-ASCII host", "https://app\u3002example/", false},
		{"uppercase scheme", "HTTPS://app.example/", false},
		{"uppercase host", "https://App.example/", false},
		{"trailing dot", "https://app.example./", false},
		{"empty label", "https://app..example/", false},
		{"underscore host", "https://app_x.example/", false},
		{"hyphen-led label", "https://-app.example/", false},
		{"label too long", "https://" + strings.Repeat("a", 64) + ".example/", false},
		{"empty port", "https://app.example:/", false},
		{"port zero", "https://app.example:0/", false},
		{"port leading zero", "https://app.example:0443/", false},
		{"port too big", "https://app.example:65536/", false},
		{"decimal IP", "https://2130706433/", false},
		{"octal IP", "https://0177.0.0.1/", false},
		{"hex IP", "https://0x7f.0.0.1/", false},
		{"short IP", "https://127.1/", false},
		{"IPv6 zone", "https://[fe80::1%25eth0]/", false},
		{"IPv6 not canonical", "https://[2001:db8:0:0:0:0:0:1]/", false},
		{"IPv6 unspecified", "https://[::]/", false},
		{"bracketed IPv4", "https://[192.0.2.1]/", false},
		{"semicolon in query", "https://app.example/r?a=1;b=2", false},
		{"path that changes on print", "https://app.example/<x>", false},
		{"javascript", "javascript:alert(1)", false},
		{"javascript slashes", "javascript://app.example/%0aalert(1)", false},
		{"data", "data:text/html,x", false},
		{"file", "file:///etc/passwd", false},
		{"vbscript", "vbscript:msgbox", false},
		{"blob", "blob://app.example/x", false},
		{"about", "about://blank", false},
		{"one-letter scheme", "c:/windows", false},
		{"app opaque", "myapp:connections", false},
		{"app authority with port", "myapp://host:1/", false},
		{"app authority with percent", "myapp://ho%41st/", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckReturnURI(tc.uri, false)
			if tc.ok && err != nil {
				t.Fatalf("CheckReturnURI(%q) = %v, want nil", tc.uri, err)
			}
			if !tc.ok && err == nil {
				t.Fatalf("CheckReturnURI(%q) = %v, want a rejection", tc.uri, err)
			}
			if err == nil {
				checkReturnURIOracle(t, tc.uri)
			}
		})
	}
}

func TestCheckReturnURIErrorDoesNotQuoteValue(t *testing.T) {
	err := CheckReturnURI("https://canary@app.example/", false)
	if err == nil || strings.Contains(err.Error(), "canary") {
		t.Fatalf("CheckReturnURI error %v: want a rejection that does not quote the value", err)
	}
	// The caller names the setting (Config.WhiteLabelURL is no return URI).
	for _, raw := range []string{"https://canary@app.example/", "http://app.example/", "javascript:x", "https://a.example:0/"} {
		if msg := CheckReturnURI(raw, false).Error(); strings.Contains(msg, "urlbuild") || strings.Contains(msg, "return URI") {
			t.Errorf("error %q names the internal package or a return URI", msg)
		}
	}
}

// TestCheckReturnURIDevHTTP: devHTTP allows plain http to a private-network
// IP address, and nothing else that is refused without it.
func TestCheckReturnURIDevHTTP(t *testing.T) {
	for raw, private := range map[string]bool{
		"http://192.168.1.10:8081/white-label": true, "http://10.0.2.2:8080/r": true, "http://[fd00::1]:8080/r": true,
		"http://203.0.113.5/r": false, "http://app.example/r": false, "http://169.254.1.1/r": false, "http://100.64.0.1/r": false,
		"http://[::ffff:192.168.1.10]/r": false, "http://010.0.0.1/r": false, "http://192.168.1.10:8080/r#x": false,
	} {
		if err := CheckReturnURI(raw, false); err == nil {
			t.Errorf("CheckReturnURI(%q, false) = nil, want a rejection", raw)
		}
		if err := CheckReturnURI(raw, true); (err == nil) != private {
			t.Errorf("CheckReturnURI(%q, true) = %v, want allowed %t", raw, err, private)
		}
	}
}
