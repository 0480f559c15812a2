package bluenexus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// maxRetries is how many times one call may be sent again.
const maxRetries = 2

// dialBackoff is the pause before resending after a dial error, times the
// attempt number.
const dialBackoff = 50 * time.Millisecond

// retryPolicy says when a call may be sent again (SECURITY.md D4). It is
// written here rather than taken from a retrying client library because the
// rules are per call (a refresh token is never presented twice) and bound
// by the call's one budget; a library's status-and-backoff loop would need
// all of that said to it anyway.
type retryPolicy uint8

const (
	// noRetry: sent once (RefreshConnection: not idempotent as far as the
	// published contract says).
	noRetry retryPolicy = iota
	// retryDial: resent only when the request provably never left, a dial
	// error (Refresh: a refresh token works once, and presenting it twice
	// may revoke the session).
	retryDial
	// retryDialOrAsked: also resent after a 429 or 503 whose Retry-After
	// fits in the remaining budget (handoff init, GETs).
	retryDialOrAsked
)

// call is one logical API call.
type call struct {
	op          string // method name, for error messages
	method      string
	url         string
	body        []byte // nil for no body
	contentType string // of body
	auth        string // Authorization header value, "" for none
	clientIP    string // "" for no client-IP header
	retry       retryPolicy
	secrets     func() []string // what to scrub from an error body; called only for one

	got2xx bool // set by attempts when a 2xx arrived, whatever followed
}

var errTooLarge = errors.New("body over the size cap")

// do runs cl through the breaker within the time budget and returns the
// body of a 2xx JSON response and when the answered attempt was sent.
func (c *Client) do(ctx context.Context, cl *call) ([]byte, time.Time, error) {
	a, err := c.exchange(ctx, cl)
	return a.body, a.sent, err
}

// okReply is a 2xx JSON response.
type okReply struct {
	body []byte
	sent time.Time // when the answered attempt was sent, by the client's clock
	date time.Time // the response's Date header: BlueNexus's clock; zero when absent or unreadable
}

// exchange is do, also returning the response's Date.
func (c *Client) exchange(ctx context.Context, cl *call) (okReply, error) {
	if ctx.Err() != nil {
		_, err := c.contextError(ctx, ctx, cl.op)
		return okReply{}, err
	}
	done, err := c.allow()
	if err != nil {
		return okReply{}, err
	}
	result := failed // also what a panic below reports
	defer func() { done(result) }()

	callCtx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	a, result, err := c.attempts(ctx, callCtx, cl)
	return a, err
}

// attempts sends cl once, and again (at most maxRetries times) when its
// retry policy allows. parent is the caller's context, ctx the call's
// budget on top of it. It also returns what the breaker should count.
func (c *Client) attempts(parent, ctx context.Context, cl *call) (a okReply, result outcome, err error) {
	for attempt := 0; ; attempt++ {
		mayRetry := cl.retry != noRetry && attempt < maxRetries
		req, err := c.newRequest(ctx, cl)
		if err != nil {
			return okReply{}, excluded, err
		}
		a = okReply{sent: c.now()}
		resp, err := c.hc.Do(req)
		if err != nil {
			result, dialErr, err := c.transportError(parent, ctx, cl.op, err)
			if dialErr && mayRetry {
				pause := time.Duration(attempt+1) * dialBackoff
				if fits(ctx, pause) {
					if c.sleep(ctx, pause) != nil {
						result, err := c.contextError(parent, ctx, cl.op)
						return a, result, err
					}
					continue
				}
			}
			return a, result, err
		}

		b, readErr := c.readBody(resp)
		status := resp.StatusCode
		switch {
		case status >= 200 && status <= 299:
			cl.got2xx = true
			switch {
			case errors.Is(readErr, errTooLarge):
				return a, succeeded, fmt.Errorf("%w: %s: body over %d bytes", ErrBadResponse, cl.op, c.maxBody)
			case readErr != nil:
				result, _, err := c.transportError(parent, ctx, cl.op, readErr)
				return a, result, err
			case !isJSONContentType(resp.Header.Get("Content-Type")):
				return a, succeeded, fmt.Errorf("%w: %s: content type is not JSON", ErrBadResponse, cl.op)
			}
			a.body = b
			if d := resp.Header.Get("Date"); d != "" {
				a.date, _ = http.ParseTime(d) // zero when unreadable
			}
			return a, succeeded, nil
		case status >= 300 && status <= 399:
			return a, succeeded, fmt.Errorf("%w: %s: redirect (status %d) not followed", ErrBadResponse, cl.op, status)
		}

		ra, hasRA := parseRetryAfter(resp.Header.Get("Retry-After"), c.now())
		if readErr != nil {
			b = nil // over the cap or cut short: the status alone
		}
		var secrets []string
		if len(b) > 0 {
			secrets = cl.secrets()
		}
		apiErr := newAPIError(status, ra, b, resp.Header.Get("Content-Type"), secrets)
		result = succeeded // BlueNexus answered
		if status >= 500 {
			result = failed
		}
		asked := status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable
		if mayRetry && cl.retry == retryDialOrAsked && hasRA && asked && fits(ctx, ra) {
			if c.sleep(ctx, ra) != nil {
				result, err := c.contextError(parent, ctx, cl.op)
				return a, result, err
			}
			continue
		}
		return a, result, apiErr
	}
}

// fits reports whether waiting d still leaves time in ctx's budget.
func fits(ctx context.Context, d time.Duration) bool {
	deadline, ok := ctx.Deadline()
	return !ok || d < time.Until(deadline)
}

// newRequest builds one attempt's request with the standard library. A
// hand-built http.Request sharing one array for the header values saved 7
// allocations a call, but BenchmarkInitHandoff showed no difference of 10%
// over a loopback round trip, so it gave way.
func (c *Client) newRequest(ctx context.Context, cl *call) (*http.Request, error) {
	var body io.Reader
	if cl.body != nil {
		body = bytes.NewReader(cl.body) // sets ContentLength and GetBody
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, cl.url, body)
	if err != nil {
		if ue, ok := err.(*url.Error); ok {
			err = ue.Err // the URL may carry a connection id
		}
		return nil, fmt.Errorf("bluenexus: %s: building the request: %w", cl.op, err)
	}
	h := req.Header
	if cl.auth != "" {
		h.Set("Authorization", cl.auth)
	}
	h.Set("Accept", "application/json")
	h.Set("User-Agent", userAgent)
	if cl.contentType != "" {
		h.Set("Content-Type", cl.contentType)
	}
	if cl.clientIP != "" {
		h.Set(c.ipHeader, cl.clientIP)
	}
	return req, nil
}

// transportError classifies an error of the HTTP client (or of reading a
// body). dialErr reports a dial failure: the request never left.
func (c *Client) transportError(parent, ctx context.Context, op string, err error) (result outcome, dialErr bool, out error) {
	if ue, ok := err.(*url.Error); ok {
		err = ue.Err // drop the URL from the text
	}
	if parent.Err() != nil || ctx.Err() != nil {
		result, out = c.contextError(parent, ctx, op)
		return result, false, out
	}
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		return failed, false, fmt.Errorf("%w: %s: %w", ErrTimeout, op, err)
	}
	if oe, ok := errors.AsType[*net.OpError](err); ok && oe.Op == "dial" {
		return failed, true, fmt.Errorf("%w: %s: %w", ErrConnection, op, err)
	}
	return failed, false, fmt.Errorf("%w: %s: %w", ErrConnection, op, err)
}

// contextError describes a call ended by a context. The caller's
// cancellation (the browser left) wraps context.Canceled and nothing else:
// it is neither a timeout nor a connection failure, and the breaker does
// not count it. The caller's deadline and the client's own budget are
// ErrTimeout wrapping context.DeadlineExceeded.
func (c *Client) contextError(parent, ctx context.Context, op string) (outcome, error) {
	if err := parent.Err(); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return failed, fmt.Errorf("%w: %s: the caller's deadline passed: %w", ErrTimeout, op, err)
		}
		return excluded, fmt.Errorf("bluenexus: %s: %w", op, err)
	}
	return failed, fmt.Errorf("%w: %s: no answer within %v: %w", ErrTimeout, op, c.timeout, context.DeadlineExceeded)
}

// readBody reads and closes the body, at most maxBody bytes. A body read to
// its end lets the connection go back to the pool; one over the cap is
// abandoned after maxBody+1 bytes (or at once, when its Content-Length
// says so), which closes the connection.
func (c *Client) readBody(resp *http.Response) ([]byte, error) {
	defer resp.Body.Close()
	if resp.ContentLength > c.maxBody {
		return nil, errTooLarge
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > c.maxBody {
		return nil, errTooLarge
	}
	return b, nil
}

// isJSONContentType accepts application/json and application/*+json, with
// any parameters.
func isJSONContentType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil && !errors.Is(err, mime.ErrInvalidMediaParameter) {
		return false
	}
	sub, ok := strings.CutPrefix(mt, "application/")
	return ok && (sub == "json" || len(sub) > len("+json") && strings.HasSuffix(sub, "+json"))
}
