package middleware

import (
	"net/http"
	"net/netip"
)

// NewSingleIPHeaderStrategy returns the strategy for a proxy that writes the
// client IP into one header of its own, overwriting whatever the client
// sent: nginx's X-Real-IP (ngx_http_realip_module), Cloudflare's
// CF-Connecting-IP, Apache's X-Client-IP.
//
// The header is read only when the TCP peer is inside trusted (CIDRs such as
// "173.245.48.0/20" or single IPs such as "127.0.0.1"); otherwise the result
// is errUntrustedPeer and the header is ignored (SECURITY.md A3). trusted
// must not be empty (a header-reading strategy that trusts no one is a
// construction error) and must not contain a /0 (every value would then be
// a trusted address, see below).
//
// When the header arrives more than once, the LAST instance wins (it was set
// by the hop closest to this server) and, if it is not exactly one valid IP
// without a port, the result is errInvalidEntry: earlier instances are
// never used as a fallback. A value inside trusted is errAllTrusted: a
// proxy of ours is never the end user. A missing header is errNoHeader.
//
// header must be a valid header name; X-Forwarded-For and Forwarded are
// lists and are refused here (use [NewXFFTrustedRangesStrategy] or
// [NewForwardedStrategy]). Errors wrap [ErrInvalidConfig].
func NewSingleIPHeaderStrategy(header string, trusted ...string) (Strategy, error) {
	const fn = "NewSingleIPHeaderStrategy"
	if !validHeaderName(header) {
		return nil, configError(fn, "header "+quote(header), "not a valid header field name")
	}
	key := http.CanonicalHeaderKey(header)
	switch key {
	case "X-Forwarded-For":
		return nil, configError(fn, "header "+quote(header), "X-Forwarded-For is a list: use NewXFFTrustedRangesStrategy or NewXFFTrustedCountStrategy")
	case "Forwarded":
		return nil, configError(fn, "header "+quote(header), "Forwarded is a list: use NewForwardedStrategy")
	}
	t, err := parseTrusted(fn, trusted)
	if err != nil {
		return nil, err
	}
	return &singleIPHeaderStrategy{key: key, trusted: t, errs: newHeaderErrors(key)}, nil
}

type singleIPHeaderStrategy struct {
	key     string
	trusted *trustedSet
	errs    headerErrors
}

func (s *singleIPHeaderStrategy) ClientIP(r *http.Request) (netip.Addr, error) {
	return s.derive(r, nil)
}

func (s *singleIPHeaderStrategy) describe() string { return s.key + ", trusted ranges" }

func (s *singleIPHeaderStrategy) derive(r *http.Request, t *trace) (netip.Addr, error) {
	if err := trustedPeer(r, s.trusted, s.errs.untrustedPeer, t); err != nil {
		return netip.Addr{}, err
	}
	values := r.Header[s.key]
	if len(values) == 0 {
		return netip.Addr{}, s.errs.noHeader
	}
	ip, ok := parseEntry(trimOWS(values[len(values)-1]))
	if !ok {
		t.bad(s.key)
		return netip.Addr{}, s.errs.invalidEntry
	}
	if s.trusted.contains(ip) {
		t.add(ip, s.key, true, "inside the trusted ranges: a proxy is never the client")
		return netip.Addr{}, s.errs.allTrusted
	}
	t.add(ip, s.key, false, "the header's last instance, set by the trusted proxy: the client")
	return ip, nil
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTokenChar(s[i]) {
			return false
		}
	}
	return true
}

// isTokenChar reports whether c is an RFC 9110 tchar.
func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}
