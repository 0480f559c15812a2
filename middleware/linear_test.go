package middleware

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// hugeHeaders builds the worst cases for each strategy at n entries: the
// walk reaches the left end of the header, and finds the client there or
// not at all.
func hugeHeaders(n int) map[string]struct {
	s Strategy
	r *http.Request
} {
	rangesS, _ := NewXFFTrustedRangesStrategy("10.0.0.0/8", "fd00::/8")
	trustedXFF := strings.Repeat("10.0.0.1, fd00::2, ", n/2-1) + "10.0.0.3, 10.0.0.4"
	return map[string]struct {
		s Strategy
		r *http.Request
	}{
		"xff_all_trusted":     {rangesS, request("10.0.0.5:1", xff(trustedXFF)...)},
		"xff_many_instances":  {rangesS, request("10.0.0.5:1", xff(strings.Split(trustedXFF, ", ")...)...)},
		"xff_leftmost_client": {rangesS, request("10.0.0.5:1", xff("203.0.113.7, "+strings.Repeat("10.0.0.1, ", n-2)+"10.0.0.4")...)},
	}
}

// TestA9_LinearInHeaderSize pins, by counting rather than timing, that a
// walk is linear in the header size (docs/SECURITY.md A9): it visits each
// of 100,000 entries exactly once (the trace counts the visits), allocates
// nothing more for them than for 10,000 (no split into a slice), and the
// middleware adds only its own allocations. BenchmarkA9_LinearInHeaderSize
// measures the time per entry.
func TestA9_LinearInHeaderSize(t *testing.T) {
	const small, big = 10_000, 100_000
	smallCases, bigCases := hugeHeaders(small), hugeHeaders(big)
	for name, c := range bigCases {
		t.Run(name, func(t *testing.T) {
			tr := &trace{}
			_, err := c.s.(explainer).derive(c.r, tr)
			if (err == nil) != (name == "xff_leftmost_client") {
				t.Fatalf("unexpected outcome %v", err)
			}
			if len(tr.hops) != big+1 { // the TCP peer, then every entry once
				t.Fatalf("the walk made %d visits for %d entries and the peer", len(tr.hops), big)
			}
			sc := smallCases[name]
			nSmall := testing.AllocsPerRun(3, func() { _, _ = sc.s.ClientIP(sc.r) })
			nBig := testing.AllocsPerRun(3, func() { _, _ = c.s.ClientIP(c.r) })
			if nBig != 0 || nSmall != 0 {
				t.Errorf("strategy allocates %v times on %d entries, %v on %d", nBig, big, nSmall, small)
			}
			h := ClientIP(c.s)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			w := nopWriter{h: http.Header{}}
			if n := testing.AllocsPerRun(3, func() { h.ServeHTTP(w, c.r) }); n > 3 {
				t.Errorf("middleware allocates %v times on a %d-entry header", n, big)
			}
		})
	}
}

// BenchmarkA9_LinearInHeaderSize reports the time per header entry at
// 10,000 and 100,000 entries: equal figures mean a linear walk.
func BenchmarkA9_LinearInHeaderSize(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		for name, c := range hugeHeaders(n) {
			b.Run(fmt.Sprintf("%s/entries=%d", name, n), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					_, _ = c.s.ClientIP(c.r)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/entry")
			})
		}
	}
}
