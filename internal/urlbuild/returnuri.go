package urlbuild

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// maxReturnURI is the longest configured absolute URL, in bytes.
const maxReturnURI = 512

// errURIHost is CheckReturnURI's reason for a host it refuses. Its
// reasons never quote the value.
var errURIHost = errors.New("host is not a lowercase DNS name or canonical IP address")

// deniedSchemes run code, read local data or are not app deep links.
var deniedSchemes = map[string]bool{
	"about": true, "blob": true, "chrome": true, "chrome-extension": true, "content": true,
	"data": true, "file": true, "filesystem": true, "ftp": true, "intent": true, "jar": true,
	"javascript": true, "mailto": true, "moz-extension": true, "sms": true, "tel": true,
	"vbscript": true, "view-source": true, "ws": true, "wss": true,
}

// CheckReturnURI reports whether raw is safe as a configured absolute URL
// (a return URI, the return URL, the white-label page): at most 512 bytes of
// printable ASCII that [url.Parse] prints back unchanged; no userinfo,
// fragment or backslash; https, http on loopback only (and, when devHTTP, on
// a private-network IP address), or an app scheme (not a script, local-data
// or browser scheme; docs/SECURITY.md B6). A host is a lowercase DNS name or
// a canonical IP address. It returns nil or the reason.
func CheckReturnURI(raw string, devHTTP bool) error {
	switch {
	case raw == "":
		return errors.New("empty")
	case len(raw) > maxReturnURI:
		return fmt.Errorf("longer than %d bytes", maxReturnURI)
	case strings.IndexByte(raw, '#') >= 0:
		return errors.New("has a fragment")
	}
	if strings.ContainsFunc(raw, func(r rune) bool { return r <= ' ' || r >= 0x7f || r == '\\' }) {
		return errors.New("contains a control character, whitespace, non-ASCII byte or backslash")
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.String() != raw:
		return errors.New("does not parse, or changes when parsed and printed")
	case u.User != nil:
		return errors.New("has userinfo")
	case u.Scheme == "":
		return errors.New("not absolute")
	case len(u.Scheme) < 2 || deniedSchemes[u.Scheme]:
		return errors.New("scheme not allowed")
	case u.Opaque != "":
		return errors.New("has no // after the scheme")
	}
	if _, err := url.ParseQuery(u.RawQuery); err != nil {
		return errors.New("query is not name=value pairs joined by &")
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		if strings.Trim(u.Host, dnsChars+"ABCDEFGHIJKLMNOPQRSTUVWXYZ._~") != "" {
			return errors.New("app scheme authority has characters other than letters, digits, '.', '-', '_', '~'")
		}
		return nil
	}
	httpOK, err := checkHost(u, devHTTP)
	if err == nil && u.Scheme == "http" && !httpOK {
		return errors.New("must be https (http only on localhost, 127.0.0.0/8 or [::1])")
	}
	return err
}

// checkHost checks the host and port of an http(s) URL and reports whether
// the host may take plain http: loopback, or when devHTTP a private-network
// IP address.
func checkHost(u *url.URL, devHTTP bool) (httpOK bool, err error) {
	if port := u.Port(); port != "" || strings.HasSuffix(u.Host, ":") {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || port[0] == '0' {
			return false, errors.New("port is not a number from 1 to 65535")
		}
	}
	host := u.Hostname()
	if host == "" {
		return false, errURIHost
	}
	if a, err := netip.ParseAddr(host); err == nil {
		bracketed := strings.HasPrefix(u.Host, "[")
		if a.Is6() != bracketed || a.IsUnspecified() || a.Is4In6() || a.Zone() != "" || a.String() != host {
			return false, errURIHost
		}
		return a.IsLoopback() || devHTTP && a.IsPrivate(), nil
	}
	// A browser reads a host whose last label is a number (2130706433,
	// 0177.0.0.1, 0x7f.1) as IPv4: only the dotted-quad form above may be one.
	last := host[strings.LastIndexByte(host, '.')+1:]
	if last == "" || '0' <= last[0] && last[0] <= '9' || len(host) > 253 {
		return false, errURIHost
	}
	for label := range strings.SplitSeq(host, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false, errURIHost
		}
		if strings.Trim(label, dnsChars) != "" {
			return false, errURIHost
		}
	}
	return host == "localhost", nil
}

// dnsChars are the bytes of a lowercase DNS label.
const dnsChars = "abcdefghijklmnopqrstuvwxyz0123456789-"
