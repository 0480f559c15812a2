package middleware

import (
	"net/http"
	"net/netip"
)

// Strategy derives the client IP of a request. The operator picks exactly
// one at construction (SECURITY.md A1); there is no default that reads
// headers and no chain of strategies.
//
// ClientIP returns a valid, normalised address (IPv4 never in its
// IPv4-mapped IPv6 form, no IPv6 zone, never 0.0.0.0 or ::) and a nil error,
// or the zero [netip.Addr] and an error wrapping [ErrNoClientIP]. It must not
// modify r and must be safe for concurrent use.
//
// The built-in strategies are [RemoteAddrStrategy],
// [NewSingleIPHeaderStrategy], [NewXFFTrustedRangesStrategy],
// [NewXFFTrustedCountStrategy] and [NewForwardedStrategy].
type Strategy interface {
	ClientIP(r *http.Request) (netip.Addr, error)
}

// RemoteAddrStrategy returns the strategy for a server directly exposed to
// the internet: the client is the TCP peer in r.RemoteAddr. It never reads a
// header, so nothing a client sends can change its answer. Behind a proxy it
// returns the proxy's address; use a header strategy there.
//
// r.RemoteAddr is parsed as "ip:port", "[ipv6]:port" or a bare IP. A
// dual-stack listener's "::ffff:a.b.c.d" is unmapped to a.b.c.d and a
// link-local zone is dropped. Anything else (a Unix socket's "@", an empty
// string) is errInvalidPeer.
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

// trustedPeer parses the TCP peer and reports whether it is a trusted proxy.
// It returns the error to report when it is not.
func trustedPeer(r *http.Request, ts *trustedSet, untrusted error, t *trace) error {
	peer, ok := parsePeer(r.RemoteAddr)
	if !ok {
		return errInvalidPeer
	}
	if !ts.contains(peer) {
		t.add(peer, fromPeer, false, "not a trusted proxy: the header is ignored")
		return untrusted
	}
	t.add(peer, fromPeer, true, "inside the trusted ranges: the header is read")
	return nil
}
