package bluenexustest

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
)

// defaultDomains is the allowed-domains list without [WithAllowedDomains]:
// loopback for local development, and the reserved test hosts
// (RFC 2606, RFC 6761) that the kit's examples, benchmarks and tests send
// as their return URL.
var defaultDomains = []string{"localhost", "127.0.0.0/8", "::1", "app.example.com", "app.example"}

// domainList is the white-label client's allowed domains, parsed once by
// [parseDomains].
type domainList struct {
	hosts    map[string]bool // exact host names, lower case, no trailing dot
	suffixes []string        // ".example.com" for the entry "*.example.com"
	prefixes []netip.Prefix  // IP addresses (as /32 or /128) and CIDRs
	schemes  map[string]bool // custom app schemes; empty allows any
}

var (
	hostNameRE = regexp.MustCompile(`^(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$`)
	schemeRE   = regexp.MustCompile(`^[a-z][a-z0-9+.-]+$`)
)

// parseDomains reads [WithAllowedDomains] entries. Errors quote the entry.
func parseDomains(entries []string) (domainList, error) {
	if len(entries) == 0 {
		return domainList{}, errors.New("no domains given")
	}
	d := domainList{hosts: map[string]bool{}, schemes: map[string]bool{}}
	for _, e := range entries {
		v := strings.ToLower(e)
		bad := func(why string) (domainList, error) {
			return domainList{}, fmt.Errorf("%q: %s", e, why)
		}
		switch {
		case strings.HasSuffix(v, "://"):
			sch := strings.TrimSuffix(v, "://")
			if !schemeRE.MatchString(sch) || sch == "http" || sch == "https" || deniedSchemes[sch] {
				return bad("not a custom app scheme (two or more of a-z 0-9 + . -, starting with a letter; not http, https or a script or local scheme)")
			}
			d.schemes[sch] = true
		case strings.Contains(v, "/"):
			p, err := netip.ParsePrefix(v)
			if err != nil {
				return bad("not a CIDR prefix")
			}
			d.prefixes = append(d.prefixes, unmapPrefix(p))
		case strings.HasPrefix(v, "*."):
			if !hostNameRE.MatchString(v[2:]) || len(v) > 255 {
				return bad("not *. followed by a domain name")
			}
			d.suffixes = append(d.suffixes, v[1:])
		default:
			if ip, err := netip.ParseAddr(v); err == nil {
				if ip.Zone() != "" {
					return bad("an IP address with a zone")
				}
				ip = ip.Unmap()
				d.prefixes = append(d.prefixes, netip.PrefixFrom(ip, ip.BitLen()))
				continue
			}
			v = strings.TrimSuffix(v, ".")
			if !hostNameRE.MatchString(v) || len(v) > 253 {
				return bad("not a host name, *.domain, IP address, CIDR prefix or scheme://")
			}
			d.hosts[v] = true
		}
	}
	return d, nil
}

// unmapPrefix turns an IPv4-mapped IPv6 prefix (::ffff:127.0.0.0/104) into
// its IPv4 form, so that it matches unmapped hosts.
func unmapPrefix(p netip.Prefix) netip.Prefix {
	p = p.Masked()
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p
}

// check returns why the redirectUri raw, already accepted by
// [checkRedirectURI], is outside the allowed domains, or "".
func (d *domainList) check(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "redirectUri must be a valid URL"
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		if len(d.schemes) == 0 || d.schemes[scheme] {
			return ""
		}
		return fmt.Sprintf("redirectUri scheme %q is not an allowed domain of this client", scheme)
	}
	if d.allowsHost(u.Hostname()) {
		return ""
	}
	return fmt.Sprintf("redirectUri host %q is not an allowed domain of this client", u.Hostname())
}

// allowsHost matches a URL's host name (brackets already removed).
func (d *domainList) allowsHost(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.Zone() != "" {
			return false
		}
		ip = ip.Unmap()
		for _, p := range d.prefixes {
			if p.Contains(ip) {
				return true
			}
		}
		return false
	}
	if d.hosts[host] {
		return true
	}
	for _, suf := range d.suffixes {
		if len(host) > len(suf) && strings.HasSuffix(host, suf) {
			return true
		}
	}
	return false
}
