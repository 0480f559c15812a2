package bluenexus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
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

// call is one logical API call.
type call struct {
	op       string // method name, for error messages
	method   string
	url      url.URL
	body     []byte // nil for no body
	token    AccessToken
	redirect string // handoff init's redirect URI, scrubbed from errors
	clientIP string // "" for no client-IP header
	retry    bool   // may be resent under the D4 rules
}

var errTooLarge = errors.New("body over the size cap")

// do runs cl through the breaker within the time budget and returns the
// body of a 2xx JSON response and when the answered attempt was sent.
func (c *Client) do(ctx context.Context, cl *call) ([]byte, time.Time, error) {
	if ctx.Err() != nil {
		_, err := c.contextError(ctx, ctx, cl.op)
		return nil, time.Time{}, err
	}
	done, err := c.allow()
	if err != nil {
		return nil, time.Time{}, err
	}
	result := failed // also what a panic below reports
	defer func() { done(result) }()

	callCtx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	body, sent, result, err := c.attempts(ctx, callCtx, cl)
	return body, sent, err
}

// attempts sends cl once, and again (at most maxRetries times) when the
// first try provably never reached BlueNexus or BlueNexus asked for a retry
// that fits in the budget. It also returns what the breaker should count.
func (c *Client) attempts(parent, ctx context.Context, cl *call) (body []byte, sent time.Time, result outcome, err error) {
	for attempt := 0; ; attempt++ {
		mayRetry := cl.retry && attempt < maxRetries
		sent = c.now()
		resp, err := c.hc.Do(c.newRequest(ctx, cl))
		if err != nil {
			result, dialErr, err := c.transportError(parent, ctx, cl.op, err)
			if dialErr && mayRetry {
				pause := time.Duration(attempt+1) * dialBackoff
				if fits(ctx, pause) && c.sleep(ctx, pause) == nil {
					continue
				}
			}
			return nil, sent, result, err
		}

		b, readErr := c.readBody(resp)
		status := resp.StatusCode
		switch {
		case status >= 200 && status <= 299:
			switch {
			case errors.Is(readErr, errTooLarge):
				return nil, sent, succeeded, fmt.Errorf("%w: %s: body over %d bytes", ErrBadResponse, cl.op, c.maxBody)
			case readErr != nil:
				result, _, err := c.transportError(parent, ctx, cl.op, readErr)
				return nil, sent, result, err
			case !isJSONContentType(resp.Header.Get("Content-Type")):
				return nil, sent, succeeded, fmt.Errorf("%w: %s: content type is not JSON", ErrBadResponse, cl.op)
			}
			return b, sent, succeeded, nil
		case status >= 300 && status <= 399:
			return nil, sent, succeeded, fmt.Errorf("%w: %s: redirect (status %d) not followed", ErrBadResponse, cl.op, status)
		}

		ra, hasRA := parseRetryAfter(resp.Header.Get("Retry-After"), c.now())
		if readErr != nil {
			b = nil // over the cap or cut short: the status alone
		}
		apiErr := newAPIError(status, ra, b, secrets(cl.token, cl.redirect))
		result = succeeded // BlueNexus answered
		if status >= 500 {
			result = failed
		}
		if mayRetry && hasRA && (status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable) && fits(ctx, ra) {
			if c.sleep(ctx, ra) != nil {
				result, err := c.contextError(parent, ctx, cl.op)
				return nil, sent, result, err
			}
			continue
		}
		return nil, sent, result, apiErr
	}
}

// fits reports whether waiting d still leaves time in ctx's budget.
func fits(ctx context.Context, d time.Duration) bool {
	deadline, ok := ctx.Deadline()
	return !ok || d < time.Until(deadline)
}

// newRequest builds one attempt's request from the precomputed URL.
func (c *Client) newRequest(ctx context.Context, cl *call) *http.Request {
	// The header values share one array; each slice is capped at its own
	// element, so an append by a transport copies instead of overwriting.
	v := &[5]string{"Bearer " + cl.token.Reveal(), "application/json", c.userAgent, cl.clientIP, "application/json"}
	h := make(http.Header, 6)
	h["Authorization"] = v[0:1:1]
	h["Accept"] = v[1:2:2]
	h["User-Agent"] = v[2:3:3]
	if cl.clientIP != "" {
		h[c.ipHeader] = v[3:4:4]
	}
	u := cl.url
	req := http.Request{
		Method:     cl.method,
		URL:        &u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     h,
	}
	if body := cl.body; body != nil {
		h["Content-Type"] = v[4:5:5]
		req.ContentLength = int64(len(body))
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	return req.WithContext(ctx) // the only copy on the heap
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

// contextError describes a call ended by a context: the caller's
// cancellation (not a breaker failure), the caller's deadline, or the
// client's own budget (both timeouts).
func (c *Client) contextError(parent, ctx context.Context, op string) (outcome, error) {
	if err := parent.Err(); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return failed, fmt.Errorf("%w: %s: %w", ErrTimeout, op, err)
		}
		return excluded, fmt.Errorf("bluenexus: %s: %w", op, err)
	}
	return failed, fmt.Errorf("%w: %s: no answer within %v: %w", ErrTimeout, op, c.timeout, context.DeadlineExceeded)
}

// readBody reads and closes the body, at most maxBody bytes, to its end so
// the connection goes back to the pool.
func (c *Client) readBody(resp *http.Response) ([]byte, error) {
	defer resp.Body.Close()
	hint := 512
	if n := resp.ContentLength; n > c.maxBody {
		return nil, errTooLarge
	} else if n >= 0 {
		hint = int(n) + 1 // room to read EOF without growing
	}
	b := make([]byte, 0, hint)
	r := io.LimitReader(resp.Body, c.maxBody+1)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if int64(len(b)) > c.maxBody {
			return nil, errTooLarge
		}
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// isJSONContentType accepts application/json and application/*+json, with
// any parameters.
func isJSONContentType(ct string) bool {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = strings.TrimSpace(ct)
	typ, sub, ok := strings.Cut(ct, "/")
	if !ok || !strings.EqualFold(typ, "application") {
		return false
	}
	return strings.EqualFold(sub, "json") ||
		len(sub) > len("+json") && strings.EqualFold(sub[len(sub)-len("+json"):], "+json")
}
