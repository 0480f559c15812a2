package middleware

import (
	"net/http"
	"net/netip"
	"strings"

	"github.com/gaissmai/bart"
)

// Strategy derives the client IP of a request: a valid, normalised address,
// or an error wrapping [ErrNoClientIP]. It must not modify r and must be safe
// for concurrent use.
type Strategy interface {
	ClientIP(r *http.Request) (netip.Addr, error)
}

// RemoteAddrStrategy returns the strategy for a server directly on the
// internet: the client is the TCP peer in r.RemoteAddr. It reads no header.
func RemoteAddrStrategy() Strategy { return remoteAddrStrategy{} }

type remoteAddrStrategy struct{}

func (s remoteAddrStrategy) ClientIP(r *http.Request) (netip.Addr, error) { return s.derive(r, nil) }

func (remoteAddrStrategy) describe() string { return "TCP peer (no header is read)" }

func (remoteAddrStrategy) derive(r *http.Request, t *trace) (netip.Addr, error) {
	ip, ok := parsePeer(r.RemoteAddr)
	if !ok {
		return netip.Addr{}, errInvalidPeer
	}
	t.add(ip, fromPeer, false, "the TCP peer is the client")
	return ip, nil
}

// headerStrategy reads the client IP from a header that trusted proxies
// write: every built-in strategy but RemoteAddrStrategy.
type headerStrategy struct {
	key     string     // the canonical header name
	trusted *bart.Lite // the proxies
	single  bool       // one IP per header line; the last line wins
	name    string     // what ClientIPReport calls it
	errs    headerErrors
}

func (s *headerStrategy) ClientIP(r *http.Request) (netip.Addr, error) { return s.derive(r, nil) }

func (s *headerStrategy) describe() string { return s.name }

// derive checks the TCP peer, then walks the header's entries from the right
// (docs/SECURITY.md A2 to A4). With t set, it records each hop.
func (s *headerStrategy) derive(r *http.Request, t *trace) (netip.Addr, error) {
	peer, ok := parsePeer(r.RemoteAddr)
	switch {
	case !ok:
		return netip.Addr{}, errInvalidPeer
	case !s.trusted.Contains(peer):
		t.add(peer, fromPeer, false, "not a trusted proxy: the header is ignored")
		return netip.Addr{}, s.errs.untrustedPeer
	default:
		t.add(peer, fromPeer, true, "inside the trusted ranges: the header is read")
	}
	values := r.Header[s.key]
	switch {
	case len(values) == 0:
		return netip.Addr{}, s.errs.noHeader
	case s.single:
		values = values[len(values)-1:]
	}
	for i := len(values) - 1; i >= 0; i-- {
		for v, more := values[i], true; more; {
			entry := v
			if j := strings.LastIndexByte(v, ','); j >= 0 && !s.single {
				entry, v = v[j+1:], v[:j]
			} else {
				more = false
			}
			ip, ok := parseEntry(strings.Trim(entry, " \t"))
			if !ok {
				t.add(netip.Addr{}, s.key, false, "malformed entry (value not shown): the walk stops with no IP")
				return netip.Addr{}, s.errs.invalidEntry
			}
			if !s.trusted.Contains(ip) {
				t.add(ip, s.key, false, "the client")
				return ip, nil
			}
			t.add(ip, s.key, true, "a trusted proxy")
		}
	}
	return netip.Addr{}, s.errs.allTrusted
}

// parseEntry parses a header entry that must be exactly one IP, no port,
// and normalises it.
func parseEntry(s string) (netip.Addr, bool) {
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return normalize(ip)
}

// parsePeer parses r.RemoteAddr: "ip:port", "[ipv6]:port" or a bare IP.
func parsePeer(remoteAddr string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(remoteAddr); err == nil {
		return normalize(ap.Addr())
	}
	return parseEntry(remoteAddr)
}

// normalize unmaps IPv4-mapped IPv6 and drops the zone (docs/SECURITY.md A5),
// and rejects the unspecified address.
func normalize(ip netip.Addr) (netip.Addr, bool) {
	ip = ip.Unmap().WithZone("")
	if ip.IsUnspecified() {
		return netip.Addr{}, false
	}
	return ip, ip.IsValid()
}
