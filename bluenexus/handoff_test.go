package bluenexus

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/handoffkit/handoffkit/internal/bnwire"
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
	c := newTestClient(t, f.URL)
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
	want := seen{method: "POST", path: bnwire.PathHandoffInit, auth: "Bearer tok-abc", ctype: "application/json",
		accept: "application/json", ua: "handoffkit-bluenexus/1", xff: "203.0.113.7"}
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
		want  string
	}{
		{"empty token", "", testReq, "empty access token"},
		{"token with newline", "tok\r\nX-Evil: 1", testReq, "access token has characters not allowed in a header"},
		{"token with space", "tok en", testReq, "access token has characters not allowed in a header"},
		{"empty redirect", testToken, HandoffRequest{Intent: IntentConnections}, "empty RedirectURI"},
		{"empty intent", testToken, HandoffRequest{RedirectURI: "https://app.example.com/r"}, "empty Intent"},
		{"ipv4 unspecified", testToken, HandoffRequest{RedirectURI: "x://y", Intent: IntentConnections, ClientIP: netip.IPv4Unspecified()}, "unspecified ClientIP"},
		{"ipv6 unspecified", testToken, HandoffRequest{RedirectURI: "x://y", Intent: IntentConnections, ClientIP: netip.IPv6Unspecified()}, "unspecified ClientIP"},
	}
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) { reply(w, 200, okHandoff) })
	c := newTestClient(t, f.URL)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.InitHandoff(context.Background(), tc.token, tc.req)
			if !isArgumentError(err, "InitHandoff") || !strings.HasSuffix(err.Error(), ": "+tc.want) {
				t.Errorf("error %v, want an argument error ending %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "X-Evil") {
				t.Errorf("error %q quotes the token", err)
			}
		})
	}
	if n := f.hits.Load(); n != 0 {
		t.Errorf("%d upstream hits, want 0", n)
	}
}

// TestDecodeHandoff_TolerantShapes runs with BlueNexus's Date equal to the
// send time: an expiresAt of 12:00:20 leaves 19 s (a Date has whole
// seconds).
func TestDecodeHandoff_TolerantShapes(t *testing.T) {
	sent := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	at := time.Date(2025, 6, 1, 12, 0, 20, 0, time.UTC)
	atLessSecond := at.Add(-time.Second)
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
		{name: "expiresAt", body: `{"code":"c","expiresAt":"2025-06-01T12:00:20Z"}`, code: "c", expires: atLessSecond},
		{name: "expiresAt with offset and fraction", body: `{"code":"c","expiresAt":"2025-06-01T14:00:20.000+02:00"}`, code: "c", expires: atLessSecond},
		{name: "expiresIn", body: `{"code":"c","expiresIn":20}`, code: "c", expires: at},
		{name: "expiresIn fractional", body: `{"code":"c","expiresIn":0.5}`, code: "c", expires: sent.Add(500 * time.Millisecond)},
		{name: "expiresIn wins over expiresAt", body: `{"code":"c","expiresIn":10,"expiresAt":"2025-06-01T12:00:20Z"}`, code: "c", expires: sent.Add(10 * time.Second)},
		{name: "data.expiresIn", body: `{"data":{"code":"c","expiresIn":20}}`, code: "c", expires: at},
		{name: "data.expiresAt", body: `{"data":{"handoffCode":"c","expiresAt":"2025-06-01T12:00:20Z"}}`, code: "c", expires: atLessSecond},
		{name: "bad expiresAt falls back", body: `{"code":"c","expiresAt":"tomorrow"}`, code: "c", expires: sent.Add(30 * time.Second)},
		{name: "numeric expiresAt ignored", body: `{"code":"c","expiresAt":1748779220}`, code: "c", expires: sent.Add(30 * time.Second)},
		{name: "negative expiresIn: already dead", body: `{"code":"c","expiresIn":-5}`, code: "c", expires: sent},
		{name: "zero expiresIn: already dead", body: `{"code":"c","expiresIn":0}`, code: "c", expires: sent},
		{name: "minus zero expiresIn: already dead", body: `{"code":"c","expiresIn":-0}`, code: "c", expires: sent},
		{name: "hugely negative expiresIn", body: `{"code":"c","expiresIn":-1e300}`, code: "c", expires: sent},
		{name: "dead expiresIn wins over expiresAt", body: `{"code":"c","expiresIn":0,"expiresAt":"2025-06-01T12:00:20Z"}`, code: "c", expires: sent},
		{name: "expiresAt in the past", body: `{"code":"c","expiresAt":"2025-06-01T11:59:00Z"}`, code: "c", expires: sent},
		{name: "expiresAt at the zero time", body: `{"code":"c","expiresAt":"0001-01-01T00:00:00Z"}`, code: "c", expires: sent},
		{name: "data.expiresIn dead", body: `{"data":{"code":"c","expiresIn":-1}}`, code: "c", expires: sent},
		{name: "huge expiresIn ignored", body: `{"code":"c","expiresIn":1e300}`, code: "c", expires: sent.Add(30 * time.Second)},
		{name: "code of 2048 bytes", body: `{"code":"` + strings.Repeat("k", 2048) + `"}`, code: strings.Repeat("k", 2048), expires: sent.Add(30 * time.Second)},
		{name: "code over 2048 bytes", body: `{"code":"` + strings.Repeat("k", 2049) + `"}`, bad: true},
		{name: "data.code over 2048 bytes", body: `{"data":{"handoffCode":"` + strings.Repeat("k", 4096) + `"}}`, bad: true},
		{name: "string expiresIn ignored", body: `{"code":"c","expiresIn":"20"}`, code: "c", expires: sent.Add(30 * time.Second)},
		{name: "string negative expiresIn ignored", body: `{"code":"c","expiresIn":"-20"}`, code: "c", expires: sent.Add(30 * time.Second)},
		{name: "boolean expiresIn ignored", body: `{"code":"c","expiresIn":true}`, code: "c", expires: sent.Add(30 * time.Second)},
		{name: "escaped expiresAt", body: `{"code":"c","expiresAt":"2025-06-01T12:00:20\u005a"}`, code: "c", expires: atLessSecond},
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
			h, err := decodeHandoff([]byte(tc.body), sent, sent)
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

// TestInitHandoff_ClockSkew: with the client's clock 25 s fast or slow of
// BlueNexus's, a code's life is read on BlueNexus's clock (expiresAt less
// the Date header, less the Date's second) and counted from the send time:
// 29 s either way. Without a Date, expiresAt is not trusted: 30 s, the
// documented life. expiresIn needs no Date.
func TestInitHandoff_ClockSkew(t *testing.T) {
	bn := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC) // BlueNexus's clock when it answers
	expiresAt := `{"code":"hc","expiresAt":"2030-01-02T03:04:35Z"}`
	tests := []struct {
		name, body string
		skew       time.Duration // the client's clock less BlueNexus's
		date       bool
		life       time.Duration
	}{
		{"app fast", expiresAt, 25 * time.Second, true, 29 * time.Second},
		{"app slow", expiresAt, -25 * time.Second, true, 29 * time.Second},
		{"app fast, no Date", expiresAt, 25 * time.Second, false, 30 * time.Second},
		{"app slow, no Date", expiresAt, -25 * time.Second, false, 30 * time.Second},
		{"app fast, expiresIn", `{"code":"hc","expiresIn":20}`, 25 * time.Second, false, 20 * time.Second},
		{"Date over a day before expiresAt", expiresAt, 0, true, 30 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			date := bn
			if tc.name == "Date over a day before expiresAt" {
				date = bn.Add(-25 * time.Hour)
			}
			f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
				if tc.date {
					w.Header().Set("Date", date.Format(http.TimeFormat))
				} else {
					w.Header()["Date"] = nil // the server adds none
				}
				reply(w, 200, tc.body)
			})
			c := newTestClient(t, f.URL)
			sent := bn.Add(tc.skew)
			c.now = func() time.Time { return sent }
			h, err := c.InitHandoff(context.Background(), testToken, testReq)
			if err != nil {
				t.Fatal(err)
			}
			if got := h.ExpiresAt.Sub(sent); got != tc.life {
				t.Errorf("life %v, want %v", got, tc.life)
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

// TestInitHandoff_DeadCodeIsNotAnError: BlueNexus saying a fresh code is
// already expired (expiresIn <= 0, expiresAt in the past) is no error from
// the client: the Handoff comes back with ExpiresAt <= now, and the
// handlers decide to mint again.
func TestInitHandoff_DeadCodeIsNotAnError(t *testing.T) {
	for _, body := range []string{
		`{"code":"hc","expiresIn":0}`,
		`{"code":"hc","expiresIn":-30}`,
		`{"code":"hc","expiresAt":"2001-01-01T00:00:00Z"}`,
		`{"data":{"code":"hc","expiresAt":"` + time.Now().Add(-time.Second).UTC().Format(time.RFC3339Nano) + `"}}`,
	} {
		t.Run(body, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request) { reply(w, 200, body) })
			c := newTestClient(t, f.URL)
			h, err := c.InitHandoff(context.Background(), testToken, testReq)
			if err != nil {
				t.Fatalf("error %v, want a Handoff", err)
			}
			if now := time.Now(); h.ExpiresAt.After(now) || h.ExpiresAt.IsZero() || h.Code.Reveal() != "hc" {
				t.Errorf("ExpiresAt %v (now %v), code %q", h.ExpiresAt, now, h.Code.Reveal())
			}
			if f.hits.Load() != 1 {
				t.Errorf("%d hits, want 1", f.hits.Load())
			}
		})
	}
}

// TestInitHandoff_OversizeCodeIsBadResponse: a code over 2 KB is refused,
// without quoting it.
func TestInitHandoff_OversizeCodeIsBadResponse(t *testing.T) {
	code := "CANARY" + strings.Repeat("k", 2100)
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) { reply(w, 200, `{"code":"`+code+`"}`) })
	c := newTestClient(t, f.URL)
	_, err := c.InitHandoff(context.Background(), testToken, testReq)
	if !errors.Is(err, ErrBadResponse) || strings.Contains(err.Error(), "CANARY") {
		t.Errorf("error %v, want ErrBadResponse without the code", err)
	}
}
