package bluenexus

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestNewClient_Defaults(t *testing.T) {
	c, err := NewClient()
	if err != nil {
		t.Fatal(err)
	}
	if got := c.initURL.String(); got != "https://api.bluenexus.ai/api/v1/auth/handoff/init" {
		t.Errorf("init URL = %q", got)
	}
	if got := c.initURL.RequestURI(); got != PathHandoffInit {
		t.Errorf("init request URI = %q", got)
	}
	if got := c.connsURL.String(); got != "https://api.bluenexus.ai/api/v1/connections" {
		t.Errorf("connections URL = %q", got)
	}
	if c.timeout != 5*time.Second || c.ipHeader != "X-Forwarded-For" || c.maxBody != 1<<20 || c.userAgent != defaultUserAgent {
		t.Errorf("defaults: timeout %v header %q body %d ua %q", c.timeout, c.ipHeader, c.maxBody, c.userAgent)
	}
	if c.cb == nil || c.openTimeout != 30*time.Second {
		t.Errorf("breaker: %v, open timeout %v", c.cb, c.openTimeout)
	}
	tr, ok := c.hc.Transport.(*http.Transport)
	if !ok {
		t.Fatalf("transport %T", c.hc.Transport)
	}
	if tr.TLSHandshakeTimeout != 2*time.Second || tr.ResponseHeaderTimeout != 3*time.Second ||
		tr.DisableKeepAlives || tr.MaxIdleConnsPerHost < 8 || tr.DialContext == nil {
		t.Errorf("transport settings: %+v", tr)
	}
	if c.hc.CheckRedirect == nil {
		t.Error("CheckRedirect not set")
	}
}

func TestNewClient_RejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		opt  Option
		want string
	}{
		{"timeout zero", WithTimeout(0), "bluenexus: WithTimeout:"},
		{"timeout negative", WithTimeout(-time.Second), "bluenexus: WithTimeout:"},
		{"timeout over 15s", WithTimeout(15*time.Second + 1), "bluenexus: WithTimeout:"},
		{"base not a URL", WithBaseURL("http://[::1"), "bluenexus: WithBaseURL:"},
		{"base relative", WithBaseURL("/api"), "bluenexus: WithBaseURL:"},
		{"base no host", WithBaseURL("https://"), "bluenexus: WithBaseURL:"},
		{"base ftp", WithBaseURL("ftp://api.example.com"), "bluenexus: WithBaseURL:"},
		{"base javascript", WithBaseURL("javascript:alert(1)"), "bluenexus: WithBaseURL:"},
		{"base query", WithBaseURL("https://api.example.com/?x=1"), "bluenexus: WithBaseURL:"},
		{"base empty query", WithBaseURL("https://api.example.com/?"), "bluenexus: WithBaseURL:"},
		{"base fragment", WithBaseURL("https://api.example.com/#f"), "bluenexus: WithBaseURL:"},
		{"base empty fragment", WithBaseURL("https://api.example.com/#"), "bluenexus: WithBaseURL:"},
		{"base userinfo", WithBaseURL("https://user:pw@api.example.com"), "bluenexus: WithBaseURL:"},
		{"base empty port", WithBaseURL("https://api.example.com:"), "bluenexus: WithBaseURL:"},
		{"base plain http off loopback", WithBaseURL("http://api.example.com"), "bluenexus: WithBaseURL: http only on a loopback host"},
		{"nil http client", WithHTTPClient(nil), "bluenexus: WithHTTPClient:"},
		{"empty user agent", WithUserAgent(""), "bluenexus: WithUserAgent:"},
		{"user agent newline", WithUserAgent("a\r\nX-Evil: 1"), "bluenexus: WithUserAgent:"},
		{"empty ip header", WithClientIPHeader(""), "bluenexus: WithClientIPHeader:"},
		{"ip header space", WithClientIPHeader("X Forwarded"), "bluenexus: WithClientIPHeader:"},
		{"ip header colon", WithClientIPHeader("X-IP:"), "bluenexus: WithClientIPHeader:"},
		{"ip header authorization", WithClientIPHeader("authorization"), "bluenexus: WithClientIPHeader:"},
		{"ip header host", WithClientIPHeader("Host"), "bluenexus: WithClientIPHeader:"},
		{"ip header content-length", WithClientIPHeader("content-length"), "bluenexus: WithClientIPHeader:"},
		{"body cap zero", WithMaxBodyBytes(0), "bluenexus: WithMaxBodyBytes:"},
		{"body cap huge", WithMaxBodyBytes(1 << 40), "bluenexus: WithMaxBodyBytes:"},
		{"breaker negative failures", WithBreaker(BreakerSettings{ConsecutiveFailures: -1}), "bluenexus: WithBreaker:"},
		{"breaker negative timeout", WithBreaker(BreakerSettings{OpenTimeout: -time.Second}), "bluenexus: WithBreaker:"},
		{"breaker negative half-open", WithBreaker(BreakerSettings{HalfOpenMaxRequests: -1}), "bluenexus: WithBreaker:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewClient(tc.opt)
			if err == nil || c != nil {
				t.Fatalf("NewClient = %v, %v; want an error", c, err)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error %q, want prefix %q", err, tc.want)
			}
		})
	}
}

func TestNewClient_AcceptsGoodOptions(t *testing.T) {
	tests := []struct {
		name     string
		opts     []Option
		wantInit string
		check    func(*testing.T, *Client)
	}{
		{name: "path prefix", opts: []Option{WithBaseURL("https://example.com/bn/")},
			wantInit: "https://example.com/bn/api/v1/auth/handoff/init"},
		{name: "path prefix no slash", opts: []Option{WithBaseURL("http://127.0.0.1:8080/bn")},
			wantInit: "http://127.0.0.1:8080/bn/api/v1/auth/handoff/init"},
		{name: "upper-case scheme", opts: []Option{WithBaseURL("HTTPS://api.example.com")},
			wantInit: "https://api.example.com/api/v1/auth/handoff/init"},
		{name: "timeout 15s", opts: []Option{WithTimeout(15 * time.Second)},
			check: func(t *testing.T, c *Client) {
				if c.timeout != 15*time.Second {
					t.Errorf("timeout %v", c.timeout)
				}
			}},
		{name: "header canonicalised", opts: []Option{WithClientIPHeader("x-real-ip")},
			check: func(t *testing.T, c *Client) {
				if c.ipHeader != "X-Real-Ip" {
					t.Errorf("header %q", c.ipHeader)
				}
			}},
		{name: "breaker off", opts: []Option{WithoutBreaker()},
			check: func(t *testing.T, c *Client) {
				if c.cb != nil {
					t.Error("breaker on")
				}
			}},
		{name: "breaker back on", opts: []Option{WithoutBreaker(), WithBreaker(BreakerSettings{OpenTimeout: time.Second})},
			check: func(t *testing.T, c *Client) {
				if c.cb == nil || c.openTimeout != time.Second {
					t.Errorf("breaker %v open %v", c.cb, c.openTimeout)
				}
			}},
		{name: "nil option ignored", opts: []Option{nil}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewClient(tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantInit != "" && c.initURL.String() != tc.wantInit {
				t.Errorf("init URL %q, want %q", c.initURL.String(), tc.wantInit)
			}
			if !strings.HasPrefix(c.initURL.Path, "/") || !strings.HasPrefix(c.connsURL.Path, "/") {
				t.Errorf("paths not absolute: %q %q", c.initURL.Path, c.connsURL.Path)
			}
			if tc.check != nil {
				tc.check(t, c)
			}
		})
	}
}

func TestWithHTTPClient_CopiedAndNeverFollowsRedirects(t *testing.T) {
	own := &http.Client{Timeout: time.Minute}
	c, err := NewClient(WithHTTPClient(own))
	if err != nil {
		t.Fatal(err)
	}
	if own.CheckRedirect != nil {
		t.Error("caller's client was modified")
	}
	if c.hc == own || c.hc.Timeout != time.Minute || c.hc.CheckRedirect == nil {
		t.Errorf("client not copied with CheckRedirect: %+v", c.hc)
	}
}

// TestD5_RedirectsNeverFollowed pins SECURITY.md D5: a redirect from the API
// never takes the bearer token anywhere else.
func TestD5_RedirectsNeverFollowed(t *testing.T) {
	elsewhere := newFake(t, func(w http.ResponseWriter, r *http.Request) { reply(w, 200, okHandoff) })
	for _, code := range []int{301, 302, 303, 307, 308} {
		for _, own := range []bool{false, true} {
			name := http.StatusText(code)
			if own {
				name += " with caller's client"
			}
			t.Run(name, func(t *testing.T) {
				api := newFake(t, func(w http.ResponseWriter, r *http.Request) {
					http.Redirect(w, r, elsewhere.URL+r.URL.Path, code)
				})
				var opts []Option
				if own {
					opts = append(opts, WithHTTPClient(&http.Client{}))
				}
				c := newTestClient(t, api.URL, opts...)
				ctx := context.Background()
				_, err := c.InitHandoff(ctx, testToken, testReq)
				if !errors.Is(err, ErrBadResponse) {
					t.Errorf("InitHandoff error %v, want ErrBadResponse", err)
				}
				_, err = c.ListConnections(ctx, testToken, ListOptions{})
				if !errors.Is(err, ErrBadResponse) {
					t.Errorf("ListConnections error %v, want ErrBadResponse", err)
				}
				_, err = c.RefreshConnection(ctx, testToken, "c1")
				if !errors.Is(err, ErrBadResponse) {
					t.Errorf("RefreshConnection error %v, want ErrBadResponse", err)
				}
				if n := elsewhere.hits.Load(); n != 0 {
					t.Errorf("redirect target got %d hits, want 0", n)
				}
				if n := api.hits.Load(); n != 3 {
					t.Errorf("API got %d hits, want 3 (no retry of redirects)", n)
				}
			})
		}
	}
}
