package bluenexus

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/handoffkit/handoffkit/internal/bnwire"
)

// Client calls the BlueNexus API. It is safe for concurrent use; create one
// per process and share it. Every call runs within a time budget
// ([WithTimeout]), never follows redirects, caps bodies at 1 MiB and goes
// through a circuit breaker ([WithBreaker]); docs/BLUENEXUS.md says when a
// call is resent.
type Client struct {
	hc       *http.Client
	wrap     func(http.RoundTripper) http.RoundTripper
	base     *url.URL
	timeout  time.Duration
	ipHeader string // canonical form
	maxBody  int64  // maxBodyBytes; tests lower it

	initURL, tokenURL, connsURL string

	// creds authenticates Refresh; nil without. A pointer, so that
	// printing a Client never prints the secret.
	creds *credentials

	breaker   *BreakerSettings // nil: off
	cb        *gobreaker.CircuitBreaker[okReply]
	openUntil atomic.Int64 // unix nanoseconds the breaker opened until

	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error // a seam for tests
}

// NewClient returns a Client configured by opts on top of secure defaults.
func NewClient(opts ...Option) (*Client, error) {
	c := &Client{timeout: defaultTimeout, ipHeader: defaultClientIPHeader, maxBody: maxBodyBytes, now: time.Now, sleep: sleepCtx}
	opts = append([]Option{WithBaseURL(defaultBaseURL), WithBreaker(BreakerSettings{})}, opts...)
	for i, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("bluenexus: NewClient: option %d is nil", i-2)
		}
		if err := o(c); err != nil {
			return nil, err
		}
	}
	if c.hc == nil {
		c.hc = &http.Client{Transport: newTransport()}
	}
	c.hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if c.wrap != nil {
		if c.hc.Transport = c.wrap(cmp.Or(c.hc.Transport, http.DefaultTransport)); c.hc.Transport == nil {
			return nil, errors.New("bluenexus: WithTransport: the function returned nil")
		}
	}
	c.initURL = c.base.JoinPath(bnwire.PathHandoffInit).String()
	c.tokenURL = c.base.JoinPath(bnwire.PathToken).String()
	c.connsURL = c.base.JoinPath(bnwire.PathConnections).String()
	if c.breaker != nil {
		c.cb = newBreaker(c, *c.breaker)
	}
	return c, nil
}

// Timeout returns the whole-call time budget set by [WithTimeout].
func (c *Client) Timeout() time.Duration { return c.timeout }

// newTransport is the default transport: short connection-level timeouts
// and a connection pool sized for a busy app server talking to one host.
func newTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 2 * time.Second
	t.ResponseHeaderTimeout = 3 * time.Second
	t.MaxIdleConns = 64
	t.MaxIdleConnsPerHost = 32
	return t
}

// credentials are the app's auth client, for Refresh.
type credentials struct {
	id        string
	secret    string // "" for a public client
	basicAuth string // "Basic ..." for a confidential client, else ""
}

func newCredentials(id, secret string) *credentials {
	cr := &credentials{id: id, secret: secret}
	if secret != "" {
		// RFC 6749 section 2.3.1: both parts form-encoded, then Basic.
		pair := url.QueryEscape(id) + ":" + url.QueryEscape(secret)
		cr.basicAuth = "Basic " + base64.StdEncoding.EncodeToString([]byte(pair))
	}
	return cr
}
