package middleware

import (
	"net/netip"
	"strings"
)

const forwardedKey = "Forwarded"

// NewForwardedStrategy returns the strategy for proxies that send the RFC
// 7239 Forwarded header: the walk of [NewXFFTrustedRangesStrategy] over the
// for= parameter of each element, with the same trusted. A for= value may
// carry a port, which is ignored; "unknown", an obfuscated name, or an
// element without exactly one for= is a malformed entry.
func NewForwardedStrategy(trusted ...string) (Strategy, error) {
	return newRangesStrategy("NewForwardedStrategy", forwardedKey, false, trusted)
}

// walkForwarded scans each line from the left, since quotes can only be
// matched in that direction, and keeps the verdict of its rightmost element
// that is not a trusted proxy: the answer of a walk from the right.
func (s *headerStrategy) walkForwarded(values []string, t *trace) (netip.Addr, error) {
	for i := len(values) - 1; i >= 0; i-- {
		line, start := values[i], t.len()
		var client netip.Addr
		var err error
		for p := 0; ; {
			end := elementEnd(line, p)
			ip, ok := forwardedFor(line[p:end])
			switch {
			case !ok:
				client, err = netip.Addr{}, s.errs.invalidEntry
				t.bad(s.key)
			case !s.trusted.Contains(ip):
				client, err = ip, nil
				t.add(ip, s.key, false, "the client")
			default:
				t.add(ip, s.key, true, "a trusted proxy")
			}
			if end == len(line) {
				break
			}
			p = end + 1
		}
		t.walkedLine(start)
		if client.IsValid() || err != nil {
			return client, err
		}
	}
	return netip.Addr{}, s.errs.allTrusted
}

// elementEnd returns the index of the comma that ends the element starting
// at i, skipping quoted strings, or len(line).
func elementEnd(line string, i int) int {
	inQuote := false
	for ; i < len(line); i++ {
		switch c := line[i]; {
		case inQuote && c == '\\':
			i++
		case c == '"':
			inQuote = !inQuote
		case !inQuote && c == ',':
			return i
		}
	}
	return len(line)
}

// forwardedFor returns the address in the one for= parameter of an element:
// ;-separated name=value pairs, each value a token or a quoted string.
func forwardedFor(e string) (netip.Addr, bool) {
	var node string
	found := false
	for {
		if e = strings.TrimLeft(e, " \t;"); e == "" {
			break
		}
		k := tokenLen(e)
		if k == 0 || k == len(e) || e[k] != '=' {
			return netip.Addr{}, false
		}
		name, val := e[:k], ""
		if e = e[k+1:]; strings.HasPrefix(e, `"`) {
			j := quotedEnd(e)
			if j < 0 {
				return netip.Addr{}, false
			}
			val, e = e[1:j], e[j+1:]
		} else {
			k = tokenLen(e)
			if k == 0 {
				return netip.Addr{}, false
			}
			val, e = e[:k], e[k:]
		}
		if strings.EqualFold(name, "for") {
			if found {
				return netip.Addr{}, false
			}
			found, node = true, val
		}
		if e = strings.TrimLeft(e, " \t"); e != "" && e[0] != ';' {
			return netip.Addr{}, false
		}
	}
	if !found || strings.Contains(node, `\`) {
		return netip.Addr{}, false
	}
	return parseNode(node)
}

// quotedEnd returns the index of the quote that closes the quoted string at
// the start of s, or -1.
func quotedEnd(s string) int {
	for j := 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case '"':
			return j
		}
	}
	return -1
}

// parseNode parses an RFC 7239 node: an IPv4 address or a bracketed IPv6
// address, each with an optional port (digits or an obfuscated "_name").
func parseNode(v string) (netip.Addr, bool) {
	host, port, v6 := v, "", false
	if strings.HasPrefix(v, "[") {
		end := strings.IndexByte(v, ']')
		if end < 0 {
			return netip.Addr{}, false
		}
		host, port, v6 = v[1:end], v[end+1:], true
	} else if i := strings.IndexByte(v, ':'); i >= 0 {
		host, port = v[:i], v[i:]
	}
	if port != "" && !validNodePort(port) {
		return netip.Addr{}, false
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || ip.Is6() != v6 {
		return netip.Addr{}, false
	}
	return normalize(ip)
}

// validNodePort reports whether p is ":" and an RFC 7239 node-port.
func validNodePort(p string) bool {
	const obfuscated = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"
	if strings.HasPrefix(p, ":_") {
		return len(p) > 2 && strings.Trim(p[2:], obfuscated) == ""
	}
	return strings.HasPrefix(p, ":") && len(p) >= 2 && len(p) <= 6 && strings.Trim(p[1:], "0123456789") == ""
}

// tokenLen returns the length of the RFC 9110 token at the start of s.
func tokenLen(s string) int {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return i
		}
	}
	return len(s)
}
