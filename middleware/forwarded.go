package middleware

import (
	"net/http"
	"net/netip"
	"strings"
)

// forwardedKey is the canonical Forwarded header key.
const forwardedKey = "Forwarded"

// NewForwardedStrategy returns the strategy for proxies that send the
// RFC 7239 Forwarded header: the "rightmost untrusted" walk of
// [NewXFFTrustedRangesStrategy], applied to the for= parameter of each
// forwarded-element. trusted has the same form and validation, and the TCP
// peer must be inside it, else errUntrustedPeer.
//
// Parsing is strict and fails closed; every element met from the right
// before the client must be well formed, else errInvalidEntry:
//   - Instances are merged in order; elements are separated by commas that
//     are outside quoted strings, so a comma inside a quoted value never
//     splits an element. An unterminated quoted string makes its element
//     (and so the rest of that header line) bad.
//   - An element is ;-separated name=value pairs (token or quoted-string
//     values, names case-insensitive, spaces and tabs allowed around the
//     separators). It must have exactly one for= pair; an element without
//     for=, with two, or empty is bad.
//   - The for= value is an IPv4 address, optionally with a port
//     ("192.0.2.60", "\"192.0.2.60:4711\""), or a bracketed IPv6 address,
//     optionally with a port, which RFC 7239 requires to be quoted
//     ("\"[2001:db8::1]:4711\""). A port is 1 to 5 digits or an obfuscated
//     "_name"; it is ignored. An unquoted value containing ':' or '[' is not
//     an RFC 7239 token and is bad. A backslash escape inside the for= value
//     is bad.
//   - "unknown" and obfuscated identifiers ("_hidden") are bad: they cannot
//     be checked against trusted and are not a client IP.
//   - Addresses follow the same rules as X-Forwarded-For entries (no
//     leading-zero IPv4, no unspecified address, mapped IPv6 unmapped, zones
//     dropped).
//
// Each header line is scanned once from left to right (quotes can only be
// matched in that direction) and the verdict of its rightmost element that is
// not a trusted proxy is kept; lines are visited from the last to the first.
// The scan is linear in the header size and allocates nothing for a
// well-formed header. The parser is
// written here because the standard library has none for RFC 7239 and its
// fail-closed rules are this package's job.
func NewForwardedStrategy(trusted ...string) (Strategy, error) {
	t, err := parseTrusted("NewForwardedStrategy", trusted)
	if err != nil {
		return nil, err
	}
	return &forwardedStrategy{trusted: t, errs: newHeaderErrors(forwardedKey)}, nil
}

type forwardedStrategy struct {
	trusted *trustedSet
	errs    headerErrors
}

// verdict is the outcome of scanning one Forwarded line.
type verdict uint8

const (
	lineAllTrusted verdict = iota // every element names a trusted proxy
	lineClient                    // the rightmost untrusted element is a valid IP
	lineBad                       // the rightmost untrusted element is malformed
)

func (s *forwardedStrategy) ClientIP(r *http.Request) (netip.Addr, error) { return s.derive(r, nil) }

func (s *forwardedStrategy) describe() string { return "Forwarded, trusted ranges" }

func (s *forwardedStrategy) derive(r *http.Request, t *trace) (netip.Addr, error) {
	if err := trustedPeer(r, s.trusted, s.errs.untrustedPeer, t); err != nil {
		return netip.Addr{}, err
	}
	values := r.Header[forwardedKey]
	if len(values) == 0 {
		return netip.Addr{}, s.errs.noHeader
	}
	for i := len(values) - 1; i >= 0; i-- {
		ip, v := s.scanLine(values[i], t)
		switch v {
		case lineClient:
			return ip, nil
		case lineBad:
			return netip.Addr{}, s.errs.invalidEntry
		}
	}
	return netip.Addr{}, s.errs.allTrusted
}

// scanLine parses one Forwarded field line left to right and returns the
// verdict of its rightmost element that is not a trusted proxy. This equals
// the first non-trusted element of a walk from the right.
// With t set, it also records the line's elements for [ClientIPReport].
func (s *forwardedStrategy) scanLine(line string, t *trace) (netip.Addr, verdict) {
	var last netip.Addr
	v := lineAllTrusted
	var line0 int // where this line's elements start in t
	if t != nil {
		line0 = len(t.hops)
	}
	for i := 0; ; {
		end := elementEnd(line, i)
		ip, ok := parseForwardedElement(line[i:end])
		switch {
		case !ok:
			last, v = netip.Addr{}, lineBad
			t.bad(forwardedKey)
		case !s.trusted.contains(ip):
			last, v = ip, lineClient
			t.add(ip, forwardedKey, false, "the first for= from the right outside the trusted ranges: the client")
		default:
			t.add(ip, forwardedKey, true, "inside the trusted ranges")
		}
		if end == len(line) {
			t.walkedLine(line0)
			return last, v
		}
		i = end + 1
	}
}

// elementEnd returns the index of the comma that ends the element starting
// at i, skipping commas inside quoted strings, or len(line).
func elementEnd(line string, i int) int {
	inQuote := false
	for ; i < len(line); i++ {
		switch c := line[i]; {
		case inQuote && c == '\\':
			i++ // quoted-pair: the next byte is literal
		case c == '"':
			inQuote = !inQuote
		case !inQuote && c == ',':
			return i
		}
	}
	return len(line)
}

// parseForwardedElement parses one forwarded-element and returns the
// address in its single for= parameter.
func parseForwardedElement(e string) (netip.Addr, bool) {
	e = trimOWS(e)
	var forVal string
	haveFor, forQuoted, forEscaped := false, false, false
	for len(e) > 0 {
		if e[0] == ';' { // empty pair, allowed by the grammar
			e = trimOWS(e[1:])
			continue
		}
		k := 0
		for k < len(e) && isTokenChar(e[k]) {
			k++
		}
		if k == 0 || k == len(e) || e[k] != '=' {
			return netip.Addr{}, false
		}
		name := e[:k]
		e = e[k+1:]
		var val string
		quoted, escaped := false, false
		if len(e) > 0 && e[0] == '"' {
			j := 1
			for ; j < len(e) && e[j] != '"'; j++ {
				c := e[j]
				if c == '\\' {
					if j+1 >= len(e) || !isQuotedPairChar(e[j+1]) {
						return netip.Addr{}, false
					}
					escaped = true
					j++
					continue
				}
				if !isQDText(c) {
					return netip.Addr{}, false
				}
			}
			if j >= len(e) {
				return netip.Addr{}, false // unterminated quoted string
			}
			val, e, quoted = e[1:j], e[j+1:], true
		} else {
			k = 0
			for k < len(e) && isTokenChar(e[k]) {
				k++
			}
			if k == 0 {
				return netip.Addr{}, false
			}
			val, e = e[:k], e[k:]
		}
		if strings.EqualFold(name, "for") {
			if haveFor {
				return netip.Addr{}, false // RFC 7239 §4: each parameter at most once
			}
			haveFor, forVal, forQuoted, forEscaped = true, val, quoted, escaped
		}
		e = trimOWS(e)
		if len(e) == 0 {
			break
		}
		if e[0] != ';' {
			return netip.Addr{}, false
		}
		e = trimOWS(e[1:])
	}
	if !haveFor || forEscaped {
		return netip.Addr{}, false
	}
	return parseNode(forVal, forQuoted)
}

// parseNode parses an RFC 7239 node (the for= value, unquoted): an IPv4
// address or a bracketed IPv6 address, each with an optional port. Only a
// quoted value may contain ':' or brackets.
func parseNode(v string, quoted bool) (netip.Addr, bool) {
	if v == "" {
		return netip.Addr{}, false
	}
	var host, rest string
	wantV6 := false
	if v[0] == '[' {
		j := strings.IndexByte(v, ']')
		if !quoted || j < 0 {
			return netip.Addr{}, false
		}
		host, rest, wantV6 = v[1:j], v[j+1:], true
	} else {
		host = v
		if j := strings.IndexByte(v, ':'); j >= 0 {
			if !quoted {
				return netip.Addr{}, false
			}
			host, rest = v[:j], v[j:]
		}
	}
	if rest != "" && (rest[0] != ':' || !validNodePort(rest[1:])) {
		return netip.Addr{}, false
	}
	if host == "" {
		return netip.Addr{}, false
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || ip.Is6() != wantV6 {
		return netip.Addr{}, false
	}
	return normalize(ip)
}

// validNodePort reports whether p is an RFC 7239 node-port: 1*5DIGIT or an
// obfuscated port "_" 1*(ALPHA / DIGIT / "." / "_" / "-").
func validNodePort(p string) bool {
	if p == "" {
		return false
	}
	if p[0] == '_' {
		if len(p) == 1 {
			return false
		}
		for i := 1; i < len(p); i++ {
			c := p[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
				return false
			}
		}
		return true
	}
	if len(p) > 5 {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
	}
	return true
}

// isQDText reports whether c may appear unescaped in an RFC 9110
// quoted-string.
func isQDText(c byte) bool {
	return c == '\t' || c == ' ' || c == 0x21 || (0x23 <= c && c <= 0x5B) || (0x5D <= c && c <= 0x7E) || c >= 0x80
}

// isQuotedPairChar reports whether c may follow a backslash in an RFC 9110
// quoted-pair.
func isQuotedPairChar(c byte) bool {
	return c == '\t' || c == ' ' || (0x21 <= c && c <= 0x7E) || c >= 0x80
}
