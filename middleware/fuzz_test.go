package middleware

import (
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

// Fuzz targets for every strategy (SECURITY.md A9). Their oracles:
//   - never panic (implicit);
//   - a result is canonical: valid, not IPv4-mapped, no zone, not
//     unspecified, and netip.ParseAddr(ip.String()) == ip;
//   - a result is never inside the trusted ranges;
//   - feeding the result back as the whole header returns it;
//   - X-Forwarded-For and single-IP header results equal the naive
//     reference model (refmodel_test.go); Forwarded results equal a naive
//     model on inputs without quoted strings;
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
	for _, reason := range []error{errInvalidPeer, errUntrustedPeer, errNoHeader, errInvalidEntry, errAllTrusted, errTooFewEntries} {
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

func FuzzXFFTrustedCountStrategy(f *testing.F) {
	addXFFSeeds(f)
	f.Fuzz(func(t *testing.T, a, b string, n uint8) {
		lines := fuzzLines(a, b, n)
		count := 1 + int(n/3)%5
		s := must(t)(NewXFFTrustedCountStrategy(count))
		ip, err := s.ClientIP(headerReq("198.51.100.1:1", "X-Forwarded-For", lines))
		sameResult(t, "fuzz", "strategy", ip, err, handoffkitRules.refXFFCount(lines, count))
		if err != nil {
			checkFailure(t, ip, err)
			return
		}
		checkCanonical(t, ip)
		one := must(t)(NewXFFTrustedCountStrategy(1))
		if got, err := one.ClientIP(headerReq("198.51.100.1:1", "X-Forwarded-For", []string{ip.String()})); err != nil || got != ip {
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

// forNode formats ip as the for= value of a Forwarded element.
func forNode(ip netip.Addr) string {
	if ip.Is6() {
		return `for="[` + ip.String() + `]"`
	}
	return "for=" + ip.String()
}

// refForwardedUnquoted is a naive model of the Forwarded strategy for
// headers without quoted strings: split on commas, then on semicolons.
func refForwardedUnquoted(lines []string) refResult {
	if len(lines) == 0 {
		return refFail(errNoHeader)
	}
	tokens := func(s string) bool { return s != "" && tokenLen(s) == len(s) }
	elements := split(lines)
	for i := len(elements) - 1; i >= 0; i-- {
		var forVal string
		nFor, bad := 0, false
		for _, p := range strings.Split(elements[i], ";") {
			p = strings.Trim(p, " \t")
			if p == "" {
				continue
			}
			name, val, ok := strings.Cut(p, "=")
			if !ok || !tokens(name) || !tokens(val) {
				bad = true
				break
			}
			if strings.EqualFold(name, "for") {
				nFor++
				forVal = val
			}
		}
		if bad || nFor != 1 {
			return refFail(errInvalidEntry)
		}
		ip, ok := handoffkitRules.entry(forVal)
		if !ok {
			return refFail(errInvalidEntry)
		}
		if !refTrusted(fuzzPrefixes, ip) {
			return refResult{ip: ip}
		}
	}
	return refFail(errAllTrusted)
}

func FuzzForwardedStrategy(f *testing.F) {
	for _, s := range [][2]string{
		{"for=192.0.2.60;proto=http;by=203.0.113.43", "for=10.0.0.1"},
		{`for="[2001:db8:cafe::17]:4711"`, `for="_gazonk"`},
		{`for=192.0.2.43;by="a,b", for=10.0.0.1`, `For="[::ffff:10.0.0.5]"`},
		{`for="192.0.2.9, for=10.0.0.7", for=10.0.0.1`, `for="unterminated`},
		{`for=unknown, for=198.51.100.17`, `;;for=203.0.113.1;;`},
		{`for="\1.2.3.4"`, `for=1.2.3.4;for=5.6.7.8`},
		{`proto=https`, `for=203.0.113.7:80`},
	} {
		f.Add(s[0], s[1], uint8(2))
	}
	s := must(f)(NewForwardedStrategy(fuzzTrusted...))
	f.Fuzz(func(t *testing.T, a, b string, n uint8) {
		lines := fuzzLines(a, b, n)
		ip, err := s.ClientIP(headerReq(fuzzPeer, "Forwarded", lines))
		if !strings.ContainsRune(a+b, '"') {
			sameResult(t, "fuzz", "strategy", ip, err, refForwardedUnquoted(lines))
		}
		ip2, err2 := s.ClientIP(headerReq(fuzzPeer, "Forwarded", append(append([]string(nil), lines...), "for=10.0.0.1")))
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
		if got, err := s.ClientIP(headerReq(fuzzPeer, "Forwarded", append([]string{`for="6.6.6.6, for=garbage`}, lines...))); err != nil || got != ip {
			t.Fatalf("a prepended line changed %v into (%v, %v)", ip, got, err)
		}
		if got, err := s.ClientIP(headerReq(fuzzPeer, "Forwarded", []string{forNode(ip)})); err != nil || got != ip {
			t.Fatalf("feeding back %v gave (%v, %v)", ip, got, err)
		}
	})
}

// FuzzParseEntry pins that the parsing fast paths (dotted-quad IPv4, the
// RemoteAddr split) change speed only: results equal netip's.
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
