package middleware

import (
	"net/http"
	"net/netip"
	"strconv"
	"strings"
)

// xffKey is the canonical X-Forwarded-For header key.
const xffKey = "X-Forwarded-For"

// NewXFFTrustedRangesStrategy returns the strategy for a server behind
// proxies whose addresses are known: it walks X-Forwarded-For from the right,
// skips entries inside trusted, and returns the first entry that is not
// trusted (the "rightmost untrusted" algorithm of adam-p.ca and
// realclientip-go).
//
// trusted holds CIDRs ("10.0.0.0/8", "2001:db8::/32") or single IPs
// ("127.0.0.1", "::1"); it must not be empty, must not contain a /0, and is
// validated here (errors wrap [ErrInvalidConfig] and name the entry). It is
// kept in a prefix table, so lookup cost does not grow with its size.
//
// Rules (SECURITY.md A2 to A4):
//   - The TCP peer must be inside trusted, else the header is ignored and the
//     result is errUntrustedPeer. A client that reaches this server
//     directly cannot choose its IP.
//   - Every X-Forwarded-For instance is merged in order (never Header.Get);
//     a proxy that adds a second line instead of appending is handled.
//   - Each comma-separated entry, trimmed of spaces and tabs, must be exactly
//     one IP without a port (see the package documentation for what is
//     rejected). The first bad entry met from the right before the client is
//     errInvalidEntry; an empty entry is a bad entry. Bad entries to the
//     left of the client are never looked at.
//   - If every entry is trusted the result is errAllTrusted, never the
//     leftmost entry. An absent header is errNoHeader.
//   - IPv4-mapped IPv6 entries are unmapped before the trust check, so
//     "::ffff:10.0.0.5" is trusted when 10.0.0.0/8 is; zones are dropped.
//
// The walk never splits the header: it is linear in the header size and
// allocates nothing for a well-formed header (a malformed entry may cost
// the one error value netip builds while rejecting it).
func NewXFFTrustedRangesStrategy(trusted ...string) (Strategy, error) {
	t, err := parseTrusted("NewXFFTrustedRangesStrategy", trusted)
	if err != nil {
		return nil, err
	}
	return &xffRangesStrategy{trusted: t, errs: newHeaderErrors(xffKey)}, nil
}

type xffRangesStrategy struct {
	trusted *trustedSet
	errs    headerErrors
}

func (s *xffRangesStrategy) ClientIP(r *http.Request) (netip.Addr, error) { return s.derive(r, nil) }

func (s *xffRangesStrategy) describe() string { return "X-Forwarded-For, trusted ranges" }

func (s *xffRangesStrategy) derive(r *http.Request, t *trace) (netip.Addr, error) {
	if err := trustedPeer(r, s.trusted, s.errs.untrustedPeer, t); err != nil {
		return netip.Addr{}, err
	}
	values := r.Header[xffKey]
	if len(values) == 0 {
		return netip.Addr{}, s.errs.noHeader
	}
	for i := len(values) - 1; i >= 0; i-- {
		v := values[i]
		for {
			j := strings.LastIndexByte(v, ',')
			ip, ok := parseEntry(trimOWS(v[j+1:]))
			if !ok {
				t.bad(xffKey)
				return netip.Addr{}, s.errs.invalidEntry
			}
			if !s.trusted.contains(ip) {
				t.add(ip, xffKey, false, "the first entry from the right outside the trusted ranges: the client")
				return ip, nil
			}
			t.add(ip, xffKey, true, "inside the trusted ranges")
			if j < 0 {
				break
			}
			v = v[:j]
		}
	}
	return netip.Addr{}, s.errs.allTrusted
}

// NewXFFTrustedCountStrategy returns the strategy for a server behind a
// fixed number of proxies whose addresses are not known (an AWS ALB, a PaaS
// router): the client is the count-th X-Forwarded-For entry from the right
// (count 1 is the rightmost entry, the one the nearest proxy appended), as in
// realclientip-go's RightmostTrustedCountStrategy. count must be at least 1.
//
// This strategy cannot check the TCP peer: it does not know the proxies'
// addresses. The network must guarantee that only the proxies can reach
// this server (a security group, a private subnet); otherwise a direct
// client chooses its own IP. Prefer [NewXFFTrustedRangesStrategy] when the
// ranges are known.
//
// All instances are merged in order. Every entry walked, the count-1 to the
// right of the client and the client itself, must be exactly one IP without
// a port, else errInvalidEntry; an empty entry counts as a position and is
// bad. Fewer than count entries is errTooFewEntries; an absent header is
// errNoHeader. Entries to the left of the client are never looked at.
func NewXFFTrustedCountStrategy(count int) (Strategy, error) {
	if count < 1 {
		return nil, configError("NewXFFTrustedCountStrategy", "count", "must be at least 1, got %d", count)
	}
	return &xffCountStrategy{count: count, errs: newHeaderErrors(xffKey)}, nil
}

type xffCountStrategy struct {
	count int
	errs  headerErrors
}

func (s *xffCountStrategy) ClientIP(r *http.Request) (netip.Addr, error) { return s.derive(r, nil) }

func (s *xffCountStrategy) describe() string {
	return "X-Forwarded-For, " + strconv.Itoa(s.count) + " trusted proxies"
}

func (s *xffCountStrategy) derive(r *http.Request, t *trace) (netip.Addr, error) {
	if t != nil {
		if peer, ok := parsePeer(r.RemoteAddr); ok {
			t.add(peer, fromPeer, true, "not checked: a proxy count cannot check the peer, the network must")
		}
	}
	values := r.Header[xffKey]
	if len(values) == 0 {
		return netip.Addr{}, s.errs.noHeader
	}
	n := s.count
	for i := len(values) - 1; i >= 0; i-- {
		v := values[i]
		for {
			j := strings.LastIndexByte(v, ',')
			ip, ok := parseEntry(trimOWS(v[j+1:]))
			if !ok {
				t.bad(xffKey)
				return netip.Addr{}, s.errs.invalidEntry
			}
			if n--; n == 0 {
				if t != nil {
					t.add(ip, xffKey, false, "entry "+strconv.Itoa(s.count)+" from the right: the client")
				}
				return ip, nil
			}
			t.add(ip, xffKey, true, "written by one of the trusted proxies (count)")
			if j < 0 {
				break
			}
			v = v[:j]
		}
	}
	return netip.Addr{}, s.errs.tooFew
}
