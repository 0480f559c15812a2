package bluenexus

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/handoffkit/handoffkit/internal/bnwire"
)

func TestNewClient_Defaults(t *testing.T) {
	c, err := NewClient()
	if err != nil {
		t.Fatal(err)
	}
	if got := c.initURL; got != "https://api.bluenexus.ai"+bnwire.PathHandoffInit {
		t.Errorf("init URL = %q", got)
	}
	if got := c.tokenURL; got != "https://api.bluenexus.ai/api/v1/auth/token" {
		t.Errorf("token URL = %q", got)
	}
	if got := c.connsURL; got != "https://api.bluenexus.ai/api/v1/connections" {
		t.Errorf("connections URL = %q", got)
	}
	if c.timeout != 5*time.Second || c.ipHeader != "X-Forwarded-For" || c.maxBody != 1<<20 {
		t.Errorf("defaults: timeout %v header %q body %d", c.timeout, c.ipHeader, c.maxBody)
	}
	if c.creds != nil || c.breaker.OnStateChange != nil {
		t.Errorf("defaults: credentials %v, state hook set %v", c.creds != nil, c.breaker.OnStateChange != nil)
	}
	if got := c.Timeout(); got != 5*time.Second {
		t.Errorf("Timeout = %v, want 5s", got)
	}
	if c.cb == nil || c.breaker.OpenTimeout != 30*time.Second {
		t.Errorf("breaker: %v, open timeout %v", c.cb, c.breaker.OpenTimeout)
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
		{"base plain http off loopback", WithBaseURL("http://api.example.com"), "bluenexus: WithBaseURL: must be https (http only on localhost"},
		{"base empty", WithBaseURL(""), "bluenexus: WithBaseURL: empty"},
		{"nil http client", WithHTTPClient(nil), "bluenexus: WithHTTPClient:"},
		{"empty ip header", WithClientIPHeader(""), "bluenexus: WithClientIPHeader:"},
		{"ip header space", WithClientIPHeader("X Forwarded"), "bluenexus: WithClientIPHeader:"},
		{"ip header colon", WithClientIPHeader("X-IP:"), "bluenexus: WithClientIPHeader:"},
		{"ip header authorization", WithClientIPHeader("authorization"), "bluenexus: WithClientIPHeader:"},
		{"ip header host", WithClientIPHeader("Host"), "bluenexus: WithClientIPHeader:"},
		{"ip header content-length", WithClientIPHeader("content-length"), "bluenexus: WithClientIPHeader:"},
		{"empty client id", WithClientCredentials("", "secret"), "bluenexus: WithClientCredentials: empty client id"},
		{"empty client id, public", WithClientCredentials("", ""), "bluenexus: WithClientCredentials: empty client id"},
		{"client id with newline", WithClientCredentials("app\n", ""), "bluenexus: WithClientCredentials: client id"},
		{"secret with newline", WithClientCredentials("app", "s3cret\n"), "bluenexus: WithClientCredentials: client secret"},
		{"secret not UTF-8", WithClientCredentials("app", "\xff"), "bluenexus: WithClientCredentials: client secret"},
		{"secret too long", WithClientCredentials("app", strings.Repeat("s", 1025)), "bluenexus: WithClientCredentials: client secret"},
		{"nil option", nil, "bluenexus: NewClient: option 0 is nil"},
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
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %q quotes the secret", err)
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
				if c.cb == nil || c.breaker.OpenTimeout != time.Second {
					t.Errorf("breaker %v open %v", c.cb, c.breaker.OpenTimeout)
				}
			}},
		{name: "confidential client", opts: []Option{WithClientCredentials("app id", "s3cret:x")},
			check: func(t *testing.T, c *Client) {
				// RFC 6749 2.3.1: each part form-encoded, then base64.
				want := "Basic " + base64.StdEncoding.EncodeToString([]byte("app+id:s3cret%3Ax"))
				if c.creds == nil || c.creds.id != "app id" || c.creds.basicAuth != want {
					t.Fatalf("credentials %+v, want Basic %q", c.creds, want)
				}
				for _, verb := range []string{"%v", "%+v", "%#v"} {
					for _, v := range []any{c, []*Client{c}} {
						if s := fmt.Sprintf(verb, v); strings.Contains(s, "s3cret") || strings.Contains(s, want[len("Basic "):]) {
							t.Errorf("Sprintf(%q) of the client prints the secret: %s", verb, s)
						}
					}
				}
			}},
		{name: "public client", opts: []Option{WithClientCredentials("app", "")},
			check: func(t *testing.T, c *Client) {
				if c.creds == nil || c.creds.id != "app" || c.creds.secret != "" || c.creds.basicAuth != "" {
					t.Errorf("credentials %+v", c.creds)
				}
			}},
		{name: "state hook", opts: []Option{WithBreaker(BreakerSettings{OnStateChange: func(string, string) {}})},
			check: func(t *testing.T, c *Client) {
				if c.breaker.OnStateChange == nil || c.breaker.OpenTimeout != 30*time.Second {
					t.Errorf("hook %v, open timeout %v", c.breaker.OnStateChange != nil, c.breaker.OpenTimeout)
				}
			}},
		{name: "timeout read back by the handlers", opts: []Option{WithTimeout(2 * time.Second)},
			check: func(t *testing.T, c *Client) {
				if got := c.Timeout(); got != 2*time.Second {
					t.Errorf("Timeout = %v", got)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewClient(tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantInit != "" && c.initURL != tc.wantInit {
				t.Errorf("init URL %q, want %q", c.initURL, tc.wantInit)
			}
			for _, u := range []string{c.initURL, c.tokenURL, c.connsURL} {
				if p, err := url.Parse(u); err != nil || !strings.HasPrefix(p.Path, "/") || !p.IsAbs() {
					t.Errorf("URL %q not absolute: %v", u, err)
				}
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
				opts := []Option{WithClientCredentials("app", "s3cret")}
				if own {
					opts = append(opts, WithHTTPClient(&http.Client{}))
				}
				c := newTestClient(t, api.URL, opts...)
				ctx := context.Background()
				_, err := c.InitHandoff(ctx, testToken, testReq)
				if !errors.Is(err, ErrBadResponse) {
					t.Errorf("InitHandoff error %v, want ErrBadResponse", err)
				}
				_, err = listPage(c, ctx, testToken)
				if !errors.Is(err, ErrBadResponse) {
					t.Errorf("list error %v, want ErrBadResponse", err)
				}
				_, err = c.Refresh(ctx, "rt-test")
				if !errors.Is(err, ErrBadResponse) {
					t.Errorf("Refresh error %v, want ErrBadResponse", err)
				}
				if n := elsewhere.hits.Load(); n != 0 {
					t.Errorf("redirect target got %d hits, want 0", n)
				}
				if n := api.hits.Load(); n != 3 {
					t.Errorf("API got %d hits, want 4 (no retry of redirects)", n)
				}
			})
		}
	}
}

// countingTransport counts the requests it carries for its inner transport.
type countingTransport struct {
	inner http.RoundTripper
	n     atomic.Int32
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.inner.RoundTrip(r)
}

// TestWithTransportWrapsTheDefault: WithTransport gets the kit's own tuned
// transport to wrap, and every request goes through the wrapper; nil is
// refused.
func TestWithTransportWrapsTheDefault(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"code":"c0de","expiresIn":30}`)
	}))
	defer srv.Close()
	var got http.RoundTripper
	ct := &countingTransport{}
	c, err := NewClient(WithBaseURL(srv.URL), WithTransport(func(rt http.RoundTripper) http.RoundTripper {
		got, ct.inner = rt, rt
		return ct
	}))
	if err != nil {
		t.Fatal(err)
	}
	tr, ok := got.(*http.Transport)
	if !ok || tr.ResponseHeaderTimeout != 3*time.Second || tr.TLSHandshakeTimeout != 2*time.Second {
		t.Fatalf("wrap got %T %+v, want the default tuned *http.Transport", got, got)
	}
	if _, err := c.InitHandoff(t.Context(), "tok", HandoffRequest{RedirectURI: "https://app.example.com/r", Intent: IntentConnections}); err != nil {
		t.Fatal(err)
	}
	if ct.n.Load() != 1 {
		t.Errorf("the wrapper carried %d requests, want 1", ct.n.Load())
	}
	for _, wrap := range []func(http.RoundTripper) http.RoundTripper{nil, func(http.RoundTripper) http.RoundTripper { return nil }} {
		if _, err := NewClient(WithTransport(wrap)); err == nil || !strings.Contains(err.Error(), "WithTransport") {
			t.Errorf("NewClient(WithTransport(bad)) = %v, want an error naming WithTransport", err)
		}
	}
}
