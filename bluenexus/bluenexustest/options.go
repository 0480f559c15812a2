package bluenexustest

import (
	"fmt"
	"net"
	"net/http"
	"regexp"
	"time"

	"github.com/handoffkit/handoffkit/bluenexus"
)

// Option configures a [Server]. Options apply in order over the defaults;
// [New] then validates the result.
type Option func(*config)

// PaginationShape names one of the two pagination objects BlueNexus
// publishes for list endpoints.
type PaginationShape string

// The published pagination shapes.
const (
	// PaginationHasMore answers {page, limit, total, hasMore}. The default.
	PaginationHasMore PaginationShape = "hasMore"
	// PaginationPages answers {page, limit, total, pages, hasNext, hasPrev}.
	PaginationPages PaginationShape = "pages"
)

func (p PaginationShape) valid() bool { return p == PaginationHasMore || p == PaginationPages }

type config struct {
	addr           string
	now            func() time.Time
	codeTTL        time.Duration
	clientIPHeader string
	pageIPHeader   string
	users          []string
	tokens         map[string]bluenexus.AccessToken
	shape          PaginationShape
	tokenTTL       time.Duration
	refreshTTL     time.Duration
	clientID       string
	clientSecret   string
	rateLimits     bool
	domainEntries  []string
	domains        domainList // parsed from domainEntries by validate
	control        bool
	variants       TokenVariants
	requestLog     func(method, path string, status int, latency time.Duration)

	ipHeaderNotHonoured bool // WithClientIPHeaderNotHonoured (clientip.go)
}

// Defaults of the token options.
const (
	defaultTokenTTL     = 900 * time.Second
	defaultRefreshTTL   = 7 * 24 * time.Hour
	defaultClientID     = "bluenexus-emulator"
	defaultClientSecret = "bluenexus-emulator-secret"
)

func defaultConfig() config {
	return config{
		addr:           "127.0.0.1:0",
		now:            time.Now,
		codeTTL:        30 * time.Second,
		clientIPHeader: "X-Forwarded-For",
		tokens:         map[string]bluenexus.AccessToken{},
		shape:          PaginationHasMore,
		tokenTTL:       defaultTokenTTL,
		refreshTTL:     defaultRefreshTTL,
		clientID:       defaultClientID,
		clientSecret:   defaultClientSecret,
		domainEntries:  defaultDomains,
	}
}

// WithAddr sets the TCP address to listen on. Default "127.0.0.1:0": the
// loopback interface and a port chosen by the system.
func WithAddr(addr string) Option { return func(c *config) { c.addr = addr } }

// WithClock sets the clock that decides code, token and session expiry,
// rate-limit windows, and stamps connection times and every answer's Date
// header. Default [time.Now]. Tests pass a fake clock to step over the code
// lifetime without sleeping, or one offset from the app's to skew them;
// [Server.AdvanceClock] moves whichever clock is in use forward.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithCodeTTL sets how long a handoff code stays usable after issue.
// Default 30s, the lifetime BlueNexus publishes. Must be positive.
func WithCodeTTL(d time.Duration) Option { return func(c *config) { c.codeTTL = d } }

// WithClientIPHeader names the request header that carries the end user's IP
// on handoff init calls. Default "X-Forwarded-For". When the header is present
// its last comma-separated entry is the fingerprint IP; when absent, the TCP
// peer is. The empty string disables the header: the TCP peer always counts.
func WithClientIPHeader(name string) Option {
	return func(c *config) { c.clientIPHeader = name }
}

// WithPageIPHeader makes the white-label page read the browser's IP, which
// the IP fingerprint compares with the init call's, from the last
// comma-separated entry of the request header name (every instance merged)
// when it is present, instead of the TCP peer: as a BlueNexus behind a proxy
// that sets it would. It exists for in-process tests, whose browsers all
// connect over loopback, to present another IP ([FromIP] sends
// X-Forwarded-For). The header is believed from anyone, so never enable it
// on an emulator others can reach. Default "": the page reads the TCP peer
// only, and every loopback address counts as the same machine.
func WithPageIPHeader(name string) Option {
	return func(c *config) { c.pageIPHeader = name }
}

// WithUser adds a user at start-up with a random static token; read the
// token with [Server.AddUser], or sign the user in with [Server.SignIn] for
// tokens that expire and refresh. Default: no users. Names are 1 to 64
// letters, digits, dots, underscores or hyphens.
func WithUser(name string) Option {
	return func(c *config) { c.users = append(c.users, name) }
}

// WithUserToken adds a user at start-up with a fixed static access token, so
// that apps pointed at a long-running emulator can keep stable configuration.
// Like every static token it never expires (see [Server.AddUser]). Default:
// tokens are random. The token must be 8 to 512 printable ASCII
// characters without spaces and unique across users.
func WithUserToken(name string, token bluenexus.AccessToken) Option {
	return func(c *config) {
		c.users = append(c.users, name)
		c.tokens[name] = token
	}
}

// WithPaginationShape sets the pagination object the connections list
// answers with. Default [PaginationHasMore]. [Server.SetPaginationShape]
// switches it at run time.
func WithPaginationShape(shape PaginationShape) Option {
	return func(c *config) { c.shape = shape }
}

// WithTokenTTL sets how long an access token issued by [Server.SignIn] or
// the token endpoint works, on the [WithClock] clock; expires_in reports it
// in whole seconds. Default 900s, the lifetime BlueNexus publishes. Must be
// at least one second. Static tokens ([Server.AddUser]) never expire.
func WithTokenTTL(d time.Duration) Option { return func(c *config) { c.tokenTTL = d } }

// WithRefreshTTL sets how long a refresh token works after issue (its
// refresh_expires_in); each refresh issues a new one with the full lifetime.
// Default 7 days, the value in BlueNexus's example. Must be at least one
// second.
func WithRefreshTTL(d time.Duration) Option { return func(c *config) { c.refreshTTL = d } }

// WithClientCredentials sets the white-label auth client that the token
// endpoint authenticates: HTTP Basic with id and secret (each form-encoded,
// RFC 6749 section 2.3.1), or client_id and client_secret in the form body.
// With an empty secret the client is public: client_id alone, in the body,
// authenticates it. Default id "bluenexus-emulator", secret
// "bluenexus-emulator-secret"; read them with [Server.ClientCredentials].
// The id must be 1 to 256 printable ASCII characters, the secret at most
// 256.
func WithClientCredentials(id, secret string) Option {
	return func(c *config) { c.clientID, c.clientSecret = id, secret }
}

// WithRateLimits enforces the published rate limits: 10 requests a minute on
// the token endpoint ([PathToken]) and 100 a minute on every other path under
// /api/. Beyond them the API answers 429 with the documented body
// {"error": "TooManyRequestsError", "message": "Rate limit exceeded",
// "statusCode": 429} and a Retry-After header (whole seconds to the end of
// the window). BlueNexus does not publish whom a limit counts; the emulator
// counts per client IP (the TCP peer) in fixed one-minute windows on the
// [WithClock] clock. Requests answered by an injected fault do not count.
// Default: no limits (inject a 429 with [RetryAfter] instead).
func WithRateLimits() Option { return func(c *config) { c.rateLimits = true } }

// WithAllowedDomains sets the white-label client's allowed domains, which
// BlueNexus's setup page asks for ("Domains: allowed domains for this
// client"): handoff init refuses, with a 400 validation error on
// redirectUri, a redirectUri whose host is not on the list. BlueNexus does
// not publish the rule; the emulator infers it from that page. The list
// replaces the default. Entries are:
//
//   - a host name, matched exactly (ignoring case, the port and a trailing
//     dot): "app.example.com", "localhost";
//   - "*." and a domain, matching its subdomains but not the domain itself:
//     "*.example.com";
//   - an IP address or CIDR prefix: "::1", "127.0.0.0/8";
//   - a custom app scheme followed by "://": "yourapp://". A redirectUri
//     of any other scheme than http and https is allowed when the list names
//     no scheme at all (deep links have no domain), and otherwise only when
//     its scheme is listed.
//
// Default: "localhost", "127.0.0.0/8", "::1", "app.example.com" and
// "app.example" (the test hosts the kit's own examples and tests send), and
// any custom app scheme. The other redirectUri rules (https, or http only
// to loopback; no fragment, user information or script schemes) apply
// whatever the list.
func WithAllowedDomains(domains ...string) Option {
	return func(c *config) { c.domainEntries = domains }
}

// WithTokenVariants makes the token endpoint answer with the variants v
// (see [TokenVariants]) from the start; [Server.SetTokenVariants] switches
// them at run time. Default: none, the published behaviour. ReuseGrace
// must not be negative.
func WithTokenVariants(v TokenVariants) Option { return func(c *config) { c.variants = v } }

// WithControlAPI serves the control API under /_emulator/, with which tests
// written in any language drive the emulator over HTTP: create users and
// get their tokens, add connections, set and clear faults, move the clock,
// revoke sessions, read counters, reset. It is unauthenticated, so serve
// it on loopback only. docs/emulator.md documents its routes. Default: off;
// the bluenexus-emulator command turns it on. Without it, no path outside
// the BlueNexus API, the white-label page and GET /healthz is served.
func WithControlAPI() Option { return func(c *config) { c.control = true } }

// WithRequestLog calls log after every request the emulator answers, with
// the method, the URL path (never the query string, so no code or state),
// the status sent (0 when a [ResetAfterRead] fault closed the connection)
// and the time taken. It never sees a header or a body, so no token reaches
// it. It runs on the request's goroutine and must be safe for concurrent
// use. Default: no log.
func WithRequestLog(log func(method, path string, status int, latency time.Duration)) Option {
	return func(c *config) { c.requestLog = log }
}

var userNameRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

func checkUserName(name string) error {
	if !userNameRE.MatchString(name) {
		return fmt.Errorf("bluenexustest: user name %q: want 1 to 64 letters, digits, '.', '_' or '-'", name)
	}
	return nil
}

func checkToken(t bluenexus.AccessToken) error {
	v := t.Reveal()
	if len(v) < 8 || len(v) > 512 {
		return fmt.Errorf("bluenexustest: token: want 8 to 512 characters, got %d", len(v))
	}
	for i := 0; i < len(v); i++ {
		if v[i] <= ' ' || v[i] >= 0x7f {
			return fmt.Errorf("bluenexustest: token: byte %d is not printable ASCII", i)
		}
	}
	return nil
}

// checkCredential validates a client id or secret: printable ASCII, min to
// 256 bytes. The error never quotes the value.
func checkCredential(what, v string, min int) error {
	if len(v) < min || len(v) > 256 {
		return fmt.Errorf("bluenexustest: WithClientCredentials: client %s: want %d to 256 characters, got %d", what, min, len(v))
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] >= 0x7f {
			return fmt.Errorf("bluenexustest: WithClientCredentials: client %s: byte %d is not printable ASCII", what, i)
		}
	}
	return nil
}

// httpTokenRE matches an RFC 9110 field name.
var httpTokenRE = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

func (c *config) validate() error {
	if c.now == nil {
		return fmt.Errorf("bluenexustest: WithClock: nil clock")
	}
	if c.codeTTL <= 0 {
		return fmt.Errorf("bluenexustest: WithCodeTTL: %v is not positive", c.codeTTL)
	}
	if c.clientIPHeader != "" && !httpTokenRE.MatchString(c.clientIPHeader) {
		return fmt.Errorf("bluenexustest: WithClientIPHeader: %q is not a header name", c.clientIPHeader)
	}
	if c.pageIPHeader != "" && !httpTokenRE.MatchString(c.pageIPHeader) {
		return fmt.Errorf("bluenexustest: WithPageIPHeader: %q is not a header name", c.pageIPHeader)
	}
	if _, _, err := net.SplitHostPort(c.addr); err != nil {
		return fmt.Errorf("bluenexustest: WithAddr: %w", err)
	}
	if c.tokenTTL < time.Second {
		return fmt.Errorf("bluenexustest: WithTokenTTL: %v is under one second", c.tokenTTL)
	}
	if c.refreshTTL < time.Second {
		return fmt.Errorf("bluenexustest: WithRefreshTTL: %v is under one second", c.refreshTTL)
	}
	if c.variants.ReuseGrace < 0 {
		return fmt.Errorf("bluenexustest: WithTokenVariants: ReuseGrace %v is negative", c.variants.ReuseGrace)
	}
	if err := checkCredential("id", c.clientID, 1); err != nil {
		return err
	}
	if err := checkCredential("secret", c.clientSecret, 0); err != nil {
		return err
	}
	d, err := parseDomains(c.domainEntries)
	if err != nil {
		return fmt.Errorf("bluenexustest: WithAllowedDomains: %w", err)
	}
	c.domains = d
	if !c.shape.valid() {
		return fmt.Errorf("bluenexustest: WithPaginationShape: %q: want %q or %q", c.shape, PaginationHasMore, PaginationPages)
	}
	for _, u := range c.users {
		if err := checkUserName(u); err != nil {
			return err
		}
	}
	seen := map[string]string{}
	for u, t := range c.tokens {
		if err := checkToken(t); err != nil {
			return fmt.Errorf("%w (user %s)", err, u)
		}
		if other, dup := seen[t.Reveal()]; dup {
			return fmt.Errorf("bluenexustest: users %s and %s share a token", other, u)
		}
		seen[t.Reveal()] = u
	}
	c.clientIPHeader = http.CanonicalHeaderKey(c.clientIPHeader)
	c.pageIPHeader = http.CanonicalHeaderKey(c.pageIPHeader)
	return nil
}
