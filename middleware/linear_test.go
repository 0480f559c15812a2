package middleware

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// hugeHeaders builds the worst cases for each strategy at n entries: every
// entry trusted (the walk reaches the left end), and quote-heavy Forwarded
// lines.
func hugeHeaders(n int) map[string]struct {
	s Strategy
	r *http.Request
} {
	rangesS, _ := NewXFFTrustedRangesStrategy("10.0.0.0/8", "fd00::/8")
	countS, _ := NewXFFTrustedCountStrategy(n)
	fwdS, _ := NewForwardedStrategy("10.0.0.0/8", "fd00::/8")
	trustedXFF := strings.Repeat("10.0.0.1, fd00::2, ", n/2) + "10.0.0.3"
	trustedFwd := strings.Repeat(`for=10.0.0.1;proto=https, for="[fd00::2]:80", `, n/2) + "for=10.0.0.3"
	return map[string]struct {
		s Strategy
		r *http.Request
	}{
		"xff_all_trusted":          {rangesS, request("10.0.0.5:1", xff(trustedXFF)...)},
		"xff_many_instances":       {rangesS, request("10.0.0.5:1", xff(strings.Split(trustedXFF, ", ")...)...)},
		"xff_count_leftmost":       {countS, request("10.0.0.5:1", xff(strings.Repeat("203.0.113.7, ", n-1)+"203.0.113.7")...)},
		"forwarded_all_trusted":    {fwdS, request("10.0.0.5:1", fwd(trustedFwd)...)},
		"forwarded_quoted_commas":  {fwdS, request("10.0.0.5:1", fwd(`for="`+strings.Repeat(",", n)+`"`)...)},
		"forwarded_quotes":         {fwdS, request("10.0.0.5:1", fwd(strings.Repeat(`"`, n))...)},
		"forwarded_backslashes":    {fwdS, request("10.0.0.5:1", fwd(`for="`+strings.Repeat(`\`, n))...)},
		"forwarded_empty_elements": {fwdS, request("10.0.0.5:1", fwd(strings.Repeat(",", n))...)},
	}
}

// TestA9_LinearInHeaderSize pins that a 100,000-entry header is parsed
// without a split into a slice (allocations do not grow with the header;
// well-formed headers allocate nothing), that the middleware adds only its
// two allocations, and that ten times the entries cost about ten times
// the time (a quadratic walk would cost a hundred times).
func TestA9_LinearInHeaderSize(t *testing.T) {
	if testing.Short() {
		t.Skip("timing")
	}
	const small, big = 10_000, 100_000
	smallCases, bigCases := hugeHeaders(small), hugeHeaders(big)
	for name, c := range bigCases {
		t.Run(name, func(t *testing.T) {
			_, err := c.s.ClientIP(c.r)
			if (err == nil) != (name == "xff_count_leftmost") {
				t.Fatalf("unexpected outcome %v", err)
			}
			// A malformed entry may cost netip's one error value; nothing
			// may grow with the header.
			sc := smallCases[name]
			nSmall := testing.AllocsPerRun(3, func() { _, _ = sc.s.ClientIP(sc.r) })
			nBig := testing.AllocsPerRun(3, func() { _, _ = c.s.ClientIP(c.r) })
			if nBig > 1 || nBig != nSmall {
				t.Errorf("strategy allocates %v times on %d entries, %v on %d", nBig, big, nSmall, small)
			}
			h := ClientIP(c.s)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			w := nopWriter{h: http.Header{}}
			if n := testing.AllocsPerRun(3, func() { h.ServeHTTP(w, c.r) }); n > 3+nBig {
				t.Errorf("middleware allocates %v times on a %d-entry header", n, big)
			}
			tSmall, tBig := minDuration(smallCases[name].s, smallCases[name].r), minDuration(c.s, c.r)
			if tBig > time.Second {
				t.Errorf("%d entries took %v", big, tBig)
			}
			if ratio := float64(tBig) / float64(tSmall); ratio > 30 {
				t.Errorf("10x entries cost %.1fx the time (%v vs %v): not linear", ratio, tBig, tSmall)
			}
		})
	}
}

// minDuration returns the fastest of a few runs, which is robust to a busy
// machine.
func minDuration(s Strategy, r *http.Request) time.Duration {
	best := time.Duration(1<<63 - 1)
	for range 5 {
		start := time.Now()
		_, _ = s.ClientIP(r)
		if d := time.Since(start); d < best {
			best = d
		}
	}
	return best
}
