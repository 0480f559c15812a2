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

// call is one logical API call.
type call struct {
	op          string // method name, for error messages
	method      string
	url         string
	body        []byte          // nil for no body
	contentType string          // of body
	auth        string          // Authorization header value, "" for none
	clientIP    string          // "" for no client-IP header
	retryAsked  bool            // resend after a 429/503 whose Retry-After fits the budget, not only after a dial error (docs/SECURITY.md D4)
	secrets     func() []string // what to scrub from an error body

	got2xx bool // set when a 2xx arrived, whatever followed
}

var errTooLarge = errors.New("body over the size cap")

// okReply is a 2xx JSON response.
type okReply struct {
	body []byte
	sent time.Time // when the answered attempt was sent, by the client's clock
	date time.Time // the response's Date header: BlueNexus's clock; zero when absent
}

// do runs cl through the breaker within the time budget, or within the
// caller's deadline when that comes first.
func (c *Client) do(ctx context.Context, cl *call) (okReply, error) {
	if ctx.Err() != nil {
		return okReply{}, c.contextError(ctx, ctx, cl.op)
	}
	return c.through(func() (okReply, error) {
		if d, ok := ctx.Deadline(); ok && time.Until(d) <= c.timeout {
			return c.attempts(ctx, ctx, cl)
		}
		callCtx, cancel := context.WithTimeout(ctx, c.timeout)
		defer cancel()
		return c.attempts(ctx, callCtx, cl)
	})
}

// attempts sends cl once, and again (at most maxRetries times) when its
// retry policy allows. parent is the caller's context, ctx the call's
// budget on top of it.
func (c *Client) attempts(parent, ctx context.Context, cl *call) (okReply, error) {
	for attempt := 0; ; attempt++ {
		a, pause, retry, err := c.attempt(parent, ctx, cl, attempt)
		deadline, ok := ctx.Deadline()
		if !retry || attempt >= maxRetries || ok && pause >= time.Until(deadline) { // no time left to wait
			return a, err
		}
		if c.sleep(ctx, pause) != nil {
			return a, c.contextError(parent, ctx, cl.op)
		}
	}
}

// attempt sends cl once. When retry is set, the call may be sent again
// after pause.
func (c *Client) attempt(parent, ctx context.Context, cl *call, n int) (a okReply, pause time.Duration, retry bool, err error) {
	req, err := c.newRequest(ctx, cl)
	if err != nil {
		return a, 0, false, err
	}
	a.sent = c.now()
	resp, err := c.hc.Do(req)
	if err != nil {
		dialErr, err := c.transportError(parent, ctx, cl.op, err)
		return a, time.Duration(n+1) * dialBackoff, dialErr, err
	}
	b, readErr := c.readBody(resp)
	status := resp.StatusCode
	switch {
	case status >= 200 && status <= 299:
		cl.got2xx = true
		switch {
		case errors.Is(readErr, errTooLarge):
			return a, 0, false, fmt.Errorf("%w: %s: body over %d bytes", ErrBadResponse, cl.op, c.maxBody)
		case readErr != nil:
			_, err := c.transportError(parent, ctx, cl.op, readErr)
			return a, 0, false, err
		case !isJSONContentType(resp.Header.Get("Content-Type")):
			return a, 0, false, fmt.Errorf("%w: %s: content type is not JSON", ErrBadResponse, cl.op)
		}
		a.body = b
		a.date, _ = http.ParseTime(resp.Header.Get("Date")) // zero when absent or unreadable
		return a, 0, false, nil
	case status >= 300 && status <= 399:
		return a, 0, false, fmt.Errorf("%w: %s: redirect (status %d) not followed", ErrBadResponse, cl.op, status)
	}
	ra, hasRA := parseRetryAfter(resp.Header.Get("Retry-After"), c.now())
	var secrets []string
	if readErr == nil && len(b) > 0 {
		secrets = cl.secrets()
	} else {
		b = nil // over the cap or cut short: the status alone
	}
	asked := status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable
	return a, ra, cl.retryAsked && hasRA && asked, newAPIError(status, ra, b, resp.Header.Get("Content-Type"), secrets)
}

// newRequest builds one attempt's request.
func (c *Client) newRequest(ctx context.Context, cl *call) (*http.Request, error) {
	var body io.Reader
	if cl.body != nil {
		body = bytes.NewReader(cl.body) // sets ContentLength and GetBody
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, cl.url, body)
	if err != nil {
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
func (c *Client) transportError(parent, ctx context.Context, op string, err error) (dialErr bool, out error) {
	if ue, ok := err.(*url.Error); ok {
		err = ue.Err // drop the URL from the text
	}
	if parent.Err() != nil || ctx.Err() != nil {
		return false, c.contextError(parent, ctx, op)
	}
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		return false, fmt.Errorf("%w: %s: %w", ErrTimeout, op, err)
	}
	oe, ok := errors.AsType[*net.OpError](err)
	return ok && oe.Op == "dial", fmt.Errorf("%w: %s: %w", ErrConnection, op, err)
}

// contextError describes a call ended by a context: the caller's, or the
// client's budget, which is ErrTimeout.
func (c *Client) contextError(parent, ctx context.Context, op string) error {
	if err := parent.Err(); err != nil {
		return callerGone(op, err)
	}
	return fmt.Errorf("%w: %s: no answer within %v: %w", ErrTimeout, op, c.timeout, context.DeadlineExceeded)
}

// callerGone describes a caller that stopped waiting: its deadline is
// ErrTimeout, its cancellation only wraps context.Canceled.
func callerGone(op string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %s: the caller's deadline passed: %w", ErrTimeout, op, err)
	}
	return fmt.Errorf("bluenexus: %s: %w", op, err)
}

// readBody reads and closes the body, at most maxBody bytes. A body read to
// its end lets the connection go back to the pool; one over the cap is
// abandoned after maxBody+1 bytes, which closes the connection.
func (c *Client) readBody(resp *http.Response) ([]byte, error) {
	defer resp.Body.Close()
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
	if ct == "application/json" || strings.HasPrefix(ct, "application/json;") {
		return true // the usual answer, without mime's allocations
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil && !errors.Is(err, mime.ErrInvalidMediaParameter) {
		return false
	}
	sub, ok := strings.CutPrefix(mt, "application/")
	return ok && (sub == "json" || len(sub) > len("+json") && strings.HasSuffix(sub, "+json"))
}
