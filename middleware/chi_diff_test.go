package middleware

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	chimw "github.com/go-chi/chi/v5/middleware"
)

// Pools for generated inputs: trusted and untrusted addresses in several
// notations, and every kind of bad entry.
var (
	diffEntries = []string{
		// trusted under every diffTrustSets entry
		"10.0.0.1", "10.1.2.3", "::ffff:10.0.0.5", "10.0.0.9",
		// trusted under some sets
		"fd00::1", "fd00::7%x", "203.0.113.200",
		// untrusted
		"203.0.113.7", "198.51.100.9", "1.2.3.4", "2001:db8::1", "2001:DB8:0:0::2",
		"::ffff:203.0.113.8", "2001:db8::5%eth0", "127.0.0.1", "172.16.0.4",
		// unspecified
		"0.0.0.0", "::", "::ffff:0.0.0.0",
		// bad
		"garbage", "unknown", "_hidden", "010.001.002.003", "3627734734", "1.2.3.4:80",
		"[2001:db8::1]:443", "[2001:db8::1]", "example.com", "1.2.3", "256.1.1.1", "",
	}
	diffPeers = []string{
		"10.0.0.5:1234", "10.0.0.6:1", "[fd00::9]:443", "[::ffff:10.9.9.9]:80", "10.0.0.7",
		"198.51.100.1:5", "[2001:db8::99]:1", "203.0.113.201:2", "@", "",
	}
	diffTrustSets = [][]string{
		{"10.0.0.0/8"},
		{"10.0.0.0/8", "fd00::/8"},
		{"10.0.0.0/8", "203.0.113.192/26", "fd00::1"},
	}
	diffPads = []string{"", "", " ", "\t", "  "}
)

func genHeader(rng *rand.Rand) []string {
	n := rng.IntN(4) // 0..3 instances
	values := make([]string, n)
	for i := range values {
		m := 1 + rng.IntN(5)
		parts := make([]string, m)
		for j := range parts {
			parts[j] = diffPads[rng.IntN(len(diffPads))] + diffEntries[rng.IntN(len(diffEntries))] + diffPads[rng.IntN(len(diffPads))]
		}
		sep := ","
		if rng.IntN(2) == 0 {
			sep = ", "
		}
		values[i] = strings.Join(parts, sep)
	}
	return values
}

func diffRequest(peer, header string, values []string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = peer
	for _, v := range values {
		r.Header.Add(header, v)
	}
	return r
}

// chiResult runs one chi middleware and returns what it stored.
func chiResult(mw func(http.Handler) http.Handler, r *http.Request) netip.Addr {
	var got netip.Addr
	mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = chimw.GetClientIPAddr(r.Context())
	})).ServeHTTP(httptest.NewRecorder(), r)
	return got
}

// diffStats counts how the two implementations relate on generated inputs.
type diffStats struct{ agree, bothNone, chiOnly, oursOnly int }

func (st *diffStats) compare(t *testing.T, in string, ours netip.Addr, oursErr error, theirs netip.Addr) {
	t.Helper()
	switch {
	case oursErr == nil && theirs.IsValid():
		if ours != theirs {
			t.Fatalf("%s: both define a result and disagree: handoffkit %v, chi %v", in, ours, theirs)
		}
		st.agree++
	case oursErr == nil:
		st.oursOnly++
	case theirs.IsValid():
		st.chiOnly++
	default:
		st.bothNone++
	}
}

func sameResult(t *testing.T, in, who string, got netip.Addr, gotErr error, want refResult) {
	t.Helper()
	if want.reason == nil {
		if gotErr != nil || got != want.ip {
			t.Fatalf("%s: %s = (%v, %v), reference model says %v", in, who, got, gotErr, want.ip)
		}
		return
	}
	if gotErr == nil && got.IsValid() {
		t.Fatalf("%s: %s = %v, reference model says no IP (%v)", in, who, got, want.reason)
	}
	if gotErr != nil && !errors.Is(gotErr, want.reason) {
		t.Fatalf("%s: %s error %v, reference model says %v", in, who, gotErr, want.reason)
	}
}

// TestDifferential_Chi compares the XFF strategy and the single-IP header
// strategy with chi v5.5.0's ClientIPFromXFF and ClientIPFromHeader on
// generated inputs (deterministic seed). Where both define a result they
// agree; for X-Forwarded-For handoffkit never finds an IP where chi finds
// none; and every case where only one of them finds an IP is explained by
// the reference model's knobs (refRules), each a deliberate, documented
// difference: chi returns an untrusted peer, skips empty entries, accepts
// 0.0.0.0 and ::, and accepts a single-IP header value that is one of the
// trusted proxies; the single-IP header is the one place handoffkit is more
// lenient, as it trims spaces and tabs around the value (RFC 9110 OWS) and
// chi does not.
func TestDifferential_Chi(t *testing.T) {
	const cases = 3000
	rng := rand.New(rand.NewPCG(2026, 7239))
	var ranges, single diffStats
	for i := range cases {
		trust := diffTrustSets[rng.IntN(len(diffTrustSets))]
		prefixes := mustPrefixes(trust...)
		chiTrust := make([]string, len(prefixes)) // chi takes CIDRs only, never a bare IP
		for j, p := range prefixes {
			chiTrust[j] = p.String()
		}
		peer := diffPeers[rng.IntN(len(diffPeers))]
		values := genHeader(rng)
		in := fmt.Sprintf("case %d: trusted=%q peer=%q values=%q", i, trust, peer, values)

		// Trusted ranges.
		s := must(t)(NewXFFTrustedRangesStrategy(trust...))
		ours, oursErr := s.ClientIP(diffRequest(peer, "X-Forwarded-For", values))
		theirs := chiResult(chimw.ClientIPFromXFF(chiTrust...), diffRequest(peer, "X-Forwarded-For", values))
		sameResult(t, in, "handoffkit ranges", ours, oursErr, handoffkitRules.refXFFRanges(peer, values, prefixes))
		sameResult(t, in, "chi ClientIPFromXFF", theirs, nil, chiRules.refXFFRanges(peer, values, prefixes))
		ranges.compare(t, in, ours, oursErr, theirs)

		// Single-IP header: one value per instance.
		var hv []string
		for range rng.IntN(3) {
			hv = append(hv, diffPads[rng.IntN(len(diffPads))]+diffEntries[rng.IntN(len(diffEntries))])
		}
		in3 := fmt.Sprintf("case %d: trusted=%q peer=%q X-Real-IP=%q", i, trust, peer, hv)
		h := must(t)(NewSingleIPHeaderStrategy("X-Real-IP", trust...))
		ours, oursErr = h.ClientIP(diffRequest(peer, "X-Real-IP", hv))
		theirs = chiResult(chimw.ClientIPFromHeader("X-Real-IP", chiTrust...), diffRequest(peer, "X-Real-IP", hv))
		sameResult(t, in3, "handoffkit single header", ours, oursErr, handoffkitRules.refSingle(peer, hv, prefixes))
		sameResult(t, in3, "chi ClientIPFromHeader", theirs, nil, chiRules.refSingle(peer, hv, prefixes))
		single.compare(t, in3, ours, oursErr, theirs)
	}
	for name, st := range map[string]diffStats{"ranges": ranges, "single": single} {
		t.Logf("%s: agree=%d both-none=%d chi-only=%d handoffkit-only=%d", name, st.agree, st.bothNone, st.chiOnly, st.oursOnly)
		if name != "single" && st.oursOnly != 0 {
			t.Errorf("%s: handoffkit found an IP where chi found none %d times", name, st.oursOnly)
		}
		if st.agree < cases/30 {
			t.Errorf("%s: only %d agreeing results: generator too hostile to compare anything", name, st.agree)
		}
	}
}
