package urlbuild

import (
	"net/url"
	"testing"
)

var sink string

func BenchmarkWithParam(b *testing.B) {
	for _, bc := range []struct{ name, base, param, value string }{
		{"white-label", "https://connect.example.com/white-label?brand=acme", "code", "hc_4f9a2b7c1d8e3f60a5b4c3d2e1f0a9b8"},
		{"redirect", "https://app.example.com/connections/return", "state", "Zm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			base := mustParse(b, bc.base)
			b.ReportAllocs()
			for b.Loop() {
				sink = WithParam(base, bc.param, bc.value)
			}
		})
	}
}

var errSink error

func BenchmarkCheckNext(b *testing.B) {
	for _, bc := range []struct{ name, next string }{
		{"accept", "/settings/connections?tab=google"},
		{"accept-escaped", "/caf%C3%A9/settings?q=a%20b"},
		{"reject", "/%5cevil.example"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				errSink = CheckNext(bc.next)
			}
		})
	}
}

// BenchmarkCheckNextURLParse is a baseline: what url.Parse plus a host check
// alone costs (it catches far less).
func BenchmarkCheckNextURLParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		u, err := url.Parse("/settings/connections?tab=google")
		if err != nil || u.Host != "" || u.Scheme != "" {
			b.Fatal("unexpected")
		}
	}
}
