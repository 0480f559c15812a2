package middleware

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/gaissmai/bart"
)

// parseTrusted loads the trusted proxies: CIDRs or single IPs, host bits
// masked, IPv4-mapped prefixes stored as IPv4. A bart prefix table keeps a
// lookup's cost flat in the number of ranges (thousands of CDN ranges).
func parseTrusted(constructor string, trusted []string) (*bart.Lite, error) {
	if len(trusted) == 0 {
		return nil, configError(constructor, "trusted", "at least one trusted proxy is required")
	}
	table := new(bart.Lite)
	for i, s := range trusted {
		p, reason := parsePrefix(s)
		if reason != "" {
			return nil, configError(constructor, fmt.Sprintf("trusted[%d] %.64q", i, s), reason)
		}
		table.Insert(p)
	}
	return table, nil
}

// parsePrefix parses one trusted entry, or returns why it is refused.
func parsePrefix(s string) (netip.Prefix, string) {
	p, err := netip.ParsePrefix(s)
	if !strings.Contains(s, "/") {
		a, aerr := netip.ParseAddr(s)
		if aerr == nil && a.Zone() != "" {
			return p, "IPv6 zones are not allowed"
		}
		p, err = netip.PrefixFrom(a, a.BitLen()), aerr
	}
	if err != nil {
		return p, "not a CIDR prefix or IP address"
	}
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	if p.Bits() == 0 {
		return p, "trusting every address would leave every request without a client IP"
	}
	return p.Masked(), ""
}
