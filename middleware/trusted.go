package middleware

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/gaissmai/bart"
)

// trustedSet is the set of trusted proxy addresses, kept in a [bart.Lite]
// prefix table: a lookup walks at most one trie level per address byte, so
// its cost does not grow with the number of ranges (a linear scan over
// thousands of CDN ranges would). The table is the library's; this type only
// validates and normalises the configured entries.
type trustedSet struct {
	table bart.Lite
	n     int
}

// parseTrusted validates and loads trusted ranges. Each entry is a CIDR
// ("10.0.0.0/8", "2001:db8::/32") or a single IP ("10.0.0.1" is 10.0.0.1/32).
// Host bits are masked ("10.0.0.5/8" is 10.0.0.0/8). IPv4-mapped IPv6 forms
// ("::ffff:10.0.0.0/104") are stored as the IPv4 prefix they denote, because
// addresses are unmapped before every lookup. Zones, hostnames, leading-zero
// IPv4, surrounding spaces and /0 prefixes (which would make every address a
// trusted proxy, so no request could have a client IP) are errors.
func parseTrusted(constructor string, trusted []string) (*trustedSet, error) {
	if len(trusted) == 0 {
		return nil, configError(constructor, "trusted", "at least one trusted proxy range is required for a strategy that reads a header")
	}
	t := &trustedSet{}
	for i, s := range trusted {
		p, err := parseTrustedEntry(s)
		if err != nil {
			return nil, configError(constructor, "trusted["+strconv.Itoa(i)+"] "+quote(s), "%v", err)
		}
		if p.Bits() == 0 {
			return nil, configError(constructor, "trusted["+strconv.Itoa(i)+"] "+quote(s),
				"trusting every address would leave every request without a client IP")
		}
		t.table.Insert(p)
		t.n++
	}
	return t, nil
}

type trustedEntryError string

func (e trustedEntryError) Error() string { return string(e) }

func parseTrustedEntry(s string) (netip.Prefix, error) {
	if s == "" || strings.TrimSpace(s) != s {
		return netip.Prefix{}, trustedEntryError("empty or padded with spaces")
	}
	var p netip.Prefix
	if strings.IndexByte(s, '/') >= 0 {
		var err error
		p, err = netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, trustedEntryError("not a CIDR prefix or IP address")
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, trustedEntryError("not a CIDR prefix or IP address")
		}
		if a.Zone() != "" {
			return netip.Prefix{}, trustedEntryError("IPv6 zones are not allowed")
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

// contains reports whether ip (already unmapped and zoneless) is trusted.
func (t *trustedSet) contains(ip netip.Addr) bool {
	return t.table.Contains(ip)
}

func quote(s string) string {
	const max = 64
	if len(s) > max {
		s = s[:max] + "..."
	}
	return strconv.Quote(s)
}
