package middleware

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

// serveReport serves r through ClientIPReport(s) and decodes the answer.
func serveReport(t *testing.T, s Strategy, r *http.Request) (report, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	ClientIPReport(s).ServeHTTP(rec, r)
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("answer %d %q %q", rec.Code, rec.Header().Get("Content-Type"), rec.Header().Get("Cache-Control"))
	}
	var rep report
	if err := json.Unmarshal(rec.Body.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	return rep, rec.Body.String()
}

type customStrategy struct{}

func (customStrategy) ClientIP(*http.Request) (netip.Addr, error) {
	return netip.MustParseAddr("::ffff:192.0.2.1"), nil
}

// hostile is a header value that must never come back in a report.
const hostile = `<script>canary-7f3a</script>`

func TestClientIPReport(t *testing.T) {
	ranges, _ := NewXFFTrustedRangesStrategy("10.0.0.0/8")
	realIP, _ := NewSingleIPHeaderStrategy("X-Real-IP", "10.0.0.0/8")
	type walk struct {
		addr, from string
		trusted    bool
	}
	tests := []struct {
		name     string
		s        Strategy
		r        *http.Request
		wantIP   string
		wantErr  error
		wantHops []walk
	}{
		{name: "remote_addr", s: RemoteAddrStrategy(), r: request("203.0.113.9:5555", xff("127.0.0.1")...),
			wantIP: "203.0.113.9", wantHops: []walk{{"203.0.113.9", fromPeer, false}}},
		{name: "ranges_client", s: ranges, r: request("10.0.0.5:1", xff(hostile+", 203.0.113.7", "10.1.2.3")...),
			wantIP: "203.0.113.7", wantHops: []walk{{"10.0.0.5", fromPeer, true}, {"10.1.2.3", xffKey, true}, {"203.0.113.7", xffKey, false}}},
		{name: "ranges_untrusted_peer", s: ranges, r: request("9.9.9.9:1", xff("1.2.3.4, 10.0.0.1")...),
			wantErr: errUntrustedPeer, wantHops: []walk{{"9.9.9.9", fromPeer, false}}},
		{name: "ranges_hostile_entry_walked", s: ranges, r: request("10.0.0.5:1", xff("203.0.113.7, "+hostile+", 10.0.0.1")...),
			wantErr: errInvalidEntry, wantHops: []walk{{"10.0.0.5", fromPeer, true}, {"10.0.0.1", xffKey, true}, {"", xffKey, false}}},
		{name: "ranges_all_trusted", s: ranges, r: request("10.0.0.5:1", xff("10.0.0.9, 10.0.0.1")...),
			wantErr: errAllTrusted, wantHops: []walk{{"10.0.0.5", fromPeer, true}, {"10.0.0.1", xffKey, true}, {"10.0.0.9", xffKey, true}}},
		{name: "ranges_no_header", s: ranges, r: request("10.0.0.5:1"),
			wantErr: errNoHeader, wantHops: []walk{{"10.0.0.5", fromPeer, true}}},
		{name: "single_header_client", s: realIP, r: request("10.0.0.5:1", [2]string{"X-Real-IP", "100.4.4.4"}),
			wantIP: "100.4.4.4", wantHops: []walk{{"10.0.0.5", fromPeer, true}, {"100.4.4.4", "X-Real-Ip", false}}},
		{name: "single_header_hostile", s: realIP, r: request("10.0.0.5:1", [2]string{"X-Real-IP", "100.4.4.4"}, [2]string{"X-Real-IP", hostile}),
			wantErr: errInvalidEntry, wantHops: []walk{{"10.0.0.5", fromPeer, true}, {"", "X-Real-Ip", false}}},
		{name: "custom_strategy", s: customStrategy{}, r: request("10.0.0.5:1", xff(hostile)...), wantIP: "192.0.2.1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep, body := serveReport(t, tc.s, tc.r)
			if strings.Contains(body, "canary") || strings.Contains(body, "script") {
				t.Fatalf("the report echoes a header value: %s", body)
			}
			// The report says what the middleware derives.
			ip, err := serve(t, tc.s, tc.r)
			if tc.wantErr != nil {
				if !strings.HasPrefix(err.Error(), tc.wantErr.Error()) || rep.Error != err.Error() || rep.ClientIP != "" {
					t.Fatalf("error %q, report %+v; want %v", err, rep, tc.wantErr)
				}
			} else if err != nil || ip.String() != tc.wantIP || rep.ClientIP != tc.wantIP || rep.Error != "" {
				t.Fatalf("ip %v %v, report %+v; want %s", ip, err, rep, tc.wantIP)
			}
			var got []walk
			for _, h := range rep.Hops {
				if h.Why == "" {
					t.Errorf("hop %+v without a reason", h)
				}
				addr, _ := h.Address.MarshalText() // "" for the zero address
				got = append(got, walk{string(addr), h.From, h.Trusted})
			}
			if len(got) != len(tc.wantHops) {
				t.Fatalf("hops %+v, want %+v", got, tc.wantHops)
			}
			for i := range got {
				if got[i] != tc.wantHops[i] {
					t.Fatalf("hops %+v, want %+v", got, tc.wantHops)
				}
			}
		})
	}
}

func TestClientIPReportNilStrategy(t *testing.T) {
	rep, _ := serveReport(t, nil, request("203.0.113.9:1"))
	if rep.Strategy != "<nil>" || rep.ClientIP != "" || rep.Error != errNilStrategy.Error() {
		t.Fatalf("report %+v, want no strategy and %v", rep, errNilStrategy)
	}
}
