package middleware

import (
	"errors"
	"net/http"
	"net/netip"
	"testing"
)

// Fuzz targets for every strategy (SECURITY.md A9). Their oracles:
//   - never panic (implicit);
//   - a result is canonical: valid, not IPv4-mapped, no zone, not
//     unspecified, and netip.ParseAddr(ip.String()) == ip;
//   - a result is never inside the trusted ranges;
//   - feeding the result back as the whole header returns it;
//   - results equal the naive reference model (refmodel_test.go);
//   - metamorphic: a trusted hop appended as a new last line never changes
//     the outcome, and a client-written first line never changes a found IP;
//   - every failure wraps ErrNoClientIP.
// Seeds live in testdata/fuzz/<FuzzName>/ and in the f.Add calls; plain
// `go test` runs only those.

var (
	fuzzTrusted  = []string{"10.0.0.0/8", "fd00::/8", "192.0.2.1"}
	fuzzPrefixes = mustPrefixes(fuzzTrusted...)
)

const fuzzPeer = "10.0.0.5:1234"

func checkCanonical(t *testing.T, ip netip.Addr) {
	t.Helper()
	if !ip.IsValid() || ip.Is4In6() || ip.Zone() != "" || ip.IsUnspecified() {
		t.Fatalf("result %v is not canonical", ip)
	}
	if back, err := netip.ParseAddr(ip.String()); err != nil || back != ip {
		t.Fatalf("result %v does not re-parse to itself: %v %v", ip, back, err)
	}
}

func checkFailure(t *testing.T, ip netip.Addr, err error) {
	t.Helper()
	if ip.IsValid() {
		t.Fatalf("address %v returned with error %v", ip, err)
	}
	if !errors.Is(err, ErrNoClientIP) {
		t.Fatalf("error %v does not wrap ErrNoClientIP", err)
	}
}

// sameOutcome reports whether two strategy outcomes are the same address or
// the same reason.
func sameOutcome(ip1 netip.Addr, err1 error, ip2 netip.Addr, err2 error) bool {
	if err1 == nil || err2 == nil {
		return err1 == nil && err2 == nil && ip1 == ip2
	}
	for _, reason := range []error{errInvalidPeer, errUntrustedPeer, errNoHeader, errInvalidEntry, errAllTrusted} {
		if errors.Is(err1, reason) != errors.Is(err2, reason) {
			return false
		}
	}
	return true
}

// fuzzLines turns fuzz arguments into 0, 1 or 2 header lines.
func fuzzLines(a, b string, n uint8) []string {
	switch n % 3 {
	case 0:
		return nil
	case 1:
		return []string{a}
	}
	return []string{a, b}
}

func headerReq(peer, name string, lines []string) *http.Request {
	return request(peer, lines2(name, lines)...)
}

func addXFFSeeds(f *testing.F) {
	for _, s := range [][2]string{
		{"203.0.113.7", "10.0.0.1"},
		{"1.2.3.4, 99.99.99.99", ""},
		{"::ffff:10.0.0.5, 10.0.0.1", "fd00::1%eth0"},
		{"203.0.113.7, garbage, 10.0.0.1", "192.0.2.1"},
		{"010.001.002.003", "3627734734"},
		{"[2001:db8::1]:443, 1.2.3.4:80", ",,,"},
		{"0.0.0.0, ::", "::ffff:0.0.0.0"},
		{" \t2001:DB8::1\t ", "unknown, _hidden"},
	} {
		f.Add(s[0], s[1], uint8(2))
	}
}

func FuzzXFFTrustedRangesStrategy(f *testing.F) {
	addXFFSeeds(f)
	s := must(f)(NewXFFTrustedRangesStrategy(fuzzTrusted...))
	f.Fuzz(func(t *testing.T, a, b string, n uint8) {
		lines := fuzzLines(a, b, n)
		ip, err := s.ClientIP(headerReq(fuzzPeer, "X-Forwarded-For", lines))
		sameResult(t, "fuzz", "strategy", ip, err, handoffkitRules.refXFFRanges(fuzzPeer, lines, fuzzPrefixes))
		// Appending a trusted hop as a new last line changes nothing.
		ip2, err2 := s.ClientIP(headerReq(fuzzPeer, "X-Forwarded-For", append(append([]string(nil), lines...), "10.0.0.1")))
		if len(lines) > 0 && !sameOutcome(ip, err, ip2, err2) {
			t.Fatalf("appending a trusted hop changed (%v, %v) into (%v, %v)", ip, err, ip2, err2)
		}
		if err != nil {
			checkFailure(t, ip, err)
			return
		}
		checkCanonical(t, ip)
		if refTrusted(fuzzPrefixes, ip) {
			t.Fatalf("result %v is a trusted proxy", ip)
		}
		// The client's own first line never changes a found IP.
		if got, err := s.ClientIP(headerReq(fuzzPeer, "X-Forwarded-For", append([]string{"6.6.6.6, garbage"}, lines...))); err != nil || got != ip {
			t.Fatalf("a prepended line changed %v into (%v, %v)", ip, got, err)
		}
		if got, err := s.ClientIP(headerReq(fuzzPeer, "X-Forwarded-For", []string{ip.String()})); err != nil || got != ip {
			t.Fatalf("feeding back %v gave (%v, %v)", ip, got, err)
		}
	})
}

func FuzzSingleIPHeaderStrategy(f *testing.F) {
	for _, s := range [][2]string{
		{"203.0.113.7", ""}, {"100.4.4.4", "garbage"}, {"10.9.9.9", "::ffff:203.0.113.7"},
		{"1.1.1.1, 2.2.2.2", " 2001:db8::1%eth0\t"}, {"", "0.0.0.0"},
	} {
		f.Add(s[0], s[1], uint8(2))
	}
	s := must(f)(NewSingleIPHeaderStrategy("X-Real-IP", fuzzTrusted...))
	f.Fuzz(func(t *testing.T, a, b string, n uint8) {
		lines := fuzzLines(a, b, n)
		ip, err := s.ClientIP(headerReq(fuzzPeer, "X-Real-IP", lines))
		sameResult(t, "fuzz", "strategy", ip, err, handoffkitRules.refSingle(fuzzPeer, lines, fuzzPrefixes))
		if err != nil {
			checkFailure(t, ip, err)
			return
		}
		checkCanonical(t, ip)
		if refTrusted(fuzzPrefixes, ip) {
			t.Fatalf("result %v is a trusted proxy", ip)
		}
		if got, err := s.ClientIP(headerReq(fuzzPeer, "X-Real-IP", []string{ip.String()})); err != nil || got != ip {
			t.Fatalf("feeding back %v gave (%v, %v)", ip, got, err)
		}
	})
}

func FuzzRemoteAddrStrategy(f *testing.F) {
	for _, s := range []string{"203.0.113.9:5555", "[2001:db8::1]:443", "[::ffff:1.2.3.4]:1", "[fe80::1%eth0]:1", "1.2.3.4", "@", "", "0.0.0.0:1", "1.2.3.4:99999"} {
		f.Add(s)
	}
	s := RemoteAddrStrategy()
	f.Fuzz(func(t *testing.T, remoteAddr string) {
		ip, err := s.ClientIP(request(remoteAddr, xff("127.0.0.1")...))
		want, ok := handoffkitRules.peer(remoteAddr)
		if ok != (err == nil) || (ok && ip != want) {
			t.Fatalf("(%v, %v), reference says (%v, %v)", ip, err, want, ok)
		}
		if err != nil {
			checkFailure(t, ip, err)
			return
		}
		checkCanonical(t, ip)
		for _, back := range []string{ip.String(), netip.AddrPortFrom(ip, 1).String()} {
			if got, err := s.ClientIP(request(back)); err != nil || got != ip {
				t.Fatalf("feeding back %q gave (%v, %v)", back, got, err)
			}
		}
	})
}

// FuzzParseEntry pins that header entries and r.RemoteAddr parse exactly as
// the reference model's netip calls do (leading-zero and integer IPv4,
// hostnames and the unspecified addresses rejected; zones dropped).
func FuzzParseEntry(f *testing.F) {
	for _, s := range []string{"203.0.113.7", "010.1.2.3", "0.0.0.0", "255.255.255.255", "256.1.1.1", "1.2.3", "1.2.3.4.5", "1..2.3", "::ffff:1.2.3.4", "1.2.3.4:80", "[::1]:65535", "[::1]:65536", "::1:80", "[1.2.3.4]:80", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseEntry(s)
		want, wantOK := handoffkitRules.entry(s)
		if ok != wantOK || (ok && got != want) {
			t.Fatalf("parseEntry(%q) = (%v, %v), netip says (%v, %v)", s, got, ok, want, wantOK)
		}
		got, ok = parsePeer(s)
		want, wantOK = handoffkitRules.peer(s)
		if ok != wantOK || (ok && got != want) {
			t.Fatalf("parsePeer(%q) = (%v, %v), netip says (%v, %v)", s, got, ok, want, wantOK)
		}
	})
}
