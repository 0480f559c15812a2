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
	users          []string
	tokens         map[string]bluenexus.AccessToken
	shape          PaginationShape
}

func defaultConfig() config {
	return config{
		addr:           "127.0.0.1:0",
		now:            time.Now,
		codeTTL:        30 * time.Second,
		clientIPHeader: "X-Forwarded-For",
		tokens:         map[string]bluenexus.AccessToken{},
		shape:          PaginationHasMore,
	}
}

// WithAddr sets the TCP address to listen on. Default "127.0.0.1:0": the
// loopback interface and a port chosen by the system.
func WithAddr(addr string) Option { return func(c *config) { c.addr = addr } }

// WithClock sets the clock that decides code and session expiry and stamps
// connection times. Default [time.Now]. Tests pass a fake clock to step over
// the code lifetime without sleeping.
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

// WithUser adds a user at start-up with a random token; read the token with
// [Server.AddUser]. Default: no users. Names are 1 to 64 letters, digits,
// dots, underscores or hyphens.
func WithUser(name string) Option {
	return func(c *config) { c.users = append(c.users, name) }
}

// WithUserToken adds a user at start-up with a fixed access token, so that
// apps pointed at a long-running emulator can keep stable configuration.
// Default: tokens are random. The token must be 8 to 512 printable ASCII
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
	if _, _, err := net.SplitHostPort(c.addr); err != nil {
		return fmt.Errorf("bluenexustest: WithAddr: %w", err)
	}
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
	return nil
}
