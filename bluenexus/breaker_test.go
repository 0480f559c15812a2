package bluenexus

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

// upstream is an in-memory BlueNexus for breaker tests: it answers with
// what next returns and counts round trips. Being in memory, it runs inside
// a synctest bubble, whose fake clock also drives gobreaker's time.Now.
type upstream struct {
	mu   sync.Mutex
	hits int
	next func(*http.Request) (*http.Response, error)
}

func (u *upstream) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	u.mu.Lock()
	u.hits++
	next := u.next
	u.mu.Unlock()
	return next(r)
}

func (u *upstream) set(next func(*http.Request) (*http.Response, error)) {
	u.mu.Lock()
	u.next = next
	u.mu.Unlock()
}

func (u *upstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.hits
}

func answer(status int, body string) func(*http.Request) (*http.Response, error) {
	return func(r *http.Request) (*http.Response, error) { return jsonResponse(r, status, body), nil }
}

var (
	answerOK    = answer(200, okHandoff)
	answer500   = answer(500, `{"error":"InternalServerError","message":"boom","statusCode":500}`)
	answerReset = func(*http.Request) (*http.Response, error) {
		return nil, &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	}
	answerHang = func(r *http.Request) (*http.Response, error) {
		<-r.Context().Done()
		return nil, r.Context().Err()
	}
)

// breakerClient builds a client on an in-memory upstream and records state
// changes (through BreakerSettings.OnStateChange, which a later WithBreaker
// in opts replaces).
func breakerClient(t *testing.T, u *upstream, opts ...Option) (*Client, func() []string) {
	t.Helper()
	var mu sync.Mutex
	var changes []string
	opts = append([]Option{
		WithHTTPClient(&http.Client{Transport: u}),
		WithBreaker(BreakerSettings{OnStateChange: func(from, to string) {
			mu.Lock()
			changes = append(changes, from+"->"+to)
			mu.Unlock()
		}}),
	}, opts...)
	c := newTestClient(t, "https://bluenexus.test", opts...)
	return c, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), changes...)
	}
}

func initCall(c *Client) error {
	_, err := c.InitHandoff(context.Background(), testToken, testReq)
	return err
}

// TestD5_BreakerOpensOnFailures pins SECURITY.md D5: after five consecutive
// failures (timeouts, 5xx, transport errors) calls fail fast with no request.
func TestD5_BreakerOpensOnFailures(t *testing.T) {
	tests := []struct {
		name    string
		fail    func(*http.Request) (*http.Response, error)
		wantErr error
	}{
		{"5xx", answer500, errServer},
		{"503 without Retry-After", answer(503, `{}`), errServer},
		{"transport error", answerReset, ErrConnection},
		{"timeout", answerHang, ErrTimeout},
		{"5xx with a non-JSON body", answer(502, `<html>`), errServer},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				u := &upstream{next: tc.fail}
				c, changes := breakerClient(t, u)
				for i := range 5 {
					if err := initCall(c); !is(err, tc.wantErr) {
						t.Fatalf("call %d: %v, want %v", i, err, tc.wantErr)
					}
				}
				if got := c.breakerState(); got != "open" {
					t.Fatalf("state %s after 5 failures", got)
				}
				u.set(answerOK)
				err := initCall(c)
				if !errors.Is(err, ErrCircuitOpen) {
					t.Fatalf("error %v, want ErrCircuitOpen", err)
				}
				if u.count() != 5 {
					t.Errorf("%d upstream hits, want 5 (none while open)", u.count())
				}
				if d, ok := RetryAfter(err); !ok || d != 30*time.Second {
					t.Errorf("RetryAfter = %v, %v; want 30s", d, ok)
				}
				time.Sleep(12 * time.Second)
				_, err = listPage(c, context.Background(), testToken)
				if d, ok := RetryAfter(err); !errors.Is(err, ErrCircuitOpen) || !ok || d != 18*time.Second {
					t.Errorf("after 12 s: %v, RetryAfter %v %v; want 18s", err, d, ok)
				}
				if got := strings.Join(changes(), ","); got != "closed->open" {
					t.Errorf("state changes %s", got)
				}
			})
		})
	}
}

// TestD5_BreakerIgnoresAnswersAndCancellation: 4xx, bad bodies and the
// caller's cancellation never open the breaker.
func TestD5_BreakerIgnoresAnswersAndCancellation(t *testing.T) {
	tests := []struct {
		name string
		fail func(*http.Request) (*http.Response, error)
		ctx  func() context.Context
	}{
		{"400", answer(400, `{}`), nil},
		{"401", answer(401, `{}`), nil},
		{"403", answer(403, `{}`), nil},
		{"404", answer(404, `{}`), nil},
		{"429 without Retry-After", answer(429, `{}`), nil},
		{"malformed 200", answer(200, `{`), nil},
		{"caller cancels", answerHang, func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(time.Second, cancel)
			return ctx
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				u := &upstream{next: tc.fail}
				c, changes := breakerClient(t, u)
				for range 10 {
					ctx := context.Background()
					if tc.ctx != nil {
						ctx = tc.ctx()
					}
					if _, err := c.InitHandoff(ctx, testToken, testReq); err == nil || errors.Is(err, ErrCircuitOpen) {
						t.Fatalf("error %v", err)
					}
				}
				if u.count() != 10 || c.breakerState() != "closed" || len(changes()) != 0 {
					t.Errorf("%d hits, state %s, changes %v", u.count(), c.breakerState(), changes())
				}
			})
		})
	}
}

func TestD5_BreakerCountsConsecutiveFailuresOnly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := &upstream{next: answer500}
		c, _ := breakerClient(t, u)
		for range 4 {
			initCall(c)
		}
		u.set(answer(404, `{}`)) // BlueNexus answered: resets the run
		initCall(c)
		u.set(answer500)
		for range 4 {
			initCall(c)
		}
		if c.breakerState() != "closed" {
			t.Fatalf("state %s after 4+4 failures split by a 404", c.breakerState())
		}
		initCall(c)
		if c.breakerState() != "open" {
			t.Fatalf("state %s after 5 consecutive failures", c.breakerState())
		}
	})
}

func TestD5_BreakerHalfOpensAndCloses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := &upstream{next: answer500}
		c, changes := breakerClient(t, u)
		for range 5 {
			initCall(c)
		}
		time.Sleep(30*time.Second - time.Nanosecond)
		if err := initCall(c); !errors.Is(err, ErrCircuitOpen) {
			t.Fatalf("just before the open timeout: %v", err)
		}
		time.Sleep(time.Nanosecond + 1)
		if s := c.breakerState(); s != "half-open" {
			t.Fatalf("state %s after the open timeout", s)
		}
		u.set(answerOK)
		if err := initCall(c); err != nil {
			t.Fatalf("probe: %v", err)
		}
		if s := c.breakerState(); s != "closed" || u.count() != 6 {
			t.Errorf("state %s, %d hits", s, u.count())
		}
		want := "closed->open,open->half-open,half-open->closed"
		if got := strings.Join(changes(), ","); got != want {
			t.Errorf("changes %s, want %s", got, want)
		}
	})
}

func TestD5_BreakerReopensWhenTheProbeFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := &upstream{next: answer500}
		c, changes := breakerClient(t, u)
		for range 5 {
			initCall(c)
		}
		time.Sleep(31 * time.Second)
		if err := initCall(c); !is(err, errServer) {
			t.Fatalf("probe: %v", err)
		}
		err := initCall(c)
		if d, ok := RetryAfter(err); !errors.Is(err, ErrCircuitOpen) || d != 30*time.Second || !ok {
			t.Errorf("after a failed probe: %v, RetryAfter %v", err, d)
		}
		want := "closed->open,open->half-open,half-open->open"
		if got := strings.Join(changes(), ","); got != want || u.count() != 6 {
			t.Errorf("changes %s, %d hits", got, u.count())
		}
	})
}

func TestD5_BreakerHalfOpenLetsOneProbeThrough(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := &upstream{next: answer500}
		c, _ := breakerClient(t, u)
		for range 5 {
			initCall(c)
		}
		time.Sleep(30*time.Second + 1) // gobreaker half-opens strictly after the timeout
		release := make(chan struct{})
		u.set(func(r *http.Request) (*http.Response, error) {
			<-release
			return jsonResponse(r, 200, okHandoff), nil
		})
		probe := make(chan error, 1)
		go func() { probe <- initCall(c) }()
		synctest.Wait() // the probe is inside the upstream
		err := initCall(c)
		if d, ok := RetryAfter(err); !errors.Is(err, ErrCircuitOpen) || !ok || d != c.timeout {
			t.Errorf("second call while probing: %v, RetryAfter %v", err, d)
		}
		close(release)
		if err := <-probe; err != nil {
			t.Errorf("probe: %v", err)
		}
		if u.count() != 6 || c.breakerState() != "closed" {
			t.Errorf("%d hits, state %s", u.count(), c.breakerState())
		}
	})
}

func TestD5_BreakerSettings(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := &upstream{next: answer500}
		c, _ := breakerClient(t, u, WithBreaker(BreakerSettings{ConsecutiveFailures: 2, OpenTimeout: time.Second, HalfOpenMaxRequests: 2}))
		initCall(c)
		initCall(c)
		if err := initCall(c); !errors.Is(err, ErrCircuitOpen) {
			t.Fatalf("third call: %v", err)
		}
		time.Sleep(time.Second + 1)
		u.set(answerOK)
		initCall(c)
		if s := c.breakerState(); s != "half-open" {
			t.Errorf("state %s after one of two probes", s)
		}
		initCall(c)
		if s := c.breakerState(); s != "closed" || u.count() != 4 {
			t.Errorf("state %s, %d hits", s, u.count())
		}
	})
}

func TestD5_WithoutBreakerEveryCallIsSent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := &upstream{next: answer500}
		c, changes := breakerClient(t, u, WithoutBreaker())
		for range 20 {
			if err := initCall(c); !is(err, errServer) {
				t.Fatal(err)
			}
		}
		if u.count() != 20 || len(changes()) != 0 {
			t.Errorf("%d hits, changes %v", u.count(), changes())
		}
	})
}

// TestD5_BreakerOverTheNetwork runs the default breaker against a real
// server: five 500s, then fail fast with zero further hits.
func TestD5_BreakerOverTheNetwork(t *testing.T) {
	f := newFake(t, status(500))
	c := newTestClient(t, f.URL)
	for range 5 {
		if err := initCall(c); !is(err, errServer) {
			t.Fatal(err)
		}
	}
	for range 3 {
		if err := initCall(c); !errors.Is(err, ErrCircuitOpen) {
			t.Fatalf("error %v, want ErrCircuitOpen", err)
		}
	}
	if f.hits.Load() != 5 {
		t.Errorf("%d hits, want 5", f.hits.Load())
	}
}
