package bluenexus_test

import (
	"context"
	"net/http"
	"strconv"
	"testing"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/bluenexus/bluenexustest"
)

// BenchmarkAllConnections lists every connection of a user with 1, 100 and
// 1,000 connections from the emulator over loopback, in pages of 100, and
// reports the cost per connection (ns/conn), which should stay flat as the
// list grows: one call per 100 connections, each decoded once. The figures
// include the emulator's own work, which runs in the same process.
func BenchmarkAllConnections(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		b.Run("conns="+strconv.Itoa(n), func(b *testing.B) {
			emu := bluenexustest.NewServer()
			defer emu.Close()
			emu.SeedConnections("alice", n)
			token := emu.AddUser("alice")
			hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
			defer hc.CloseIdleConnections()
			c, err := bluenexus.NewClient(bluenexus.WithBaseURL(emu.URL()), bluenexus.WithHTTPClient(hc))
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()

			list := func() {
				got := 0
				for _, err := range c.AllConnections(ctx, token) {
					if err != nil {
						b.Fatal(err)
					}
					got++
				}
				if got != n {
					b.Fatalf("listed %d connections, want %d", got, n)
				}
			}
			list() // open the keep-alive connection
			b.ReportAllocs()
			for b.Loop() {
				list()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/conn")
			b.ReportMetric(float64((n+99)/100), "calls/op")
		})
	}
}
