package bluenexus

import (
	"net/http"
	"time"
)

// Defaults applied by [NewClient].
const (
	defaultBaseURL        = "https://api.bluenexus.ai"
	defaultTimeout        = 5 * time.Second
	maxTimeout            = 15 * time.Second // a code lives 30 s: mint it far sooner
	defaultClientIPHeader = "X-Forwarded-For"
	defaultMaxBodyBytes   = 1 << 20
	maxMaxBodyBytes       = 64 << 20
	defaultUserAgent      = "handoffkit-bluenexus/1"

	defaultBreakerFailures    = 5
	defaultBreakerOpenTimeout = 30 * time.Second
	defaultBreakerHalfOpen    = 1
)

// Option configures a [Client]. Options apply in order, then [NewClient]
// validates the result.
type Option func(*config)

// config is what options set. NewClient fills defaults first.
type config struct {
	baseURL        string
	httpClient     *http.Client
	httpClientSet  bool
	userAgent      string
	timeout        time.Duration
	clientIPHeader string
	maxBodyBytes   int64
	breaker        BreakerSettings
	breakerOff     bool
	onStateChange  func(from, to string)
}

func defaultConfig() config {
	return config{
		baseURL:        defaultBaseURL,
		userAgent:      defaultUserAgent,
		timeout:        defaultTimeout,
		clientIPHeader: defaultClientIPHeader,
		maxBodyBytes:   defaultMaxBodyBytes,
	}
}

// WithBaseURL sets the API base URL. Default "https://api.bluenexus.ai". It must be an
// absolute http or https URL without query, fragment or user info; a path
// prefix is kept. Use plain http only for local development: the access
// token travels in the Authorization header.
func WithBaseURL(u string) Option { return func(c *config) { c.baseURL = u } }

// WithHTTPClient sets the HTTP client that carries requests. Default: a
// client of the package's own with dial and TLS handshake timeouts of 2 s, a
// response header timeout of 3 s and pooled keep-alive connections. The
// client is copied and its CheckRedirect replaced, so redirects are never
// followed whatever the given client does; its Transport is used as is.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *config) { c.httpClient, c.httpClientSet = hc, true }
}

// WithUserAgent sets the User-Agent header. Default "handoffkit-bluenexus/1".
// It must be non-empty, printable ASCII.
func WithUserAgent(ua string) Option { return func(c *config) { c.userAgent = ua } }

// WithTimeout sets the whole-call time budget: each method call, retries
// and body read included, ends within it on top of the caller's context.
// Default 5 s; it must be > 0 and <= 15 s (a handoff code lives 30 s).
// [Client.AllConnections] gives each page its own budget. With the default
// transport an attempt also ends when response headers take over 3 s; pass
// [WithHTTPClient] for a longer wait.
func WithTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// WithClientIPHeader names the header that carries the end user's IP on
// handoff init. Default "X-Forwarded-For". It
// must be a valid header name other than the ones the client sets itself
// (Authorization, Content-Type, ...) and hop-by-hop headers.
func WithClientIPHeader(name string) Option {
	return func(c *config) { c.clientIPHeader = name }
}

// WithMaxBodyBytes caps the size of every response body; a larger success
// body is [ErrBadResponse], a larger error body yields an [*APIError] with
// the status only. Default 1 MiB; it must be > 0
// and <= 64 MiB.
func WithMaxBodyBytes(n int64) Option { return func(c *config) { c.maxBodyBytes = n } }

// BreakerSettings tunes the circuit breaker. Zero fields take their
// defaults.
type BreakerSettings struct {
	// ConsecutiveFailures opens the breaker after that many failed calls in
	// a row. A failure is a timeout, a 5xx status or a transport error;
	// 4xx answers and calls the caller cancelled do not count. Default 5.
	ConsecutiveFailures int
	// OpenTimeout is how long the breaker stays open before it lets probe
	// calls through (half-open). Default 30 s.
	OpenTimeout time.Duration
	// HalfOpenMaxRequests is how many probe calls the half-open breaker lets
	// through; that many successes close it, one failure opens it again.
	// Default 1.
	HalfOpenMaxRequests int
}

// WithBreaker tunes the circuit breaker, which is on by default (5
// consecutive failures, open for 30 s, 1 probe call). It undoes an earlier
// [WithoutBreaker]. Negative fields are rejected.
func WithBreaker(s BreakerSettings) Option {
	return func(c *config) { c.breaker, c.breakerOff = s, false }
}

// WithoutBreaker turns the circuit breaker off: every call reaches
// BlueNexus however often it fails. Default: the breaker is on.
func WithoutBreaker() Option { return func(c *config) { c.breakerOff = true } }

// WithBreakerStateChange registers fn, called on every breaker state change
// with the old and new state ("closed", "open", "half-open"), for metrics.
// Default none. fn runs synchronously while the breaker is locked: keep it
// quick and never call the Client from it.
func WithBreakerStateChange(fn func(from, to string)) Option {
	return func(c *config) { c.onStateChange = fn }
}
