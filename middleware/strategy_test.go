package middleware

import (
	"errors"
	"strings"
	"testing"
)

// TestA1_RemoteAddrStrategy pins the directly-exposed strategy: the TCP peer,
// normalised, and never a header.
func TestA1_RemoteAddrStrategy(t *testing.T) {
	runRows(t, RemoteAddrStrategy(), []row{
		{name: "ipv4_with_port", peer: "203.0.113.9:5555", want: "203.0.113.9"},
		{name: "ipv6_with_port", peer: "[2001:db8::1]:443", want: "2001:db8::1"},
		{name: "ipv6_noncanonical", peer: "[2001:DB8:0:0::1]:443", want: "2001:db8::1"},
		{name: "dual_stack_mapped_unmapped", peer: "[::ffff:203.0.113.9]:1", want: "203.0.113.9"},
		{name: "zone_dropped", peer: "[fe80::1%eth0]:1", want: "fe80::1"},
		{name: "bare_ip_accepted", peer: "203.0.113.9", want: "203.0.113.9"},
		{name: "headers_ignored", peer: "203.0.113.9:5555", headers: [][2]string{
			{"X-Forwarded-For", "127.0.0.1"}, {"X-Real-IP", "127.0.0.1"}, {"Forwarded", "for=127.0.0.1"},
		}, want: "203.0.113.9"},
		{name: "unix_socket", peer: "@", wantErr: errInvalidPeer},
		{name: "empty", peer: " ", wantErr: errInvalidPeer},
		{name: "hostname", peer: "localhost:80", wantErr: errInvalidPeer},
		{name: "unspecified", peer: "0.0.0.0:80", wantErr: errInvalidPeer},
		{name: "bad_port", peer: "203.0.113.9:http", wantErr: errInvalidPeer},
	})
}

// TestA2_SingleIPHeaderStrategy pins the single-IP header: last instance
// wins and fails closed, only from trusted peers.
func TestA2_SingleIPHeaderStrategy(t *testing.T) {
	s := must(t)(NewSingleIPHeaderStrategy("x-real-ip", "10.0.0.0/8", "2001:db8:ff::/48"))
	h := func(vs ...string) [][2]string { return lines2("X-Real-IP", vs) }
	runRows(t, s, []row{
		{name: "ipv4", headers: h("203.0.113.7"), want: "203.0.113.7"},
		{name: "ipv6_canonicalised", headers: h("2001:0DB8:0000::0001"), want: "2001:db8::1"},
		{name: "ows_trimmed", headers: h(" \t203.0.113.7 "), want: "203.0.113.7"},
		{name: "mapped_unmapped", headers: h("::ffff:203.0.113.7"), want: "203.0.113.7"},
		{name: "zone_dropped", headers: h("2001:db8::7%eth0"), want: "2001:db8::7"},
		{name: "loopback_is_a_client", headers: h("127.0.0.1"), want: "127.0.0.1"},
		{name: "ipv6_trusted_peer", peer: "[2001:db8:ff::2]:9", headers: h("203.0.113.7"), want: "203.0.113.7"},
		{name: "last_instance_wins", headers: h("6.6.6.6", "100.2.2.2"), want: "100.2.2.2"},
		{name: "last_instance_bad_no_fallback", headers: h("100.4.4.4", "garbage"), wantErr: errInvalidEntry},
		{name: "last_instance_empty_no_fallback", headers: h("100.4.4.4", ""), wantErr: errInvalidEntry},
		{name: "list_is_invalid", headers: h("1.1.1.1, 2.2.2.2"), wantErr: errInvalidEntry},
		{name: "port_rejected", headers: h("203.0.113.7:80"), wantErr: errInvalidEntry},
		{name: "bracketed_port_rejected", headers: h("[2001:db8::1]:80"), wantErr: errInvalidEntry},
		{name: "unknown_rejected", headers: h("unknown"), wantErr: errInvalidEntry},
		{name: "unspecified_rejected", headers: h("0.0.0.0"), wantErr: errInvalidEntry},
		{name: "trusted_value_is_not_a_client", headers: h("10.9.9.9"), wantErr: errAllTrusted},
		{name: "mapped_trusted_value_is_not_a_client", headers: h("::ffff:10.9.9.9"), wantErr: errAllTrusted},
		{name: "missing", wantErr: errNoHeader},
		{name: "other_headers_never_read", headers: [][2]string{{"X-Forwarded-For", "1.1.1.1"}, {"True-Client-IP", "2.2.2.2"}}, wantErr: errNoHeader},
		{name: "untrusted_peer_ignored", peer: "198.51.100.9:1", headers: h("203.0.113.7"), wantErr: errUntrustedPeer},
		{name: "bad_peer", peer: "@", headers: h("203.0.113.7"), wantErr: errInvalidPeer},
	})
}

// TestA2_XFFTrustedRangesStrategy pins the rightmost-untrusted walk.
func TestA2_XFFTrustedRangesStrategy(t *testing.T) {
	s := must(t)(NewXFFTrustedRangesStrategy("10.0.0.0/8", "fd00::/8", "192.0.2.1"))
	runRows(t, s, []row{
		{name: "single", headers: xff("203.0.113.7"), want: "203.0.113.7"},
		{name: "rightmost_untrusted", headers: xff("1.2.3.4, 99.99.99.99"), want: "99.99.99.99"},
		{name: "skips_trusted", headers: xff("203.0.113.7, 10.0.0.1, 10.0.0.2"), want: "203.0.113.7"},
		{name: "skips_single_ip_trusted", headers: xff("203.0.113.7, 192.0.2.1"), want: "203.0.113.7"},
		{name: "boundary_just_outside_single_ip", headers: xff("203.0.113.7, 192.0.2.2"), want: "192.0.2.2"},
		{name: "skips_trusted_v6", headers: xff("2001:db8::1, fd00::1"), want: "2001:db8::1"},
		{name: "no_space", headers: xff("1.1.1.1,2.2.2.2"), want: "2.2.2.2"},
		{name: "tabs_and_spaces", headers: xff("1.1.1.1 ,\t 2.2.2.2\t"), want: "2.2.2.2"},
		{name: "instances_merged_in_order", headers: xff("5.5.5.5, 6.6.6.6", "7.7.7.7, 10.0.0.3"), want: "7.7.7.7"},
		{name: "trusted_instance_crossed", headers: xff("5.5.5.5", "10.0.0.1", "10.0.0.2"), want: "5.5.5.5"},
		{name: "private_between_trusted_is_client", headers: xff("10.0.0.9, 172.16.0.4, 10.0.0.1"), want: "172.16.0.4"},
		{name: "garbage_left_of_client_unread", headers: xff("garbage, 203.0.113.7, 10.0.0.1"), want: "203.0.113.7"},
		{name: "garbage_instance_left_of_client_unread", headers: xff("garbage", "203.0.113.7, 10.0.0.1"), want: "203.0.113.7"},
		{name: "mapped_client_unmapped", headers: xff("::ffff:203.0.113.7, 10.0.0.1"), want: "203.0.113.7"},
		{name: "zoned_client_zone_dropped", headers: xff("2001:db8::1%eth0"), want: "2001:db8::1"},
		{name: "mapped_trusted_counts_as_trusted", headers: xff("::ffff:10.0.0.5, 10.0.0.1"), wantErr: errAllTrusted},
		{name: "zoned_trusted_counts_as_trusted", headers: xff("fd00::1%x, fd00::2"), wantErr: errAllTrusted},
		{name: "all_trusted_never_leftmost", headers: xff("10.0.0.1, 10.0.0.2"), wantErr: errAllTrusted},
		{name: "garbage_before_client", headers: xff("203.0.113.7, garbage, 10.0.0.1"), wantErr: errInvalidEntry},
		{name: "garbage_rightmost", headers: xff("1.1.1.1, garbage"), wantErr: errInvalidEntry},
		{name: "empty_entry_before_client", headers: xff("203.0.113.7,,10.0.0.1"), wantErr: errInvalidEntry},
		{name: "trailing_comma", headers: xff("203.0.113.7,"), wantErr: errInvalidEntry},
		{name: "empty_instance_rightmost", headers: xff("203.0.113.7", ""), wantErr: errInvalidEntry},
		{name: "port_rejected", headers: xff("203.0.113.7:4711, 10.0.0.1"), wantErr: errInvalidEntry},
		{name: "bracketed_v6_port_rejected", headers: xff("[2001:db8::1]:4711"), wantErr: errInvalidEntry},
		{name: "bracketed_v6_rejected", headers: xff("[2001:db8::1]"), wantErr: errInvalidEntry},
		{name: "unknown_rejected", headers: xff("unknown, 10.0.0.1"), wantErr: errInvalidEntry},
		{name: "obfuscated_rejected", headers: xff("_hidden"), wantErr: errInvalidEntry},
		{name: "hostname_rejected", headers: xff("example.com"), wantErr: errInvalidEntry},
		{name: "unspecified_v4_rejected", headers: xff("0.0.0.0"), wantErr: errInvalidEntry},
		{name: "unspecified_v6_rejected", headers: xff("::"), wantErr: errInvalidEntry},
		{name: "unspecified_mapped_rejected", headers: xff("::ffff:0.0.0.0"), wantErr: errInvalidEntry},
		{name: "nbsp_not_trimmed", headers: xff("203.0.113.7\u00a0"), wantErr: errInvalidEntry},
		{name: "missing", wantErr: errNoHeader},
		{name: "untrusted_peer_header_ignored", peer: "9.9.9.9:1", headers: xff("1.2.3.4, 10.0.0.1"), wantErr: errUntrustedPeer},
		{name: "mapped_trusted_peer", peer: "[::ffff:10.0.0.5]:1", headers: xff("203.0.113.7"), want: "203.0.113.7"},
		{name: "zoned_trusted_peer", peer: "[fd00::5%eth0]:1", headers: xff("203.0.113.7"), want: "203.0.113.7"},
		{name: "bad_peer", peer: "@", headers: xff("203.0.113.7"), wantErr: errInvalidPeer},
	})
}

// TestA8_ConstructionValidatesConfig pins that bad configuration stops
// construction with an error naming the package, constructor and parameter.
func TestA8_ConstructionValidatesConfig(t *testing.T) {
	cases := []struct {
		name      string
		build     func() (Strategy, error)
		wantParts []string
	}{
		{"xff_no_ranges", func() (Strategy, error) { return NewXFFTrustedRangesStrategy() }, []string{"NewXFFTrustedRangesStrategy", "trusted"}},
		{"xff_bad_cidr", func() (Strategy, error) { return NewXFFTrustedRangesStrategy("10.0.0.0/8", "10.0.0.300/8") }, []string{"NewXFFTrustedRangesStrategy", "trusted[1]", `"10.0.0.300/8"`}},
		{"xff_hostname", func() (Strategy, error) { return NewXFFTrustedRangesStrategy("proxy.internal") }, []string{"trusted[0]"}},
		{"xff_leading_zero", func() (Strategy, error) { return NewXFFTrustedRangesStrategy("010.0.0.1") }, []string{"trusted[0]"}},
		{"xff_zone", func() (Strategy, error) { return NewXFFTrustedRangesStrategy("fe80::1%eth0") }, []string{"zones"}},
		{"xff_padded", func() (Strategy, error) { return NewXFFTrustedRangesStrategy(" 10.0.0.0/8") }, []string{"trusted[0]"}},
		{"xff_empty_entry", func() (Strategy, error) { return NewXFFTrustedRangesStrategy("") }, []string{"trusted[0]"}},
		{"xff_trust_all_v4", func() (Strategy, error) { return NewXFFTrustedRangesStrategy("0.0.0.0/0") }, []string{"every address"}},
		{"xff_trust_all_v6", func() (Strategy, error) { return NewXFFTrustedRangesStrategy("::/0") }, []string{"every address"}},
		{"header_trust_all", func() (Strategy, error) { return NewSingleIPHeaderStrategy("X-Real-IP", "0.0.0.0/0") }, []string{"NewSingleIPHeaderStrategy", "every address"}},
		{"header_no_ranges", func() (Strategy, error) { return NewSingleIPHeaderStrategy("X-Real-IP") }, []string{"NewSingleIPHeaderStrategy", "trusted"}},
		{"header_bad_name", func() (Strategy, error) { return NewSingleIPHeaderStrategy("X Real IP", "10.0.0.1") }, []string{"header"}},
		{"header_empty_name", func() (Strategy, error) { return NewSingleIPHeaderStrategy("", "10.0.0.1") }, []string{"header"}},
		{"header_is_xff", func() (Strategy, error) { return NewSingleIPHeaderStrategy("x-forwarded-for", "10.0.0.1") }, []string{"NewXFFTrustedRangesStrategy"}},
		{"header_is_forwarded", func() (Strategy, error) { return NewSingleIPHeaderStrategy("Forwarded", "10.0.0.1") }, []string{"NewXFFTrustedRangesStrategy"}},
		{"header_bad_range", func() (Strategy, error) { return NewSingleIPHeaderStrategy("X-Real-IP", "1.2.3.4/33") }, []string{"trusted[0]"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := tc.build()
			if err == nil || s != nil {
				t.Fatalf("got (%v, %v), want a construction error", s, err)
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("%v does not wrap ErrInvalidConfig", err)
			}
			msg := err.Error()
			for _, part := range append([]string{"middleware:"}, tc.wantParts...) {
				if !strings.Contains(msg, part) {
					t.Errorf("error %q does not name %q", msg, part)
				}
			}
		})
	}
}

// TestA8_TrustedRangeForms pins the accepted forms of trusted entries.
func TestA8_TrustedRangeForms(t *testing.T) {
	s := must(t)(NewXFFTrustedRangesStrategy(
		"10.0.0.5/8",            // host bits masked
		"::ffff:172.16.0.0/108", // IPv4-mapped prefix stored as 172.16.0.0/12
		"::ffff:192.0.2.1",      // IPv4-mapped single IP stored as 192.0.2.1/32
		"2001:db8::1",           // single IPv6
	))
	runRows(t, s, []row{
		{name: "masked_prefix", peer: "10.200.0.1:1", headers: xff("203.0.113.7"), want: "203.0.113.7"},
		{name: "mapped_prefix_as_v4", peer: "172.31.0.1:1", headers: xff("203.0.113.7, 172.20.0.1"), want: "203.0.113.7"},
		{name: "mapped_single_as_v4", peer: "192.0.2.1:1", headers: xff("203.0.113.7"), want: "203.0.113.7"},
		{name: "single_v6", peer: "[2001:db8::1]:1", headers: xff("203.0.113.7"), want: "203.0.113.7"},
		{name: "single_v6_is_exact", peer: "[2001:db8::2]:1", headers: xff("203.0.113.7"), wantErr: errUntrustedPeer},
	})
}

// TestA3_HeaderIgnoredFromUntrustedPeer pins, for every strategy that reads
// a header and knows the proxies' addresses, that a peer outside the trusted
// set gets no IP at all, whatever it sends: neither the header's value nor
// its own address.
func TestA3_HeaderIgnoredFromUntrustedPeer(t *testing.T) {
	hdrs := [][2]string{
		{"X-Forwarded-For", "203.0.113.7"}, {"X-Real-IP", "203.0.113.7"},
	}
	for name, s := range map[string]Strategy{
		"single_ip_header": must(t)(NewSingleIPHeaderStrategy("X-Real-IP", "10.0.0.0/8")),
		"xff_ranges":       must(t)(NewXFFTrustedRangesStrategy("10.0.0.0/8")),
	} {
		for _, peer := range []string{"198.51.100.9:1", "[2001:db8::9]:1", "11.0.0.1:1", "[::ffff:11.0.0.1]:1", "127.0.0.1:1"} {
			t.Run(name+"/"+peer, func(t *testing.T) {
				got, err := serve(t, s, request(peer, hdrs...))
				check(t, got, err, "", errUntrustedPeer)
			})
		}
	}
}
