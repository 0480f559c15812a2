package bluenexus

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"testing"
	"time"
)

func TestInitHandoff_SendsTheDocumentedRequest(t *testing.T) {
	type seen struct {
		method, path, auth, ctype, accept, ua, xff string
	}
	got := make(chan seen, 1)
	bodies := make(chan map[string]any, 1)
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		var s seen
		s.method, s.path = r.Method, r.URL.Path
		s.auth, s.ctype = r.Header.Get("Authorization"), r.Header.Get("Content-Type")
		s.accept, s.ua, s.xff = r.Header.Get("Accept"), r.Header.Get("User-Agent"), r.Header.Get("X-Forwarded-For")
		b, _ := io.ReadAll(r.Body)
		var body map[string]any
		if err := json.Unmarshal(b, &body); err != nil {
			t.Errorf("body %q: %v", b, err)
		}
		got <- s
		bodies <- body
		reply(w, 200, `{"code":"hc_1","expiresIn":30}`)
	})
	c := newTestClient(t, f.URL, WithUserAgent("app/2"))
	req := testReq
	req.ClientIP = netip.MustParseAddr("203.0.113.7")
	h, err := c.InitHandoff(context.Background(), "tok-abc", req)
	if err != nil {
		t.Fatal(err)
	}
	if h.Code.Reveal() != "hc_1" {
		t.Errorf("code %q", h.Code.Reveal())
	}
	s := <-got
	want := seen{method: "POST", path: PathHandoffInit, auth: "Bearer tok-abc", ctype: "application/json",
		accept: "application/json", ua: "app/2", xff: "203.0.113.7"}
	body := <-bodies
	if s != want {
		t.Errorf("request\n got %+v\nwant %+v", s, want)
	}
	if len(body) != 2 || body["redirectUri"] != testReq.RedirectURI || body["intent"] != "connections" {
		t.Errorf("body %v", body)
	}
}

// TestA5_ClientIPForwardedCanonical pins SECURITY.md A5: the forwarded IP is
// unmapped, zone-free canonical text, sent once, and only when valid.
func TestA5_ClientIPForwardedCanonical(t *testing.T) {
	tests := []struct {
		name   string
		header string // option; "" for the default
		ip     netip.Addr
		want   []string
	}{
		{"ipv4", "", netip.MustParseAddr("203.0.113.7"), []string{"203.0.113.7"}},
		{"ipv4-mapped unmapped", "", netip.MustParseAddr("::ffff:203.0.113.7"), []string{"203.0.113.7"}},
		{"ipv6 canonical", "", netip.MustParseAddr("2001:0db8:0000::0001"), []string{"2001:db8::1"}},
		{"ipv6 zone dropped", "", netip.MustParseAddr("fe80::1%eth0"), []string{"fe80::1"}},
		{"zero value sends nothing", "", netip.Addr{}, nil},
		{"custom header", "x-real-client-ip", netip.MustParseAddr("198.51.100.4"), []string{"198.51.100.4"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			header := tc.header
			if header == "" {
				header = "X-Forwarded-For"
			}
			got := make(chan []string, 1)
			f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
				got <- r.Header.Values(header)
				if header != "X-Forwarded-For" && len(r.Header.Values("X-Forwarded-For")) > 0 {
					t.Error("default header sent too")
				}
				reply(w, 200, okHandoff)
			})
			var opts []Option
			if tc.header != "" {
				opts = append(opts, WithClientIPHeader(tc.header))
			}
			c := newTestClient(t, f.URL, opts...)
			req := testReq
			req.ClientIP = tc.ip
			if _, err := c.InitHandoff(context.Background(), testToken, req); err != nil {
				t.Fatal(err)
			}
			v := <-got
			if len(v) != len(tc.want) || len(v) > 0 && v[0] != tc.want[0] {
				t.Errorf("header values %q, want %q", v, tc.want)
			}
		})
	}
}

func TestInitHandoff_InvalidRequestFailsBeforeIO(t *testing.T) {
	tests := []struct {
		name  string
		token AccessToken
		req   HandoffRequest
	}{
		{"empty token", "", testReq},
		{"token with newline", "tok\r\nX-Evil: 1", testReq},
		{"token with space", "tok en", testReq},
		{"empty redirect", testToken, HandoffRequest{Intent: IntentConnections}},
		{"empty intent", testToken, HandoffRequest{RedirectURI: "https://app.example.com/r"}},
		{"ipv4 unspecified", testToken, HandoffRequest{RedirectURI: "x://y", Intent: IntentConnections, ClientIP: netip.IPv4Unspecified()}},
		{"ipv6 unspecified", testToken, HandoffRequest{RedirectURI: "x://y", Intent: IntentConnections, ClientIP: netip.IPv6Unspecified()}},
	}
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) { reply(w, 200, okHandoff) })
	c := newTestClient(t, f.URL)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.InitHandoff(context.Background(), tc.token, tc.req)
			if !errors.Is(err, ErrInvalidRequest) {
				t.Errorf("error %v, want ErrInvalidRequest", err)
			}
		})
	}
	if n := f.hits.Load(); n != 0 {
		t.Errorf("%d upstream hits, want 0", n)
	}
}

func TestDecodeHandoff_TolerantShapes(t *testing.T) {
	sent := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	at := time.Date(2025, 6, 1, 12, 0, 20, 0, time.UTC)
	tests := []struct {
		name    string
		body    string
		code    string
		expires time.Time
		bad     bool
	}{
		{name: "code", body: `{"code":"c1"}`, code: "c1", expires: sent.Add(30 * time.Second)},
		{name: "handoffCode", body: `{"handoffCode":"c2"}`, code: "c2", expires: sent.Add(30 * time.Second)},
		{name: "data.code", body: `{"data":{"code":"c3"}}`, code: "c3", expires: sent.Add(30 * time.Second)},
		{name: "data.handoffCode", body: `{"data":{"handoffCode":"c4"}}`, code: "c4", expires: sent.Add(30 * time.Second)},
		{name: "code wins over handoffCode", body: `{"code":"a","handoffCode":"b"}`, code: "a", expires: sent.Add(30 * time.Second)},
		{name: "top level wins over data", body: `{"handoffCode":"a","data":{"code":"b"}}`, code: "a", expires: sent.Add(30 * time.Second)},
		{name: "expiresAt", body: `{"code":"c","expiresAt":"2025-06-01T12:00:20Z"}`, code: "c", expires: at},
		{name: "expiresAt with offset and fraction", body: `{"code":"c","expiresAt":"2025-06-01T14:00:20.000+02:00"}`, code: "c", expires: at},
		{name: "expiresIn", body: `{"code":"c","expiresIn":20}`, code: "c", expires: at},
		{name: "expiresIn fractional", body: `{"code":"c","expiresIn":0.5}`, code: "c", expires: sent.Add(500 * time.Millisecond)},
		{name: "expiresIn wins over expiresAt", body: `{"code":"c","expiresIn":10,"expiresAt":"2025-06-01T12:00:20Z"}`, code: "c", expires: sent.Add(10 * time.Second)},
		{name: "data.expiresIn", body: `{"data":{"code":"c","expiresIn":20}}`, code: "c", expires: at},
		{name: "data.expiresAt", body: `{"data":{"handoffCode":"c","expiresAt":"2025-06-01T12:00:20Z"}}`, code: "c", expires: at},
		{name: "bad expiresAt falls back", body: `{"code":"c","expiresAt":"tomorrow"}`, code: "c", expires: sent.Add(30 * time.Second)},
		{name: "numeric expiresAt ignored", body: `{"code":"c","expiresAt":1748779220}`, code: "c", expires: sent.Add(30 * time.Second)},
		{name: "negative expiresIn ignored", body: `{"code":"c","expiresIn":-5}`, code: "c", expires: sent.Add(30 * time.Second)},
		{name: "zero expiresIn ignored", body: `{"code":"c","expiresIn":0}`, code: "c", expires: sent.Add(30 * time.Second)},
		{name: "huge expiresIn ignored", body: `{"code":"c","expiresIn":1e300}`, code: "c", expires: sent.Add(30 * time.Second)},
		{name: "string expiresIn ignored", body: `{"code":"c","expiresIn":"20"}`, code: "c", expires: sent.Add(30 * time.Second)},
		{name: "null fields", body: `{"code":"c","expiresIn":null,"expiresAt":null,"data":null}`, code: "c", expires: sent.Add(30 * time.Second)},
		{name: "unknown fields ignored", body: `{"code":"c","intent":"connections","x":[1,2]}`, code: "c", expires: sent.Add(30 * time.Second)},
		{name: "empty code", body: `{"code":""}`, bad: true},
		{name: "no code", body: `{"expiresIn":30}`, bad: true},
		{name: "empty object", body: `{}`, bad: true},
		{name: "numeric code", body: `{"code":123}`, bad: true},
		{name: "data not an object", body: `{"data":"c"}`, bad: true},
		{name: "array", body: `["c"]`, bad: true},
		{name: "not JSON", body: `<html>ok</html>`, bad: true},
		{name: "empty body", body: ``, bad: true},
		{name: "truncated", body: `{"code":"c"`, bad: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := decodeHandoff([]byte(tc.body), sent)
			if tc.bad {
				if !errors.Is(err, ErrBadResponse) {
					t.Errorf("error %v, want ErrBadResponse", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if h.Code.Reveal() != tc.code || !h.ExpiresAt.Equal(tc.expires) {
				t.Errorf("got %q %v, want %q %v", h.Code.Reveal(), h.ExpiresAt, tc.code, tc.expires)
			}
		})
	}
}

func TestInitHandoff_DefaultExpiryCountsFromSend(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) { reply(w, 200, okHandoff) })
	c := newTestClient(t, f.URL)
	fixed := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	c.now = func() time.Time { return fixed }
	h, err := c.InitHandoff(context.Background(), testToken, testReq)
	if err != nil {
		t.Fatal(err)
	}
	if want := fixed.Add(30 * time.Second); !h.ExpiresAt.Equal(want) {
		t.Errorf("ExpiresAt %v, want %v", h.ExpiresAt, want)
	}
}
