package bluenexus

import (
	"net/http"
	"time"
)

// Defaults applied by [NewClient], and the fixed limits.
const (
	defaultBaseURL        = "https://api.bluenexus.ai"
	defaultTimeout        = 5 * time.Second
	maxTimeout            = 15 * time.Second // a code lives 30 s: mint it far sooner
	defaultClientIPHeader = "X-Forwarded-For"

	// maxBodyBytes caps every response body: a larger success body is
	// ErrBadResponse, a larger error body yields an APIError with the
	// status only. BlueNexus's documents are a few KiB at most.
	maxBodyBytes = 1 << 20
	// userAgent is sent on every request.
	userAgent = "handoffkit-bluenexus/1"

	defaultBreakerFailures    = 5
	defaultBreakerOpenTimeout = 30 * time.Second
	defaultBreakerHalfOpen    = 1
)

// Option configures a [Client]. Options apply in order over secure
// defaults, then [NewClient] validates the result. An option given a nil,
// zero or empty value makes NewClient fail with an error naming the option;
// no option reads such a value as "use the default". A nil Option is an
// error too.
type Option func(*config)

// config is what options set. NewClient fills defaults first.
type config struct {
	baseURL        string
	httpClient     *http.Client
	httpClientSet  bool
	wrap           func(http.RoundTripper) http.RoundTripper
	wrapSet        bool
	timeout        time.Duration
	clientIPHeader string
	breaker        BreakerSettings
	breakerOff     bool
	clientID       string
	clientSecret   string
	credsSet       bool
}

func defaultConfig() config {
	return config{
		baseURL:        defaultBaseURL,
		timeout:        defaultTimeout,
		clientIPHeader: defaultClientIPHeader,
	}
}

// WithBaseURL sets the API base URL. Default "https://api.bluenexus.ai". It
// must be an absolute https URL without query, fragment or user info; a
// path prefix is kept. Plain http is accepted only for a loopback host
// (localhost, 127.0.0.0/8, ::1), for local development: the access token
// travels in the Authorization header. An empty URL is an error.
func WithBaseURL(u string) Option { return func(c *config) { c.baseURL = u } }

// WithHTTPClient sets the HTTP client that carries requests. Default: a
// client of the package's own with dial and TLS handshake timeouts of 2 s, a
// response header timeout of 3 s and pooled keep-alive connections. The
// client is copied and its CheckRedirect replaced, so redirects are never
// followed whatever the given client does; its Transport is used as is. A
// nil client is an error.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *config) { c.httpClient, c.httpClientSet = hc, true }
}

// WithTransport wraps the client's transport with wrap, for tracing or
// metrics (otelhttp.NewTransport, for one), without giving up the default
// transport's dial, TLS and response-header timeouts and its keep-alive
// pool: wrap receives that transport (or, with [WithHTTPClient], the given
// client's) and returns the RoundTripper that carries every request. A nil
// wrap, or one that returns nil, is an error.
func WithTransport(wrap func(http.RoundTripper) http.RoundTripper) Option {
	return func(c *config) { c.wrap, c.wrapSet = wrap, true }
}

// WithTimeout sets the whole-call time budget: each method call, retries
// and body read included, ends within it on top of the caller's context,
// and running out of it is [ErrTimeout]. Default 5 s; it must be > 0 and
// <= 15 s (a handoff code lives 30 s). [Client.AllConnections] gives each
// page its own budget. With the default transport an attempt also ends when
// response headers take over 3 s; pass [WithHTTPClient] for a longer wait.
func WithTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// WithClientIPHeader names the header that carries the end user's IP on
// handoff init. Default "X-Forwarded-For". It must be a valid header name
// other than the ones the client sets itself (Authorization, Content-Type,
// ...) and hop-by-hop headers; an empty name is an error.
func WithClientIPHeader(name string) Option {
	return func(c *config) { c.clientIPHeader = name }
}

// WithClientCredentials sets the app's BlueNexus auth client, which
// [Client.Refresh] authenticates as. Default: none, and Refresh fails
// before any I/O. With a secret the client is confidential and
// authenticates by HTTP Basic (RFC 6749 section 2.3.1, the form BlueNexus
// recommends); with an empty secret it is a public client and sends only
// client_id in the form body. An empty id is an error. The secret is never
// printed, logged or put in an error.
func WithClientCredentials(id, secret string) Option {
	return func(c *config) { c.clientID, c.clientSecret, c.credsSet = id, secret, true }
}

// BreakerSettings tunes the circuit breaker. Zero fields take their
// defaults, so BreakerSettings{OnStateChange: fn} keeps the default
// thresholds.
type BreakerSettings struct {
	// ConsecutiveFailures opens the breaker after that many failed calls in
	// a row. A failure is a timeout, a 5xx status or a transport error;
	// other answers and calls the caller cancelled do not count. Default 5.
	ConsecutiveFailures int
	// OpenTimeout is how long the breaker stays open before it lets probe
	// calls through (half-open). Default 30 s.
	OpenTimeout time.Duration
	// HalfOpenMaxRequests is how many probe calls the half-open breaker lets
	// through; that many successes close it, one failure opens it again.
	// Default 1.
	HalfOpenMaxRequests int
	// OnStateChange, when set, is called on every state change with the old
	// and new state ("closed", "open", "half-open"), for metrics. Default
	// none. It runs synchronously while the breaker is locked: keep it quick
	// and never call the Client from it.
	OnStateChange func(from, to string)
}

// WithBreaker tunes the circuit breaker, which is on by default (5
// consecutive failures, open for 30 s, 1 probe call, no state-change
// callback). It undoes an earlier [WithoutBreaker]. Negative fields are
// rejected.
func WithBreaker(s BreakerSettings) Option {
	return func(c *config) { c.breaker, c.breakerOff = s, false }
}

// WithoutBreaker turns the circuit breaker off: every call reaches
// BlueNexus however often it fails. Default: the breaker is on.
func WithoutBreaker() Option { return func(c *config) { c.breakerOff = true } }
