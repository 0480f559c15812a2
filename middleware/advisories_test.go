package middleware

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// The three chi advisories below were filed against chi's deprecated
// middleware.RealIP; chi v5.5.0's client_ip_test.go names them the same way.

// TestGHSA_3fxj_6jh8_hvhx: an endpoint gated on the client IP (an admin
// allowlist) was bypassed by prepending an allowlisted IP to
// X-Forwarded-For, because RealIP took the leftmost entry. Pinned: the
// prepended, client-written entry is never the answer, whichever strategy
// the deployment uses.
func TestGHSA_3fxj_6jh8_hvhx(t *testing.T) {
	const spoof = "1.2.3.4" // the allowlisted admin IP the attacker claims
	t.Run("direct_exposure_uses_tcp_peer", func(t *testing.T) {
		got, err := serve(t, RemoteAddrStrategy(), request("99.99.99.99:1234", xff(spoof+", 5.6.7.8")...))
		check(t, got, err, "99.99.99.99", nil)
	})
	t.Run("behind_trusted_proxy_rightmost_untrusted", func(t *testing.T) {
		s := must(t)(NewXFFTrustedRangesStrategy("10.0.0.0/8"))
		got, err := serve(t, s, request("10.0.0.5:1234", xff(spoof+", 99.99.99.99")...))
		check(t, got, err, "99.99.99.99", nil)
	})
	t.Run("second_header_line_cannot_pick", func(t *testing.T) {
		s := must(t)(NewXFFTrustedRangesStrategy("10.0.0.0/8"))
		got, err := serve(t, s, request("10.0.0.5:1234", xff(spoof, "99.99.99.99")...))
		check(t, got, err, "99.99.99.99", nil)
	})
}

// TestGHSA_9g5q_2w5x_hmxf: RealIP overwrote r.RemoteAddr with the leftmost
// X-Forwarded-For entry (the report's proof of concept sends
// "192.0.2.2, 192.0.2.1" and gets 192.0.2.2). Pinned: the rightmost entry
// added by the trusted hop wins, and neither the request the handler sees
// nor the caller's request has RemoteAddr, Host or scheme rewritten.
func TestGHSA_9g5q_2w5x_hmxf(t *testing.T) {
	s := must(t)(NewXFFTrustedRangesStrategy("203.0.113.99"))
	r := httptest.NewRequest(http.MethodGet, "http://app.example/", nil)
	r.RemoteAddr = "203.0.113.99:1234"
	r.Header.Set("X-Forwarded-For", "192.0.2.2, 192.0.2.1")
	r.Header.Set("X-Forwarded-Host", "evil.example")
	r.Header.Set("X-Forwarded-Proto", "https")

	var seen *http.Request
	h := ClientIP(s)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r }))
	h.ServeHTTP(httptest.NewRecorder(), r)

	got, ok := GetClientIP(seen.Context())
	if !ok || got.String() != "192.0.2.1" {
		t.Fatalf("client IP = %v, %v; want 192.0.2.1 (rightmost)", got, ok)
	}
	for _, req := range []*http.Request{seen, r} {
		if req.RemoteAddr != "203.0.113.99:1234" || req.Host != "app.example" || req.URL.Scheme != "http" || req.URL.Host != "app.example" || req.TLS != nil {
			t.Errorf("request rewritten: RemoteAddr=%q Host=%q URL=%v TLS=%v", req.RemoteAddr, req.Host, req.URL, req.TLS)
		}
	}
}

// TestGHSA_rjr7_jggh_pgcp: RealIP trusted True-Client-IP, X-Real-IP and
// X-Forwarded-For from anyone, so "X-Forwarded-For: 127.0.0.1" impersonated
// loopback. Pinned: only the configured header is read, only from a trusted
// peer, a loopback spoof never wins, and a missing header never falls back
// to another header.
func TestGHSA_rjr7_jggh_pgcp(t *testing.T) {
	spoof := [][2]string{
		{"True-Client-IP", "127.0.0.1"},
		{"X-Real-IP", "127.0.0.1"},
		{"X-Forwarded-For", "127.0.0.1"},
	}
	t.Run("direct_client_spoofing_loopback", func(t *testing.T) {
		for name, s := range map[string]Strategy{
			"tcp_peer":  RemoteAddrStrategy(),
			"xff":       must(t)(NewXFFTrustedRangesStrategy("10.0.0.0/8")),
			"x-real-ip": must(t)(NewSingleIPHeaderStrategy("X-Real-IP", "10.0.0.0/8")),
		} {
			got, _ := serve(t, s, request("198.51.100.7:4444", spoof...))
			if got.IsLoopback() {
				t.Errorf("%s: VULNERABLE: loopback spoof accepted", name)
			}
		}
	})
	t.Run("behind_proxy_loopback_spoof_rejected", func(t *testing.T) {
		s := must(t)(NewXFFTrustedRangesStrategy("10.0.0.0/8"))
		got, err := serve(t, s, request("10.0.0.5:1", xff("127.0.0.1, 99.99.99.99")...))
		check(t, got, err, "99.99.99.99", nil)
	})
	t.Run("only_configured_header_read", func(t *testing.T) {
		s := must(t)(NewSingleIPHeaderStrategy("X-Real-IP", "10.0.0.0/8"))
		r := request("10.0.0.5:1", [2]string{"True-Client-IP", "1.1.1.1"}, [2]string{"X-Forwarded-For", "2.2.2.2"}, [2]string{"X-Real-IP", "203.0.113.7"})
		got, err := serve(t, s, r)
		check(t, got, err, "203.0.113.7", nil)
	})
	t.Run("no_fallback_when_configured_header_missing", func(t *testing.T) {
		s := must(t)(NewSingleIPHeaderStrategy("X-Real-IP", "10.0.0.0/8"))
		r := request("10.0.0.5:1", [2]string{"True-Client-IP", "1.1.1.1"}, [2]string{"X-Forwarded-For", "2.2.2.2"})
		got, err := serve(t, s, r)
		check(t, got, err, "", errNoHeader)
	})
}
