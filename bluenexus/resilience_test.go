package bluenexus

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestD5_BodySizeCap pins SECURITY.md D5: response bodies are size-capped.
func TestD5_BodySizeCap(t *testing.T) {
	const limit = 1024
	exact := `{"code":"` + strings.Repeat("x", limit-len(`{"code":""}`)) + `"}`
	over := `{"code":"` + strings.Repeat("x", limit) + `"}`
	tests := []struct {
		name    string
		status  int
		body    string
		chunked bool
		wantErr error
	}{
		{"at the cap", 200, exact, false, nil},
		{"over the cap", 200, over, false, ErrBadResponse},
		{"over the cap, chunked", 200, over, true, ErrBadResponse},
		{"error body over the cap keeps the status", 500, over, false, errServer},
		{"error body over the cap, chunked", 401, over, true, errUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				if !tc.chunked {
					w.Header().Set("Content-Length", strconv.Itoa(len(tc.body)))
				}
				w.WriteHeader(tc.status)
				for i := 0; i < len(tc.body); i += 100 {
					w.Write([]byte(tc.body[i:min(i+100, len(tc.body))]))
					if tc.chunked {
						w.(http.Flusher).Flush()
					}
				}
			})
			c := newTestClient(t, f.URL)
			c.maxBody = limit
			h, err := c.InitHandoff(context.Background(), testToken, testReq)
			if tc.wantErr == nil {
				if err != nil || len(h.Code.Reveal()) != limit-len(`{"code":""}`) {
					t.Fatalf("err %v, code of %d bytes", err, len(h.Code.Reveal()))
				}
				return
			}
			if !is(err, tc.wantErr) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			if ae, ok := errors.AsType[*APIError](err); ok && (ae.Message != "" || ae.Code != "") {
				t.Errorf("oversize error body was decoded: %#v", ae)
			}
		})
	}
}

func TestD5_SuccessBodyMustBeJSON(t *testing.T) {
	tests := []struct {
		ctype string
		ok    bool
	}{
		{"application/json", true},
		{"application/json; charset=utf-8", true},
		{"Application/JSON;charset=UTF-8", true},
		{"application/vnd.bluenexus+json", true},
		{"application/problem+json", true},
		{"", false},
		{"text/html", false},
		{"text/plain", false},
		{"text/json", false},
		{"application/jsonp", false},
		{"application/+json", false},
		{"application/xml", false},
		{"json", false},
	}
	for _, tc := range tests {
		t.Run(tc.ctype, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header()["Content-Type"] = []string{tc.ctype} // no sniffing
				if tc.ctype == "" {
					w.Header()["Content-Type"] = nil
				}
				w.Write([]byte(okHandoff))
			})
			c := newTestClient(t, f.URL)
			_, err := c.InitHandoff(context.Background(), testToken, testReq)
			if tc.ok != (err == nil) || !tc.ok && !errors.Is(err, ErrBadResponse) {
				t.Errorf("error %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

// TestD3_TimeBudget pins SECURITY.md D3 and the hostile input "upstream
// sleeps 60 s": the call ends within its budget, with one upstream hit.
func TestD3_TimeBudget(t *testing.T) {
	const budget = 200 * time.Millisecond
	const slack = 2 * time.Second // generous for -race on 2 cores
	tests := []struct {
		name string
		h    http.HandlerFunc
		call func(*Client) error
	}{
		{"init, no headers", waitForRequest2, func(c *Client) error {
			_, err := c.InitHandoff(context.Background(), testToken, testReq)
			return err
		}},
		{"list, no headers", waitForRequest2, func(c *Client) error {
			_, err := listPage(c, context.Background(), testToken)
			return err
		}},
		{"init, body stalls", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(200)
			w.Write([]byte(`{"code":`))
			w.(http.Flusher).Flush()
			waitForRequest(r)
		}, func(c *Client) error {
			_, err := c.InitHandoff(context.Background(), testToken, testReq)
			return err
		}},
		{"429 asking for more than the budget", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "1")
			reply(w, 429, `{}`)
		}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, tc.h)
			c := newTestClient(t, f.URL, WithTimeout(budget))
			start := time.Now()
			var err error
			if tc.call != nil {
				err = tc.call(c)
			} else {
				_, err = c.InitHandoff(context.Background(), testToken, testReq)
			}
			elapsed := time.Since(start)
			if elapsed > budget+slack {
				t.Errorf("took %v, budget %v", elapsed, budget)
			}
			if f.hits.Load() != 1 {
				t.Errorf("%d upstream hits, want 1", f.hits.Load())
			}
			if tc.call == nil {
				if !is(err, errRateLimited) {
					t.Errorf("error %v, want errRateLimited", err)
				}
				if d, ok := RetryAfter(err); !ok || d != time.Second {
					t.Errorf("RetryAfter = %v, %v", d, ok)
				}
				return
			}
			if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("error %v, want ErrTimeout and context.DeadlineExceeded", err)
			}
			if elapsed < budget {
				t.Errorf("gave up after %v, before the %v budget", elapsed, budget)
			}
		})
	}
}

func waitForRequest2(w http.ResponseWriter, r *http.Request) { waitForRequest(r) }

// TestCallerContext: the caller's cancellation (the browser left) is told
// apart from every failure: the error wraps context.Canceled and matches no
// sentinel, wherever the call was when it happened, and the breaker does
// not count it. The caller's deadline is a timeout.
func TestCallerContext(t *testing.T) {
	cancelled := func(t *testing.T, err error) {
		t.Helper()
		if !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "bluenexus: ") {
			t.Errorf("error %v, want a prefixed context.Canceled", err)
		}
		for _, s := range sentinels {
			if errors.Is(err, s) {
				t.Errorf("error %v matches %v", err, s)
			}
		}
		if _, ok := errors.AsType[*APIError](err); ok || errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error %v is an APIError or a deadline", err)
		}
	}
	t.Run("cancelled while waiting for headers", func(t *testing.T) {
		f := newFake(t, waitForRequest2)
		c := newTestClient(t, f.URL)
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		_, err := c.InitHandoff(ctx, testToken, testReq)
		cancelled(t, err)
	})
	t.Run("cancelled while reading the body", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(200)
			w.Write([]byte(`{"code":`))
			w.(http.Flusher).Flush()
			cancel()
			waitForRequest(r)
		})
		c := newTestClient(t, f.URL)
		_, err := c.InitHandoff(ctx, testToken, testReq)
		cancelled(t, err)
	})
	t.Run("cancelled during a Retry-After wait", func(t *testing.T) {
		f := newFake(t, status(429, "Retry-After", "1"))
		c := newTestClient(t, f.URL)
		ctx, cancel := context.WithCancel(context.Background())
		c.sleep = func(ctx context.Context, d time.Duration) error {
			cancel()
			return sleepCtx(ctx, d)
		}
		_, err := c.InitHandoff(ctx, testToken, testReq)
		cancelled(t, err)
		if f.hits.Load() != 1 {
			t.Errorf("%d hits, want 1", f.hits.Load())
		}
	})
	t.Run("cancelled during the dial backoff", func(t *testing.T) {
		d := &failingDialer{n: 5}
		c := newTestClient(t, "http://127.0.0.1:1", WithHTTPClient(d.client()))
		ctx, cancel := context.WithCancel(context.Background())
		c.sleep = func(ctx context.Context, d time.Duration) error {
			cancel()
			return sleepCtx(ctx, d)
		}
		_, err := c.InitHandoff(ctx, testToken, testReq)
		cancelled(t, err)
		if d.dials.Load() != 1 {
			t.Errorf("%d dials, want 1", d.dials.Load())
		}
	})
	t.Run("already cancelled: no request", func(t *testing.T) {
		f := newFake(t, waitForRequest2)
		c := newTestClient(t, f.URL, WithClientCredentials("app", "s3cret"))
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := c.InitHandoff(ctx, testToken, testReq)
		cancelled(t, err)
		_, err = c.Refresh(ctx, "rt")
		cancelled(t, err)
		for _, err := range c.AllConnections(ctx, testToken) {
			cancelled(t, err)
		}
		if f.hits.Load() != 0 {
			t.Errorf("%d hits, want 0", f.hits.Load())
		}
	})
	t.Run("cancellations never open the breaker", func(t *testing.T) {
		f := newFake(t, waitForRequest2)
		c := newTestClient(t, f.URL, WithBreaker(BreakerSettings{ConsecutiveFailures: 1}))
		for range 3 {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(20*time.Millisecond, cancel)
			_, err := c.InitHandoff(ctx, testToken, testReq)
			cancelled(t, err)
		}
		if s := c.breakerState(); s != "closed" {
			t.Errorf("breaker %s, want closed", s)
		}
	})
	t.Run("caller deadline inside the budget", func(t *testing.T) {
		f := newFake(t, waitForRequest2)
		c := newTestClient(t, f.URL)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := listPage(c, ctx, testToken)
		if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
			errors.Is(err, ErrConnection) || time.Since(start) > 3*time.Second {
			t.Errorf("error %v after %v", err, time.Since(start))
		}
	})
}

// TestD4_RetriesOnlyWhenAsked pins SECURITY.md D4 for answers: 429/503 with a
// Retry-After that fits the budget are resent, at most twice; nothing else.
func TestD4_RetriesOnlyWhenAsked(t *testing.T) {
	ok := status(200)
	ra := func(code int, v string) http.HandlerFunc { return status(code, "Retry-After", v) }
	tests := []struct {
		name     string
		method   string // "init" (default), "list", "get", "refresh"
		h        http.HandlerFunc
		wantHits int64
		wantErr  error
		waits    []time.Duration
	}{
		{name: "429 then ok", h: script(ra(429, "1"), ok), wantHits: 2, waits: []time.Duration{time.Second}},
		{name: "503 twice then ok", h: script(ra(503, "0"), ra(503, "2"), ok), wantHits: 3, waits: []time.Duration{0, 2 * time.Second}},
		{name: "429 forever: two retries", h: ra(429, "0"), wantHits: 3, wantErr: errRateLimited, waits: []time.Duration{0, 0}},
		{name: "429 with an HTTP date", h: script(ra(429, time.Now().Add(time.Hour).Format(http.TimeFormat)), ok), wantHits: 1, wantErr: errRateLimited},
		{name: "429 beyond the budget", h: script(ra(429, "10"), ok), wantHits: 1, wantErr: errRateLimited},
		{name: "429 without Retry-After", h: script(status(429), ok), wantHits: 1, wantErr: errRateLimited},
		{name: "429 bad Retry-After", h: script(ra(429, "soon"), ok), wantHits: 1, wantErr: errRateLimited},
		{name: "503 without Retry-After", h: script(status(503), ok), wantHits: 1, wantErr: errServer},
		{name: "500 with Retry-After", h: script(ra(500, "0"), ok), wantHits: 1, wantErr: errServer},
		{name: "502", h: script(status(502), ok), wantHits: 1, wantErr: errServer},
		{name: "504", h: script(status(504), ok), wantHits: 1, wantErr: errServer},
		{name: "401", h: script(ra(401, "0"), ok), wantHits: 1, wantErr: errUnauthorized},
		{name: "list 429 then ok", method: "list", h: script(ra(429, "0"), ok), wantHits: 2, waits: []time.Duration{0}},
		{name: "list 503 then ok", method: "list", h: script(ra(503, "0"), ok), wantHits: 2, waits: []time.Duration{0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodGet {
					// answer the connections API with its own shapes
					rec := &capture{ResponseWriter: w}
					tc.h(rec, r)
					return
				}
				tc.h(w, r)
			})
			c := newTestClient(t, f.URL)
			waits := recordSleeps(c)
			var err error
			ctx := context.Background()
			switch tc.method {
			case "list":
				_, err = listPage(c, ctx, testToken)
			default:
				_, err = c.InitHandoff(ctx, testToken, testReq)
			}
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !is(err, tc.wantErr) {
				t.Errorf("error %v, want %v", err, tc.wantErr)
			}
			if n := f.hits.Load(); n != tc.wantHits {
				t.Errorf("%d upstream hits, want %d", n, tc.wantHits)
			}
			if len(*waits) != len(tc.waits) {
				t.Fatalf("waited %v, want %v", *waits, tc.waits)
			}
			for i := range tc.waits {
				if (*waits)[i] != tc.waits[i] {
					t.Errorf("waited %v, want %v", *waits, tc.waits)
				}
			}
		})
	}
}

// capture rewrites a successful handoff body into a connections body, so
// the retry table can drive the connections API with the same handlers.
type capture struct {
	http.ResponseWriter
}

func (c *capture) Write(b []byte) (int, error) {
	if string(b) == okHandoff {
		b = []byte(`{"data":[]}`)
	}
	return c.ResponseWriter.Write(b)
}

// failingDialer refuses the first n dials with a dial error, then dials for
// real; it counts every dial.
type failingDialer struct {
	n     int64
	dials atomic.Int64
}

func (d *failingDialer) client() *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if d.dials.Add(1) <= d.n {
				return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.ECONNREFUSED}
			}
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}}
}

// TestD4_RetriesDialErrors pins SECURITY.md D4 for transport failures: a
// request that provably never left (dial error) is resent, at most twice.
func TestD4_RetriesDialErrors(t *testing.T) {
	tests := []struct {
		name      string
		refused   int64
		method    string
		wantDials int64
		wantHits  int64
		wantErr   error
	}{
		{"one refusal", 1, "init", 2, 1, nil},
		{"two refusals", 2, "init", 3, 1, nil},
		{"three refusals: gives up", 3, "init", 3, 0, ErrConnection},
		{"list, one refusal", 1, "list", 2, 1, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodPost {
					reply(w, 200, okHandoff)
					return
				}
				reply(w, 200, connJSON)
			})
			d := &failingDialer{n: tc.refused}
			c := newTestClient(t, f.URL, WithHTTPClient(d.client()))
			waits := recordSleeps(c)
			var err error
			switch tc.method {
			case "list":
				_, err = listPage(c, context.Background(), testToken)
			default:
				_, err = c.InitHandoff(context.Background(), testToken, testReq)
			}
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !is(err, tc.wantErr) {
				t.Errorf("error %v, want %v", err, tc.wantErr)
			}
			if d.dials.Load() != tc.wantDials || f.hits.Load() != tc.wantHits {
				t.Errorf("%d dials, %d hits; want %d, %d", d.dials.Load(), f.hits.Load(), tc.wantDials, tc.wantHits)
			}
			if want := min(tc.wantDials-1, 2); int64(len(*waits)) != want {
				t.Errorf("backoffs %v, want %d", *waits, want)
			}
			if tc.wantErr != nil {
				if _, ok := errors.AsType[*net.OpError](err); !ok {
					t.Errorf("error %v does not carry the *net.OpError", err)
				}
			}
		})
	}
}

func TestD4_RefusedPortIsAConnectionError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var dials atomic.Int64
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
			dials.Add(1)
			return (&net.Dialer{}).DialContext(ctx, network, a)
		},
	}}
	c := newTestClient(t, "http://"+addr, WithHTTPClient(hc))
	recordSleeps(c)
	_, err = c.InitHandoff(context.Background(), testToken, testReq)
	if !errors.Is(err, ErrConnection) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("error %v, want ErrConnection wrapping ECONNREFUSED", err)
	}
	if dials.Load() != 3 {
		t.Errorf("%d dials, want 3", dials.Load())
	}
}

// TestD4_NoRetryAfterTheRequestWasSent: a connection reset once the request
// was written is never resent (the code may have been minted).
func TestD4_NoRetryAfterTheRequestWasSent(t *testing.T) {
	for _, method := range []string{"init", "list"} {
		t.Run(method, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			var hits atomic.Int64
			done := make(chan struct{})
			go func() {
				defer close(done)
				for {
					conn, err := ln.Accept()
					if err != nil {
						return
					}
					if _, err := http.ReadRequest(bufio.NewReader(conn)); err == nil {
						hits.Add(1)
					}
					conn.(*net.TCPConn).SetLinger(0) // RST
					conn.Close()
				}
			}()
			defer func() { ln.Close(); <-done }()
			c := newTestClient(t, "http://"+ln.Addr().String())
			recordSleeps(c)
			if method == "init" {
				_, err = c.InitHandoff(context.Background(), testToken, testReq)
			} else {
				_, err = listPage(c, context.Background(), testToken)
			}
			if !errors.Is(err, ErrConnection) || errors.Is(err, ErrTimeout) {
				t.Errorf("error %v, want ErrConnection", err)
			}
			if hits.Load() != 1 {
				t.Errorf("%d requests received, want 1", hits.Load())
			}
		})
	}
}

// TestD3_ConnectionReuse: sequential calls share one keep-alive connection,
// error answers included.
func TestD3_ConnectionReuse(t *testing.T) {
	f := newFake(t, script(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-N") == "err" {
			reply(w, 404, `{"error":"NotFound","message":"nope","statusCode":404}`)
			return
		}
		if r.Method == http.MethodGet {
			reply(w, 200, `{"data":"not a list"}`)
			return
		}
		reply(w, 200, `{"code":"hc","expiresIn":30}`)
	}))
	c := newTestClient(t, f.URL)
	for i := range 1000 {
		if _, err := c.InitHandoff(context.Background(), testToken, testReq); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	for range 50 {
		if _, err := listPage(c, context.Background(), testToken); err == nil {
			// a bad response, read fully
			t.Fatal("want an error")
		}
	}
	if n := f.conns.Load(); n != 1 {
		t.Errorf("%d connections accepted for 1,050 calls, want 1", n)
	}
	if n := f.hits.Load(); n != 1050 {
		t.Errorf("%d hits", n)
	}
}

// timeoutErr is a transport timeout such as ResponseHeaderTimeout's.
type timeoutErr struct{}

func (timeoutErr) Error() string   { return "net/http: timeout awaiting response headers" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestTransportErrorClassification(t *testing.T) {
	c := newTestClient(t, "http://127.0.0.1:1")
	wrap := func(err error) error {
		return &url.Error{Op: "Post", URL: "http://127.0.0.1:1/api/v1/connections/secret-id", Err: err}
	}
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	dialTimeout := &net.OpError{Op: "dial", Net: "tcp", Err: timeoutErr{}}
	tests := []struct {
		name    string
		err     error
		want    error
		dial    bool
		failure bool
	}{
		{"dial refused", wrap(dial), ErrConnection, true, true},
		{"dns failure", wrap(&net.OpError{Op: "dial", Err: &net.DNSError{Err: "no such host", Name: "x"}}), ErrConnection, true, true},
		{"dial timeout is not resent", wrap(dialTimeout), ErrTimeout, false, true},
		{"header timeout", wrap(timeoutErr{}), ErrTimeout, false, true},
		{"reset after write", wrap(&net.OpError{Op: "read", Err: syscall.ECONNRESET}), ErrConnection, false, true},
		{"proxy connect", wrap(&net.OpError{Op: "proxyconnect", Err: dial}), ErrConnection, false, true},
		{"EOF", wrap(io.EOF), ErrConnection, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			dialErr, err := c.transportError(ctx, ctx, "Op", tc.err)
			if !is(err, tc.want) || dialErr != tc.dial || isFailure(err) != tc.failure {
				t.Errorf("got %v dial=%v failure=%v; want %v dial=%v failure=%v", err, dialErr, isFailure(err), tc.want, tc.dial, tc.failure)
			}
			if strings.Contains(err.Error(), "secret-id") || !strings.HasPrefix(err.Error(), "bluenexus: ") {
				t.Errorf("message %q", err)
			}
		})
	}
	t.Run("caller cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		dialErr, err := c.transportError(ctx, ctx, "Op", wrap(dial))
		if !errors.Is(err, context.Canceled) || errors.Is(err, ErrConnection) || dialErr || isFailure(err) {
			t.Errorf("got %v dial=%v", err, dialErr)
		}
	})
	t.Run("budget spent", func(t *testing.T) {
		parent := context.Background()
		ctx, cancel := context.WithTimeout(parent, 0)
		defer cancel()
		<-ctx.Done()
		dialErr, err := c.transportError(parent, ctx, "Op", wrap(dial))
		if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) || dialErr || !isFailure(err) {
			t.Errorf("got %v dial=%v", err, dialErr)
		}
	})
}

func TestClient_ConcurrentUse(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			reply(w, 200, okHandoff)
			return
		}
		reply(w, 200, `{"data":[`+connJSON+`],"pagination":{"page":1,"limit":1,"total":1,"hasMore":false}}`)
	})
	c := newTestClient(t, f.URL)
	var wg sync.WaitGroup
	errs := make(chan error, 400)
	for range 20 {
		wg.Go(func() {
			for range 10 {
				if _, err := c.InitHandoff(context.Background(), testToken, testReq); err != nil {
					errs <- err
				}
				for _, err := range c.AllConnections(context.Background(), testToken) {
					if err != nil {
						errs <- err
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if f.hits.Load() != 400 {
		t.Errorf("%d hits, want 400", f.hits.Load())
	}
}
