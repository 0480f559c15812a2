package middleware

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"runtime"
	"strings"
	"testing"

	chimw "github.com/go-chi/chi/v5/middleware"
)

// benchRanges returns n trusted ranges: n-1 deterministic random IPv4 and
// IPv6 prefixes that cover none of the benchmark's addresses, then
// 10.0.0.0/8 last (so a linear scan, as chi does, walks all of them).
func benchRanges(n int) []string {
	rng := rand.New(rand.NewPCG(7, 11))
	out := make([]string, 0, n)
	seen := map[string]bool{}
	for len(out) < n-1 {
		var p netip.Prefix
		if rng.IntN(4) == 0 {
			var b [16]byte
			b[0], b[1] = 0x2a, byte(rng.IntN(256))
			for i := 2; i < 6; i++ {
				b[i] = byte(rng.IntN(256))
			}
			p = netip.PrefixFrom(netip.AddrFrom16(b), 32+rng.IntN(17)).Masked()
		} else {
			a := byte(11 + rng.IntN(180)) // never 10.x, never 192.x/198.x/203.x
			p = netip.PrefixFrom(netip.AddrFrom4([4]byte{a, byte(rng.IntN(256)), byte(rng.IntN(256)), 0}), 16+rng.IntN(9)).Masked()
		}
		if s := p.String(); !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return append(out, "10.0.0.0/8")
}

// benchXFF is a realistic chain: a client-written spoof, the client, then
// two trusted hops. Both implementations answer 203.0.113.7.
const benchXFF = "198.51.100.1, 203.0.113.7, 10.0.0.1, 10.1.2.3"

func benchRequest() *http.Request {
	return request("10.0.0.5:1234", xff(benchXFF)...)
}

// BenchmarkClientIP compares the whole ClientIP middleware (XFF, trusted
// ranges) with chi v5.5.0's ClientIPFromXFF on the same request and the same
// ranges; the next handler reads the address back in both.
func BenchmarkClientIP(b *testing.B) {
	for _, n := range []int{1, 16, 256, 4096} {
		ranges := benchRanges(n)
		b.Run(fmt.Sprintf("ranges=%d/handoffkit", n), func(b *testing.B) {
			s := must(b)(NewXFFTrustedRangesStrategy(ranges...))
			h := ClientIP(s)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if ip, ok := GetClientIP(r.Context()); !ok || ip != want {
					b.Fatal("wrong result", ip)
				}
			}))
			benchServe(b, h)
		})
		b.Run(fmt.Sprintf("ranges=%d/chi", n), func(b *testing.B) {
			h := chimw.ClientIPFromXFF(ranges...)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if chimw.GetClientIPAddr(r.Context()) != want {
					b.Fatal("wrong result")
				}
			}))
			benchServe(b, h)
		})
	}
	// The floor: what any context-storing middleware pays before parsing
	// anything, the derived request plus one context value.
	b.Run("floor_request_copy", func(b *testing.B) {
		h := func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), clientIPKey{}, clientIP{ip: want})))
			})
		}(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if ip, ok := GetClientIP(r.Context()); !ok || ip != want {
				b.Fatal("wrong result", ip)
			}
		}))
		benchServe(b, h)
	})
}

var want = netip.MustParseAddr("203.0.113.7")

func benchServe(b *testing.B, h http.Handler) {
	r := benchRequest()
	w := nopWriter{h: http.Header{}}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	start, ok := threadCPU()
	n := 0
	for b.Loop() {
		h.ServeHTTP(w, r)
		n++
	}
	if end, ok2 := threadCPU(); ok && ok2 && n > 0 {
		b.ReportMetric(float64(end-start)/float64(n), "cpu-ns/op")
	}
}

// BenchmarkStrategies measures each built-in strategy alone (no request
// copy), next to a hand-written baseline that does the same XFF work with
// strings.Split, the way a hand-rolled middleware usually does.
func BenchmarkStrategies(b *testing.B) {
	cases := []struct {
		name string
		s    Strategy
		r    *http.Request
	}{
		{"remote_addr", RemoteAddrStrategy(), request("203.0.113.7:1")},
		{"x-real-ip", must(b)(NewSingleIPHeaderStrategy("X-Real-IP", "10.0.0.0/8")), request("10.0.0.5:1", [2]string{"X-Real-IP", "203.0.113.7"})},
		{"xff_ranges", must(b)(NewXFFTrustedRangesStrategy("10.0.0.0/8")), benchRequest()},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if ip, err := c.s.ClientIP(c.r); err != nil || ip != want {
					b.Fatal(ip, err)
				}
			}
		})
	}
	b.Run("xff_ranges_by_hand_split", func(b *testing.B) {
		trusted := netip.MustParsePrefix("10.0.0.0/8")
		r := benchRequest()
		b.ReportAllocs()
		for b.Loop() {
			var got netip.Addr
			parts := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
			for i := len(parts) - 1; i >= 0; i-- {
				ip, err := netip.ParseAddr(strings.TrimSpace(parts[i]))
				if err != nil {
					break
				}
				if ip = ip.Unmap(); !trusted.Contains(ip) {
					got = ip
					break
				}
			}
			if got != want {
				b.Fatal(got)
			}
		}
	})
}
