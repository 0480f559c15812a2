package middleware

import (
	"testing"
)

// TestSecurityA_HostileInputTable runs every client-IP row of SECURITY.md's
// "Examples of hostile inputs" table, against each strategy the row applies
// to. (The table's other rows are about /return, state, next and the
// upstream call, and are pinned by the packages that own those.)
func TestSecurityA_HostileInputTable(t *testing.T) {
	tcpPeer := RemoteAddrStrategy()
	xffRanges := must(t)(NewXFFTrustedRangesStrategy("10.0.0.0/8"))
	realIP := must(t)(NewSingleIPHeaderStrategy("X-Real-IP", "10.0.0.0/8"))

	t.Run("tcp_peer_ignores_xff_loopback", func(t *testing.T) {
		got, err := serve(t, tcpPeer, request("203.0.113.9:5555", xff("127.0.0.1")...))
		check(t, got, err, "203.0.113.9", nil)
	})
	t.Run("trusted_peer_rightmost_untrusted", func(t *testing.T) {
		got, err := serve(t, xffRanges, request("10.0.0.5:1", xff("1.2.3.4, 99.99.99.99")...))
		check(t, got, err, "99.99.99.99", nil)
	})
	t.Run("untrusted_peer_never_leftmost", func(t *testing.T) {
		for name, s := range map[string]Strategy{"xff": xffRanges, "x-real-ip": realIP} {
			r := request("9.9.9.9:1", append(xff("1.2.3.4, 10.0.0.1"), [2]string{"X-Real-IP", "1.2.3.4"})...)
			got, err := serve(t, s, r)
			if got.String() == "1.2.3.4" {
				t.Fatalf("%s: VULNERABLE: returned the header value of an untrusted peer", name)
			}
			check(t, got, err, "", errUntrustedPeer)
		}
	})
	t.Run("mapped_trusted_is_trusted", func(t *testing.T) {
		got, err := serve(t, xffRanges, request("10.0.0.5:1", xff("::ffff:10.0.0.5, 10.0.0.1")...))
		check(t, got, err, "", errAllTrusted)
	})
	t.Run("garbage_before_client", func(t *testing.T) {
		got, err := serve(t, xffRanges, request("10.0.0.5:1", xff("203.0.113.7, garbage, 10.0.0.1")...))
		check(t, got, err, "", errInvalidEntry)
	})
	t.Run("x_real_ip_twice_last_bad", func(t *testing.T) {
		r := request("10.0.0.5:1", [2]string{"X-Real-IP", "100.4.4.4"}, [2]string{"X-Real-IP", "garbage"})
		got, err := serve(t, realIP, r)
		check(t, got, err, "", errInvalidEntry)
	})
	for _, entry := range []string{"010.001.002.003", "3627734734"} {
		t.Run("invalid_entry_"+entry, func(t *testing.T) {
			for name, r := range map[string]struct {
				s    Strategy
				hdrs [][2]string
			}{
				"xff_ranges": {xffRanges, xff(entry)},
				"x-real-ip":  {realIP, [][2]string{{"X-Real-IP", entry}}},
			} {
				got, err := serve(t, r.s, request("10.0.0.5:1", r.hdrs...))
				if err == nil {
					t.Errorf("%s: %q accepted as %v", name, entry, got)
					continue
				}
				check(t, got, err, "", errInvalidEntry)
			}
		})
	}
}
