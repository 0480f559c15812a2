package bluenexus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fake is an httptest server that counts requests and accepted connections.
type fake struct {
	*httptest.Server
	hits  atomic.Int64
	conns atomic.Int64
}

func newFake(t testing.TB, h http.HandlerFunc) *fake {
	t.Helper()
	f := &fake{}
	f.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.hits.Add(1)
		h(w, r)
	}))
	f.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			f.conns.Add(1)
		}
	}
	f.Start()
	t.Cleanup(f.Close)
	return f
}

// newTestClient returns a client aimed at f (or at base when f is nil).
func newTestClient(t testing.TB, base string, opts ...Option) *Client {
	t.Helper()
	c, err := NewClient(append([]Option{WithBaseURL(base)}, opts...)...)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(c.hc.CloseIdleConnections)
	return c
}

// reply writes a JSON response.
func reply(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// waitForRequest blocks the handler until the client goes away (or 10 s).
// It reads the body first: the server notices a closed connection only
// once the body is consumed.
func waitForRequest(r *http.Request) {
	io.Copy(io.Discard, r.Body)
	select {
	case <-r.Context().Done():
	case <-time.After(10 * time.Second):
	}
}

const testToken AccessToken = "tok-test"

var testReq = HandoffRequest{RedirectURI: "https://app.example.com/return?state=s", Intent: IntentConnections}

// script serves the given handlers in order, repeating the last one.
func script(hs ...http.HandlerFunc) http.HandlerFunc {
	var mu sync.Mutex
	i := 0
	return func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		h := hs[min(i, len(hs)-1)]
		i++
		mu.Unlock()
		h(w, r)
	}
}

func status(code int, hdr ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(hdr); i += 2 {
			w.Header().Set(hdr[i], hdr[i+1])
		}
		body := `{"error":"E","message":"m","statusCode":` + strconv.Itoa(code) + `}`
		if code/100 == 2 {
			body = okHandoff
		}
		reply(w, code, body)
	}
}

const okHandoff = `{"code":"hc_ok"}`

// recordSleeps replaces the client's wait with one that records and
// returns at once.
func recordSleeps(c *Client) *[]time.Duration {
	var mu sync.Mutex
	var got []time.Duration
	c.sleep = func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		got = append(got, d)
		mu.Unlock()
		return ctx.Err()
	}
	return &got
}

// roundTripFunc is an in-memory transport.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// jsonResponse builds a response to r.
func jsonResponse(r *http.Request, status int, body string) *http.Response {
	return &http.Response{
		StatusCode:    status,
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       r,
	}
}

// apiStatus stands in test tables for "an *APIError with a status in
// [lo, hi]", where the package has no sentinel (callers read StatusCode).
type apiStatus struct{ lo, hi int }

func (s apiStatus) Error() string { return fmt.Sprintf("*APIError with status %d..%d", s.lo, s.hi) }

var (
	errUnauthorized = apiStatus{401, 401}
	errForbidden    = apiStatus{403, 403}
	errRateLimited  = apiStatus{429, 429}
	errServer       = apiStatus{500, 599}
)

// is is errors.Is, and for an apiStatus whether err is an *APIError whose
// status falls in its range.
func is(err, want error) bool {
	if s, ok := want.(apiStatus); ok {
		ae, ok := errors.AsType[*APIError](err)
		return ok && ae.StatusCode >= s.lo && ae.StatusCode <= s.hi
	}
	return errors.Is(err, want)
}

// sentinels are every exported error value of the package.
var sentinels = []error{ErrClientCriteria, ErrReauthRequired, ErrClientConfig, ErrTimeout, ErrConnection, ErrBadResponse, ErrCircuitOpen}

// isArgumentError reports whether err is a rejection of the arguments
// before any I/O: prefixed with the package and op, matching no sentinel,
// not an *APIError and not a context error.
func isArgumentError(err error, op string) bool {
	if err == nil || !strings.HasPrefix(err.Error(), "bluenexus: "+op+": ") {
		return false
	}
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return false
		}
	}
	_, api := errors.AsType[*APIError](err)
	return !api && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// listPage reads one page the way AllConnections does.
func listPage(c *Client, ctx context.Context, token AccessToken) (*connectionPage, error) {
	var p connectionPage
	if err := c.bearerJSON(ctx, "AllConnections", c.connsURL+"?limit=100&page=1", token, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// breakerState returns the breaker's state name, for tests.
func (c *Client) breakerState() string {
	if c.cb == nil {
		return "off"
	}
	return c.cb.State().String()
}

// len reports how many users are kept.
func (c *userCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.users)
}
