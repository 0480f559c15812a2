package bluenexus

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"net/textproto"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/sony/gobreaker/v2"

	"github.com/handoffkit/handoffkit/internal/bnwire"
)

// Client calls the BlueNexus API. It is safe for concurrent use; create one
// per process and share it, so connections are reused.
//
// Every call runs within a time budget ([WithTimeout]) on top of the
// caller's context, never follows redirects (the bearer token goes nowhere
// but the configured base URL), caps response bodies at 1 MiB and goes
// through a circuit breaker ([WithBreaker]). Handoff init and GETs are
// retried at most twice, and only when the request provably never left (a
// dial error) or BlueNexus answered 429/503 with a Retry-After that fits in
// the remaining budget: never after a timeout, a reset of a sent request,
// or another 5xx. [Client.Refresh] is resent only after a dial error, as a
// refresh token works once.
type Client struct {
	hc       *http.Client
	timeout  time.Duration
	ipHeader string // canonical form
	maxBody  int64  // maxBodyBytes; tests lower it

	initURL  string // {base}/api/v1/auth/handoff/init
	tokenURL string // {base}/api/v1/auth/token
	connsURL string // {base}/api/v1/connections

	// creds authenticates Refresh (WithClientCredentials); nil without.
	// Behind a pointer so that printing a Client (fmt shows nested
	// pointers as addresses) never prints the secret.
	creds *credentials

	cb          *gobreaker.TwoStepCircuitBreaker[struct{}] // nil when off
	openTimeout time.Duration
	openUntil   atomic.Int64 // unix nanoseconds the breaker opened until
	onChange    func(from, to string)

	// Seams for tests.
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error
}

// init sets the hooks of package bnwire. A sibling needs them and users do
// not: the handlers bound the two handoff inits of one user action by the
// client's time budget, and turn the breaker's remaining open time (or
// BlueNexus's Retry-After) into their own Retry-After header. Users set the
// budget with WithTimeout and never need to read it back, so these are not
// part of this package's API.
func init() {
	bnwire.ClientTimeout = func(c any) time.Duration {
		cl, ok := c.(*Client)
		if !ok || cl == nil {
			panic(fmt.Sprintf("bnwire.ClientTimeout: %T is not a non-nil *bluenexus.Client", c))
		}
		return cl.timeout
	}
	bnwire.RetryAfter = retryAfter
}

// NewClient returns a Client configured by opts on top of secure defaults.
// Bad options fail here, with an error naming the option.
//
// The default transport dials within 2 s, completes TLS handshakes within
// 2 s, waits at most 3 s for response headers, keeps connections alive
// (up to 32 idle per host, closed after 90 s idle) and honours the usual
// proxy environment variables.
func NewClient(opts ...Option) (*Client, error) {
	cfg := defaultConfig()
	for i, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("bluenexus: NewClient: option %d is nil", i)
		}
		o(&cfg)
	}

	base, err := parseBaseURL(cfg.baseURL)
	if err != nil {
		return nil, err
	}
	if cfg.timeout <= 0 || cfg.timeout > maxTimeout {
		return nil, fmt.Errorf("bluenexus: WithTimeout: must be > 0 and <= %v, got %v", maxTimeout, cfg.timeout)
	}
	if cfg.httpClientSet && cfg.httpClient == nil {
		return nil, errors.New("bluenexus: WithHTTPClient: nil client")
	}
	if cfg.wrapSet && cfg.wrap == nil {
		return nil, errors.New("bluenexus: WithTransport: nil function")
	}
	ipHeader, err := checkHeaderName(cfg.clientIPHeader)
	if err != nil {
		return nil, err
	}
	if cfg.credsSet {
		if err := checkCredentials(cfg.clientID, cfg.clientSecret); err != nil {
			return nil, err
		}
	}
	bs, err := cfg.breaker.withDefaults()
	if err != nil {
		return nil, err
	}

	c := &Client{
		timeout:  cfg.timeout,
		ipHeader: ipHeader,
		maxBody:  maxBodyBytes,
		onChange: bs.OnStateChange,
		now:      time.Now,
		sleep:    sleepCtx,
	}
	c.initURL = base.JoinPath(bnwire.PathHandoffInit).String()
	c.tokenURL = base.JoinPath(bnwire.PathToken).String()
	c.connsURL = base.JoinPath(bnwire.PathConnections).String()
	if cfg.credsSet {
		c.creds = newCredentials(cfg.clientID, cfg.clientSecret)
	}

	if cfg.httpClient != nil {
		hc := *cfg.httpClient
		c.hc = &hc
	} else {
		c.hc = &http.Client{Transport: newTransport()}
	}
	c.hc.CheckRedirect = refuseRedirect
	if cfg.wrap != nil {
		inner := c.hc.Transport
		if inner == nil {
			inner = http.DefaultTransport
		}
		if c.hc.Transport = cfg.wrap(inner); c.hc.Transport == nil {
			return nil, errors.New("bluenexus: WithTransport: the function returned a nil RoundTripper")
		}
	}

	if !cfg.breakerOff {
		c.openTimeout = bs.OpenTimeout
		c.cb = newBreaker(c, bs)
	}
	return c, nil
}

// newTransport is the default transport: short connection-level timeouts
// and a connection pool sized for a busy app server talking to one host.
func newTransport() *http.Transport {
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   2 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   2 * time.Second,
		ResponseHeaderTimeout: 3 * time.Second,
		ExpectContinueTimeout: 1 * time.Second,
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       90 * time.Second,
	}
}

// refuseRedirect stops the client at the first redirect and hands the 3xx
// response back, which the caller turns into ErrBadResponse: the bearer
// token must never reach another URL.
func refuseRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// parseBaseURL validates the base URL once.
func parseBaseURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("bluenexus: WithBaseURL: empty URL")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("bluenexus: WithBaseURL: not a valid URL")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, errors.New("bluenexus: WithBaseURL: scheme must be http or https")
	case u.Scheme == "http" && !isLoopbackHost(u.Hostname()):
		return nil, errors.New("bluenexus: WithBaseURL: http only on a loopback host (the bearer token must not cross a network in clear)")
	case u.Opaque != "" || u.Host == "":
		return nil, errors.New("bluenexus: WithBaseURL: must be an absolute URL with a host")
	case u.User != nil:
		return nil, errors.New("bluenexus: WithBaseURL: must not carry user info")
	case u.RawQuery != "" || u.ForceQuery:
		return nil, errors.New("bluenexus: WithBaseURL: must not carry a query")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return nil, errors.New("bluenexus: WithBaseURL: must not carry a fragment")
	case strings.HasSuffix(u.Host, ":") || u.Port() != "" && !isDigits(u.Port()):
		return nil, errors.New("bluenexus: WithBaseURL: bad port")
	}
	if u.Path == "" {
		u.Path = "/" // JoinPath keeps a relative path relative
	}
	return u, nil
}

// isLoopbackHost reports whether host is localhost or a loopback IP.
func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// reservedHeaders are headers the client sets or the transport owns; the
// client-IP header must not replace them.
var reservedHeaders = map[string]bool{
	"Authorization": true, "Accept": true, "Content-Type": true, "Content-Length": true,
	"User-Agent": true, "Host": true, "Cookie": true, "Connection": true,
	"Transfer-Encoding": true, "Te": true, "Trailer": true, "Upgrade": true,
	"Keep-Alive": true, "Proxy-Authorization": true, "Proxy-Connection": true,
	"Accept-Encoding": true, "Expect": true,
}

// checkHeaderName validates the client-IP header name and returns its
// canonical form.
func checkHeaderName(name string) (string, error) {
	if name == "" {
		return "", errors.New("bluenexus: WithClientIPHeader: empty header name")
	}
	for i := 0; i < len(name); i++ {
		if !isTokenChar(name[i]) {
			return "", fmt.Errorf("bluenexus: WithClientIPHeader: %q is not a valid header name", name)
		}
	}
	canon := textproto.CanonicalMIMEHeaderKey(name)
	if reservedHeaders[canon] {
		return "", fmt.Errorf("bluenexus: WithClientIPHeader: %q is set by the client itself", canon)
	}
	return canon, nil
}

// isTokenChar reports whether c may appear in an HTTP token (RFC 9110 §5.6.2).
func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
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

// maxCredential bounds the client id and secret.
const maxCredential = 1024

// checkCredentials validates WithClientCredentials: any UTF-8 text (both
// parts are form-encoded on the wire) without control characters, which
// catches a newline read from a secret file. The error never quotes the
// secret.
func checkCredentials(id, secret string) error {
	check := func(what, v string) error {
		if len(v) > maxCredential || !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl) {
			return fmt.Errorf("bluenexus: WithClientCredentials: %s must be UTF-8 text of at most %d bytes without control characters", what, maxCredential)
		}
		return nil
	}
	if id == "" {
		return errors.New("bluenexus: WithClientCredentials: empty client id")
	}
	if err := check("client id", id); err != nil {
		return err
	}
	return check("client secret", secret)
}

// withDefaults validates s and fills zero fields.
func (s BreakerSettings) withDefaults() (BreakerSettings, error) {
	switch {
	case s.ConsecutiveFailures < 0 || s.ConsecutiveFailures > math.MaxUint32:
		return s, fmt.Errorf("bluenexus: WithBreaker: ConsecutiveFailures must be >= 0, got %d", s.ConsecutiveFailures)
	case s.OpenTimeout < 0:
		return s, fmt.Errorf("bluenexus: WithBreaker: OpenTimeout must be >= 0, got %v", s.OpenTimeout)
	case s.HalfOpenMaxRequests < 0 || s.HalfOpenMaxRequests > math.MaxUint32:
		return s, fmt.Errorf("bluenexus: WithBreaker: HalfOpenMaxRequests must be >= 0, got %d", s.HalfOpenMaxRequests)
	}
	if s.ConsecutiveFailures == 0 {
		s.ConsecutiveFailures = defaultBreakerFailures
	}
	if s.OpenTimeout == 0 {
		s.OpenTimeout = defaultBreakerOpenTimeout
	}
	if s.HalfOpenMaxRequests == 0 {
		s.HalfOpenMaxRequests = defaultBreakerHalfOpen
	}
	return s, nil
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
