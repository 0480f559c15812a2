package middleware

import (
	"net/netip"
	"strings"
)

// parseEntry parses one header entry that must be exactly one IP address
// with no port: the X-Forwarded-For element and single-IP header format.
// Surrounding optional whitespace (space, tab; RFC 9110 OWS) must already be
// trimmed. It rejects the empty string, hostnames, "unknown", "_obfuscated"
// identifiers, ports ("1.2.3.4:80", "[2001:db8::1]:443"), brackets,
// leading-zero IPv4 ("010.001.002.003"), integer IPv4 ("3627734734") and the
// unspecified addresses 0.0.0.0 and :: (in any notation). Loopback, private
// and link-local addresses are accepted: behind a trusted proxy they can be
// the real client. The result is normalised (SECURITY.md A5): IPv4-mapped
// IPv6 is unmapped and any IPv6 zone is dropped, so its String form is the
// canonical text to forward.
func parseEntry(s string) (netip.Addr, bool) {
	if s == "" {
		return netip.Addr{}, false
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return normalize(ip)
}

// normalize unmaps IPv4-mapped IPv6, drops the zone and rejects the
// unspecified address.
func normalize(ip netip.Addr) (netip.Addr, bool) {
	ip = ip.Unmap()
	if ip.Zone() != "" {
		ip = ip.WithZone("")
	}
	if !ip.IsValid() || ip.IsUnspecified() {
		return netip.Addr{}, false
	}
	return ip, true
}

// parsePeer parses r.RemoteAddr: "ip:port" or "[ipv6]:port" as net/http
// sets it, or a bare IP (as tests and some listeners set it). The port is
// ignored. The result is normalised like a header entry.
func parsePeer(remoteAddr string) (netip.Addr, bool) {
	// Split "host:port" by hand: the same forms [netip.ParseAddrPort]
	// accepts (IPv4 host bare, IPv6 host in brackets, port 0 to 65535),
	// without converting a port nobody reads.
	if i := strings.LastIndexByte(remoteAddr, ':'); i > 0 && validPort(remoteAddr[i+1:]) {
		host := remoteAddr[:i]
		if host[0] == '[' && host[len(host)-1] == ']' {
			if ip, err := netip.ParseAddr(host[1 : len(host)-1]); err == nil && ip.Is6() {
				return normalize(ip)
			}
		} else if strings.IndexByte(host, ':') < 0 {
			return parseEntry(host)
		}
	}
	return parseEntry(remoteAddr)
}

// validPort reports whether p is a decimal port number from 0 to 65535,
// leading zeros allowed, as strconv.ParseUint(p, 10, 16) (and so
// netip.ParseAddrPort) accepts it.
func validPort(p string) bool {
	if p == "" {
		return false
	}
	n := 0
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
		if n = n*10 + int(p[i]-'0'); n > 65535 {
			return false
		}
	}
	return true
}

// trimOWS trims RFC 9110 optional whitespace (spaces and tabs) from both
// ends of s. Other whitespace (vertical tab, NBSP, ...) stays and makes the
// entry invalid.
func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}
