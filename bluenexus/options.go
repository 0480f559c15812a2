package bluenexus

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/handoffkit/handoffkit/internal/urlbuild"
)

// Defaults applied by [NewClient], and the fixed limits.
const (
	defaultBaseURL        = "https://api.bluenexus.ai"
	defaultTimeout        = 5 * time.Second
	maxTimeout            = 15 * time.Second // a code lives 30 s: mint it far sooner
	defaultClientIPHeader = "X-Forwarded-For"
	maxBodyBytes          = 1 << 20 // every response body
	maxCredential         = 1024    // client id and secret
	userAgent             = "handoffkit-bluenexus/1"
)

// Option configures a [Client]. A nil, zero or empty value is an error
// from [NewClient] naming the option.
type Option func(*Client) error

// WithBaseURL sets the API base URL. Default "https://api.bluenexus.ai".
// It must be an absolute https URL (http only on a loopback host) without
// query, fragment or user info; a path prefix is kept.
func WithBaseURL(raw string) Option {
	return func(c *Client) error {
		if err := urlbuild.CheckReturnURI(raw, false); err != nil {
			return fmt.Errorf("bluenexus: WithBaseURL: %w", err)
		}
		u, _ := url.Parse(raw) // checked above
		if u.Scheme != "http" && u.Scheme != "https" || u.RawQuery != "" || u.ForceQuery {
			return errors.New("bluenexus: WithBaseURL: must be an http(s) URL without a query")
		}
		if u.Path == "" {
			u.Path = "/" // JoinPath keeps a relative path relative
		}
		c.base = u
		return nil
	}
}

// WithHTTPClient sets the HTTP client that carries requests. Default: the
// package's own, with 2 s dial and TLS timeouts and a 3 s response header
// timeout. The client is copied and never follows redirects.
func WithHTTPClient(hc *http.Client) Option {
	return nonNil("WithHTTPClient", "client", hc == nil, func(c *Client) {
		copied := *hc
		c.hc = &copied
	})
}

// WithTransport wraps the client's transport (the default one, or that of
// [WithHTTPClient]) with wrap, for tracing or metrics. Wrap must not
// return nil.
func WithTransport(wrap func(http.RoundTripper) http.RoundTripper) Option {
	return nonNil("WithTransport", "function", wrap == nil, func(c *Client) { c.wrap = wrap })
}

// WithTimeout sets the whole-call time budget, retries and body read
// included; running out of it is [ErrTimeout]. Default 5 s; at most 15 s.
func WithTimeout(d time.Duration) Option {
	return func(c *Client) error {
		if d <= 0 || d > maxTimeout {
			return fmt.Errorf("bluenexus: WithTimeout: must be > 0 and <= %v, got %v", maxTimeout, d)
		}
		c.timeout = d
		return nil
	}
}

// WithClientIPHeader names the header that carries the end user's IP on
// handoff init. Default "X-Forwarded-For". It must be a valid header name
// the client does not set itself.
func WithClientIPHeader(name string) Option {
	return func(c *Client) error {
		canon := textproto.CanonicalMIMEHeaderKey(name)
		switch {
		case name == "":
			return errors.New("bluenexus: WithClientIPHeader: empty header name")
		case strings.Trim(name, alnum+"!#$%&'*+-.^_`|~") != "": // RFC 9110 §5.6.2
			return fmt.Errorf("bluenexus: WithClientIPHeader: %q is not a valid header name", name)
		case reservedHeaders[canon]:
			return fmt.Errorf("bluenexus: WithClientIPHeader: %q is set by the client itself", canon)
		}
		c.ipHeader = canon
		return nil
	}
}

// WithClientCredentials sets the app's BlueNexus auth client, which
// [Client.Refresh] authenticates as: by HTTP Basic with a secret, as a
// public client (client_id in the form) without. Default: none. The
// secret is never printed or put in an error.
func WithClientCredentials(id, secret string) Option {
	return func(c *Client) error {
		for _, v := range []struct{ what, v string }{{"client id", id}, {"client secret", secret}} {
			if len(v.v) > maxCredential || !utf8.ValidString(v.v) || strings.ContainsFunc(v.v, unicode.IsControl) {
				return fmt.Errorf("bluenexus: WithClientCredentials: %s must be UTF-8 text of at most %d bytes without control characters", v.what, maxCredential)
			}
		}
		if id == "" {
			return errors.New("bluenexus: WithClientCredentials: empty client id")
		}
		c.creds = newCredentials(id, secret)
		return nil
	}
}

// WithClock sets the clock the client (and a [TokenSource] on it) judges
// time by, for tests against an emulator on a fake clock. Default
// time.Now.
func WithClock(now func() time.Time) Option {
	return nonNil("WithClock", "clock", now == nil, func(c *Client) { c.now = now })
}

// BreakerSettings tunes the circuit breaker. Zero fields take their
// defaults.
type BreakerSettings struct {
	// ConsecutiveFailures (timeouts, 5xx, transport errors) open the
	// breaker. Default 5.
	ConsecutiveFailures int
	// OpenTimeout is how long it stays open before probe calls. Default 30 s.
	OpenTimeout time.Duration
	// HalfOpenMaxRequests is how many probe calls it lets through. Default 1.
	HalfOpenMaxRequests int
	// OnStateChange, when set, hears each change ("closed", "open",
	// "half-open"). It runs under the breaker's lock: keep it quick.
	OnStateChange func(from, to string)
}

// WithBreaker tunes the circuit breaker, which is on by default, and undoes
// [WithoutBreaker]. Negative fields are an error.
func WithBreaker(s BreakerSettings) Option {
	return func(c *Client) error {
		switch {
		case s.ConsecutiveFailures < 0 || s.ConsecutiveFailures > math.MaxUint32:
			return fmt.Errorf("bluenexus: WithBreaker: ConsecutiveFailures must be >= 0, got %d", s.ConsecutiveFailures)
		case s.OpenTimeout < 0:
			return fmt.Errorf("bluenexus: WithBreaker: OpenTimeout must be >= 0, got %v", s.OpenTimeout)
		case s.HalfOpenMaxRequests < 0 || s.HalfOpenMaxRequests > math.MaxUint32:
			return fmt.Errorf("bluenexus: WithBreaker: HalfOpenMaxRequests must be >= 0, got %d", s.HalfOpenMaxRequests)
		}
		s.ConsecutiveFailures = cmp.Or(s.ConsecutiveFailures, 5)
		s.OpenTimeout = cmp.Or(s.OpenTimeout, 30*time.Second)
		s.HalfOpenMaxRequests = cmp.Or(s.HalfOpenMaxRequests, 1)
		c.breaker = &s
		return nil
	}
}

// WithoutBreaker turns the circuit breaker off.
func WithoutBreaker() Option {
	return func(c *Client) error {
		c.breaker = nil
		return nil
	}
}

// nonNil is an option that runs set, or fails naming the option when isNil.
func nonNil(option, what string, isNil bool, set func(*Client)) Option {
	return func(c *Client) error {
		if isNil {
			return fmt.Errorf("bluenexus: %s: nil %s", option, what)
		}
		set(c)
		return nil
	}
}

// reservedHeaders are headers the client sets or the transport owns.
var reservedHeaders = map[string]bool{
	"Authorization": true, "Accept": true, "Content-Type": true, "Content-Length": true,
	"User-Agent": true, "Host": true, "Cookie": true, "Connection": true,
	"Transfer-Encoding": true, "Te": true, "Trailer": true, "Upgrade": true,
	"Keep-Alive": true, "Proxy-Authorization": true, "Proxy-Connection": true,
	"Accept-Encoding": true, "Expect": true,
}

// alnum is the ASCII letters and digits.
const alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
