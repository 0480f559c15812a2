package urlbuild

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"

	"github.com/handoffkit/handoffkit/internal/limits"
)

// ErrUnsafeURI is returned, wrapped with the reason, by [CheckReturnURI] for a URI that is not a safe absolute return URI.
var ErrUnsafeURI = errors.New("urlbuild: unsafe return URI")

// The reasons CheckReturnURI gives. They never quote the value.
var (
	errURIEmpty        = fmt.Errorf("%w: empty", ErrUnsafeURI)
	errURITooLong      = fmt.Errorf("%w: longer than %d bytes", ErrUnsafeURI, limits.ReturnURI)
	errURIByte         = fmt.Errorf("%w: contains a control character, whitespace or non-ASCII byte", ErrUnsafeURI)
	errURIBackslash    = fmt.Errorf("%w: contains a backslash", ErrUnsafeURI)
	errURIFragment     = fmt.Errorf("%w: has a fragment", ErrUnsafeURI)
	errURIParse        = fmt.Errorf("%w: does not parse", ErrUnsafeURI)
	errURINotCanonical = fmt.Errorf("%w: not in canonical form (it changes when parsed and printed)", ErrUnsafeURI)
	errURIUserinfo     = fmt.Errorf("%w: has userinfo", ErrUnsafeURI)
	errURIOpaque       = fmt.Errorf("%w: opaque (scheme without / after the colon)", ErrUnsafeURI)
	errURINoScheme     = fmt.Errorf("%w: not absolute", ErrUnsafeURI)
	errURIScheme       = fmt.Errorf("%w: scheme not allowed", ErrUnsafeURI)
	errURINoHost       = fmt.Errorf("%w: http(s) without a host", ErrUnsafeURI)
	errURIHost         = fmt.Errorf("%w: host is not a lowercase DNS name or canonical IP address", ErrUnsafeURI)
	errURIPort         = fmt.Errorf("%w: port is not a number from 1 to 65535", ErrUnsafeURI)
	errURIHTTP         = fmt.Errorf("%w: http is allowed only on loopback (localhost, 127.0.0.0/8, [::1])", ErrUnsafeURI)
	errURIAppHost      = fmt.Errorf("%w: app scheme authority has characters other than letters, digits, '.', '-', '_', '~'", ErrUnsafeURI)
)

// deniedSchemes are schemes that run code, read local or browser data, or are
// not app deep links, whatever follows them.
var deniedSchemes = map[string]bool{
	"about": true, "blob": true, "chrome": true, "chrome-extension": true, "content": true,
	"data": true, "file": true, "filesystem": true, "ftp": true, "intent": true, "jar": true,
	"javascript": true, "mailto": true, "moz-extension": true, "sms": true, "tel": true,
	"vbscript": true, "view-source": true, "ws": true, "wss": true,
}

// CheckReturnURI reports whether raw is safe as an absolute return URI (a
// redirectUri for BlueNexus or a mobile deep link). It returns nil or an error
// wrapping [ErrUnsafeURI]. It is for configuration and allowlist entries;
// a request value is matched against them by exact string.
//
// raw must:
//   - be 1 to 512 bytes of printable ASCII: no control
//     characters, whitespace, non-ASCII bytes (so no look-alike dots or
//     slashes), backslashes or '#' (no fragment);
//   - parse with [url.Parse] and print back unchanged, so there is exactly
//     one reading of it (lowercase scheme, no stray escapes);
//   - have no userinfo and not be opaque ("myapp:x");
//   - use https with a host; or http with a loopback host only (localhost,
//     127.0.0.0/8 or [::1]), for development; or an app scheme of at least two
//     characters that is not one of javascript, data, file, vbscript, blob,
//     about, filesystem, view-source, intent, content, jar, chrome,
//     chrome-extension, moz-extension, ftp, ws, wss, mailto, tel or sms.
//
// An http(s) host is a lowercase DNS name (labels of letters, digits and
// inner hyphens, no trailing dot) or a canonical IP address: a host whose
// last label is a number must be a dotted-quad IPv4 address without leading
// zeros, which rules out the decimal, octal and hex forms browsers also
// accept (2130706433, 0177.0.0.1, 0x7f.1). IPv6 addresses are written in
// canonical form without a zone; unspecified and IPv4-mapped addresses are
// rejected. A port, if present, is 1 to 65535 without leading zeros. An app
// scheme's authority, if any, is letters, digits, '.', '-', '_' and '~'.
func CheckReturnURI(raw string) error {
	switch {
	case raw == "":
		return errURIEmpty
	case len(raw) > limits.ReturnURI:
		return errURITooLong
	}
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; {
		case c <= ' ' || c >= 0x7f:
			return errURIByte
		case c == '\\':
			return errURIBackslash
		case c == '#':
			return errURIFragment
		}
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return errURIParse
	case u.String() != raw:
		return errURINotCanonical
	case u.User != nil:
		return errURIUserinfo
	}
	switch {
	case u.Scheme == "":
		return errURINoScheme
	case len(u.Scheme) < 2 || deniedSchemes[u.Scheme]:
		return errURIScheme
	case u.Opaque != "" && (u.Scheme == "https" || u.Scheme == "http"):
		return errURINoHost
	case u.Opaque != "":
		return errURIOpaque
	}
	switch u.Scheme {
	case "https":
		_, err := checkHost(u.Host)
		return err
	case "http":
		loopback, err := checkHost(u.Host)
		if err == nil && !loopback {
			return errURIHTTP
		}
		return err
	}
	for i := 0; i < len(u.Host); i++ {
		if c := u.Host[i]; !(isAlnum(c) || c == '.' || c == '-' || c == '_' || c == '~') {
			return errURIAppHost
		}
	}
	return nil
}

// checkHost checks an http(s) host[:port] and reports whether it is loopback.
func checkHost(hostport string) (loopback bool, err error) {
	host, port := hostport, ""
	if strings.HasPrefix(hostport, "[") {
		end := strings.IndexByte(hostport, ']')
		if end < 0 {
			return false, errURIHost
		}
		host, port = hostport[1:end], hostport[end+1:]
		if port != "" && port[0] != ':' {
			return false, errURIHost
		}
	} else if i := strings.LastIndexByte(hostport, ':'); i >= 0 {
		host, port = hostport[:i], hostport[i:]
	}
	if port != "" && !validPort(port[1:]) {
		return false, errURIPort
	}
	if host == "" {
		return false, errURINoHost
	}
	if hostport[0] == '[' {
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() || a.Is4In6() || a.Zone() != "" || a.IsUnspecified() || a.String() != host {
			return false, errURIHost
		}
		return a.IsLoopback(), nil
	}
	if endsInNumber(host) {
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is4() || a.IsUnspecified() || a.String() != host {
			return false, errURIHost
		}
		return a.IsLoopback(), nil
	}
	if !validHostname(host) {
		return false, errURIHost
	}
	return host == "localhost", nil
}

// endsInNumber reports whether a browser would read host as an IPv4 address:
// its last label is all digits or a 0x hex number (WHATWG URL "ends in a
// number").
func endsInNumber(host string) bool {
	last := host[strings.LastIndexByte(host, '.')+1:]
	if last == "" {
		return false
	}
	if len(last) >= 2 && last[0] == '0' && (last[1] == 'x' || last[1] == 'X') {
		for i := 2; i < len(last); i++ {
			if !isHex(last[i]) {
				return false
			}
		}
		return true
	}
	for i := 0; i < len(last); i++ {
		if last[i] < '0' || last[i] > '9' {
			return false
		}
	}
	return true
}

// validHostname reports whether host is a lowercase DNS name: labels of 1 to
// 63 letters, digits and inner hyphens, 253 bytes at most, no empty label.
func validHostname(host string) bool {
	if len(host) > 253 {
		return false
	}
	for label := range strings.SplitSeq(host, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// validPort reports whether p is a decimal port from 1 to 65535 without
// leading zeros.
func validPort(p string) bool {
	if p == "" || len(p) > 5 || p[0] == '0' {
		return false
	}
	n := 0
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
		n = n*10 + int(p[i]-'0')
	}
	return n <= 65535
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}
