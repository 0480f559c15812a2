package middleware

import (
	"net"
	"net/netip"
	"strings"
)

// The reference model below is a deliberately naive restatement of the
// strategies (merge, strings.Split, walk a slice from the right) with one
// knob per behaviour on which handoffkit and chi v5.5.0 differ. With
// handoffkitRules it must agree exactly with this package's strategies
// (fuzzed); with chiRules it must agree exactly with chi's middleware
// (differential test). The knobs are therefore the complete list of
// differences, each documented in docs/client-ip.md.
type refRules struct {
	// skipEmpty: empty list entries are dropped (chi) instead of being bad
	// entries that end the walk (handoffkit, SECURITY.md A4).
	skipEmpty bool
	// allowUnspecified: 0.0.0.0 and :: are addresses (chi) instead of
	// invalid entries (handoffkit, A4).
	allowUnspecified bool
	// unicodeTrim: entries are trimmed with strings.TrimSpace (chi) instead
	// of RFC 9110 OWS, space and tab only (handoffkit).
	unicodeTrim bool
	// peerFallback: an untrusted TCP peer is returned as the client (chi)
	// instead of an error (handoffkit: the header is ignored and there is
	// no IP, SECURITY.md A3 and A6).
	peerFallback bool
	// lenientPeer: RemoteAddr parsed with net.SplitHostPort, port not
	// validated, zone kept on a returned peer (chi) instead of
	// netip.ParseAddrPort and normalisation (handoffkit).
	lenientPeer bool
	// singleTrim: the single-IP header value is OWS-trimmed (handoffkit)
	// instead of parsed as is (chi).
	singleTrim bool
	// singleRejectsTrusted: a single-IP header value inside the trusted
	// ranges is no IP (handoffkit) instead of the client (chi).
	singleRejectsTrusted bool
}

var (
	handoffkitRules = refRules{singleTrim: true, singleRejectsTrusted: true}
	chiRules        = refRules{skipEmpty: true, allowUnspecified: true, unicodeTrim: true, peerFallback: true, lenientPeer: true}
)

// refResult is an address, or the reason there is none.
type refResult struct {
	ip     netip.Addr
	reason error
}

func refFail(reason error) refResult { return refResult{reason: reason} }

func (o refRules) trim(s string) string {
	if o.unicodeTrim {
		return strings.TrimSpace(s)
	}
	return strings.Trim(s, " \t")
}

// entry parses one trimmed, non-empty entry.
func (o refRules) entry(s string) (netip.Addr, bool) {
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	ip = ip.Unmap().WithZone("")
	if ip.IsUnspecified() && !o.allowUnspecified {
		return netip.Addr{}, false
	}
	return ip, true
}

func (o refRules) peer(remoteAddr string) (netip.Addr, bool) {
	if o.lenientPeer {
		host, _, err := net.SplitHostPort(remoteAddr)
		if err != nil {
			host = remoteAddr
		}
		ip, err := netip.ParseAddr(host)
		if err != nil {
			return netip.Addr{}, false
		}
		return ip.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(remoteAddr); err == nil {
		ip := ap.Addr().Unmap().WithZone("")
		return ip, ip.IsValid() && !ip.IsUnspecified()
	}
	return o.entry(remoteAddr)
}

func refTrusted(prefixes []netip.Prefix, ip netip.Addr) bool {
	ip = ip.WithZone("")
	for _, p := range prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// split merges header instances and splits them on commas, naively.
func split(values []string) []string {
	var out []string
	for _, v := range values {
		out = append(out, strings.Split(v, ",")...)
	}
	return out
}

// peerGate applies the trusted-peer rule; done reports a final result.
func (o refRules) peerGate(remoteAddr string, prefixes []netip.Prefix) (res refResult, done bool) {
	peer, ok := o.peer(remoteAddr)
	if !ok {
		return refFail(errInvalidPeer), true
	}
	if !refTrusted(prefixes, peer) {
		if o.peerFallback {
			return refResult{ip: peer}, true
		}
		return refFail(errUntrustedPeer), true
	}
	return refResult{}, false
}

// refXFFRanges is the rightmost-untrusted walk.
func (o refRules) refXFFRanges(remoteAddr string, values []string, prefixes []netip.Prefix) refResult {
	if res, done := o.peerGate(remoteAddr, prefixes); done {
		return res
	}
	if len(values) == 0 {
		return refFail(errNoHeader)
	}
	entries := split(values)
	for i := len(entries) - 1; i >= 0; i-- {
		e := o.trim(entries[i])
		if e == "" {
			if o.skipEmpty {
				continue
			}
			return refFail(errInvalidEntry)
		}
		ip, ok := o.entry(e)
		if !ok {
			return refFail(errInvalidEntry)
		}
		if !refTrusted(prefixes, ip) {
			return refResult{ip: ip}
		}
	}
	return refFail(errAllTrusted)
}

// refSingle is the single-IP header, last instance wins.
func (o refRules) refSingle(remoteAddr string, values []string, prefixes []netip.Prefix) refResult {
	if res, done := o.peerGate(remoteAddr, prefixes); done {
		return res
	}
	if len(values) == 0 {
		return refFail(errNoHeader)
	}
	v := values[len(values)-1]
	if o.singleTrim {
		v = o.trim(v)
	}
	ip, ok := o.entry(v)
	if v == "" || !ok {
		return refFail(errInvalidEntry)
	}
	if o.singleRejectsTrusted && refTrusted(prefixes, ip) {
		return refFail(errAllTrusted)
	}
	return refResult{ip: ip}
}

func mustPrefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		if !strings.Contains(s, "/") {
			a := netip.MustParseAddr(s)
			out[i] = netip.PrefixFrom(a, a.BitLen())
			continue
		}
		out[i] = netip.MustParsePrefix(s).Masked()
	}
	return out
}
