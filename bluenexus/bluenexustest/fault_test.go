package bluenexustest_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/handoffkit/handoffkit/bluenexus/bluenexustest"
	"github.com/handoffkit/handoffkit/internal/bnwire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestFaults plays each fault type once on handoff init and checks that the
// next call behaves normally again.
func TestFaults(t *testing.T) {
	tests := []struct {
		name  string
		fault bluenexustest.Fault
		check func(t *testing.T, resp *http.Response, body []byte, err error)
	}{
		{"status 503", bluenexustest.Status(503), func(t *testing.T, resp *http.Response, body []byte, err error) {
			wantErrorBody(t, resp, body, err, 503, "ServiceUnavailableError", "Service unavailable")
			if resp.Header.Get("Retry-After") != "" {
				t.Errorf("Retry-After set without RetryAfter")
			}
		}},
		{"status 500", bluenexustest.Status(500), func(t *testing.T, resp *http.Response, body []byte, err error) {
			wantErrorBody(t, resp, body, err, 500, "InternalServerError", "Internal server error")
		}},
		{"status 403", bluenexustest.Status(403), func(t *testing.T, resp *http.Response, body []byte, err error) {
			wantErrorBody(t, resp, body, err, 403, "ForbiddenError", "Forbidden resource")
		}},
		{"status 418 gets a derived name", bluenexustest.Status(418), func(t *testing.T, resp *http.Response, body []byte, err error) {
			wantErrorBody(t, resp, body, err, 418, "I'mateapotError", "I'm a teapot")
		}},
		{"429 with Retry-After rounded up", bluenexustest.RetryAfter(429, 1500*time.Millisecond), func(t *testing.T, resp *http.Response, body []byte, err error) {
			wantErrorBody(t, resp, body, err, 429, "TooManyRequestsError", "Rate limit exceeded")
			if got := resp.Header.Get("Retry-After"); got != "2" {
				t.Errorf("Retry-After = %q, want 2", got)
			}
		}},
		{"client criteria message", bluenexustest.Fault{Status: 403, Message: bnwire.ClientCriteriaMessage}, func(t *testing.T, resp *http.Response, body []byte, err error) {
			wantErrorBody(t, resp, body, err, 403, "ForbiddenError", bnwire.ClientCriteriaMessage)
		}},
		{"malformed JSON", bluenexustest.MalformedJSON(), func(t *testing.T, resp *http.Response, body []byte, err error) {
			if err != nil || resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Fatalf("%v %v", resp, err)
			}
			var v any
			if json.Unmarshal(body, &v) == nil {
				t.Errorf("body %q is valid JSON", body)
			}
		}},
		{"oversized body", bluenexustest.OversizedBody(1 << 20), func(t *testing.T, resp *http.Response, body []byte, err error) {
			var v map[string]string
			if err != nil || resp.StatusCode != 200 || len(body) != 1<<20 || json.Unmarshal(body, &v) != nil {
				t.Errorf("status %v, %d bytes, err %v", resp.StatusCode, len(body), err)
			}
		}},
		{"wrong content type", bluenexustest.WrongContentType(), func(t *testing.T, resp *http.Response, body []byte, err error) {
			if err != nil || resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
				t.Errorf("%v %v", resp, err)
			}
		}},
		{"redirect", bluenexustest.RedirectTo("https://evil.example/steal"), func(t *testing.T, resp *http.Response, body []byte, err error) {
			if err != nil || resp.StatusCode != 307 || resp.Header.Get("Location") != "https://evil.example/steal" {
				t.Errorf("%v %v", resp, err)
			}
		}},
		{"redirect with status", bluenexustest.Fault{Redirect: "https://evil.example/", Status: 302}, func(t *testing.T, resp *http.Response, body []byte, err error) {
			if err != nil || resp.StatusCode != 302 {
				t.Errorf("%v %v", resp, err)
			}
		}},
		{"reset after read", bluenexustest.ResetAfterRead(), func(t *testing.T, resp *http.Response, body []byte, err error) {
			if err == nil {
				t.Errorf("got a response %v, want a transport error", resp.Status)
			}
		}},
		{"latency then normal", bluenexustest.Latency(30 * time.Millisecond), func(t *testing.T, resp *http.Response, body []byte, err error) {
			if err != nil || resp.StatusCode != 200 || !strings.Contains(string(body), `"code"`) {
				t.Errorf("%v %v %s", resp, err, body)
			}
		}},
		{"latency then status", bluenexustest.Fault{Latency: 30 * time.Millisecond, Status: 502}, func(t *testing.T, resp *http.Response, body []byte, err error) {
			wantErrorBody(t, resp, body, err, 502, "BadGatewayError", "Bad Gateway")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t)
			token := s.AddUser("alice")
			s.Inject(bluenexustest.PathHandoffInit, tc.fault)
			c := apiClient(t)
			start := time.Now()
			resp, err := c.Do(initRequest(t, s, token, initBody("https://app.example/r")))
			var body []byte
			if err == nil {
				body, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			if tc.fault.Latency > 0 && time.Since(start) < tc.fault.Latency {
				t.Errorf("answered after %v, before the %v latency", time.Since(start), tc.fault.Latency)
			}
			tc.check(t, resp, body, err)
			// The queue is used up: the next call is normal.
			if r := do(t, c, initRequest(t, s, token, initBody("https://app.example/r"))); r.status != http.StatusOK {
				t.Errorf("after the fault: %d %s", r.status, r.body)
			}
			if got := s.Hits(bluenexustest.PathHandoffInit); got != 2 {
				t.Errorf("Hits = %d, want 2 (faulted requests count)", got)
			}
		})
	}
}

func wantErrorBody(t *testing.T, resp *http.Response, body []byte, err error, status int, name, msg string) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	var eb bnwire.ErrorBody
	if resp.StatusCode != status || json.Unmarshal(body, &eb) != nil {
		t.Fatalf("status %d body %s, want %d", resp.StatusCode, body, status)
	}
	if eb.Error != name || eb.Message != msg || eb.StatusCode != status {
		t.Errorf("body %+v, want %s %q %d", eb, name, msg, status)
	}
}

// TestFaultQueue pins "fail twice, then succeed", sticky faults behind the
// queue, ClearFaults, and that faults apply only to their path.
func TestFaultQueue(t *testing.T) {
	s := newServer(t)
	token := s.AddUser("alice")
	c := apiClient(t)
	call := func() int {
		return do(t, c, initRequest(t, s, token, initBody("https://app.example/r"))).status
	}
	listStatus := func() int {
		return apiCall(t, s, http.MethodGet, bluenexustest.PathConnections, token).status
	}

	s.Inject(bluenexustest.PathHandoffInit, bluenexustest.Status(503), bluenexustest.Status(503))
	s.Inject(bluenexustest.PathHandoffInit, bluenexustest.Status(429))
	for i, want := range []int{503, 503, 429, 200, 200} {
		if got := call(); got != want {
			t.Fatalf("call %d: %d, want %d", i, got, want)
		}
	}
	if got := listStatus(); got != 200 {
		t.Errorf("other path faulted: %d", got)
	}

	s.Inject(bluenexustest.PathConnections, bluenexustest.Status(500))
	s.InjectAlways(bluenexustest.PathConnections, bluenexustest.Status(502))
	for i, want := range []int{500, 502, 502} {
		if got := listStatus(); got != want {
			t.Fatalf("list %d: %d, want %d", i, got, want)
		}
	}
	s.ClearFaults()
	if got := listStatus(); got != 200 {
		t.Errorf("after ClearFaults: %d", got)
	}
	if got := s.Hits(bluenexustest.PathConnections); got != 5 {
		t.Errorf("Hits(connections) = %d, want 5", got)
	}
}

// TestLatencyRespectsRequestContext: a client that gives up ends the
// injected wait, and Close leaves no goroutine behind.
func TestLatencyRespectsRequestContext(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	defer goleak.VerifyNone(t, ignore)
	s := bluenexustest.NewServer()
	defer s.Close()
	token := s.AddUser("alice")
	s.Inject(bluenexustest.PathHandoffInit, bluenexustest.Latency(time.Hour))
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req := initRequest(t, s, token, initBody("https://app.example/r")).WithContext(ctx)
	start := time.Now()
	_, err := (&http.Client{Transport: tr}).Do(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	// Before Close, only the accept loop may remain: the handler returned.
	if err := goleak.Find(ignore, goleak.IgnoreAnyFunction("net/http.(*Server).Serve")); err != nil {
		t.Errorf("the latency fault outlived its request: %v", err)
	}
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return: the latency fault outlived its request")
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("took %v", time.Since(start))
	}
}

// TestCloseEndsLatency: Close ends a wait whose client is still waiting.
func TestCloseEndsLatency(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s := bluenexustest.NewServer()
	defer s.Close()
	token := s.AddUser("alice")
	s.InjectAlways(bluenexustest.PathHandoffInit, bluenexustest.Latency(time.Hour))
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	errc := make(chan error, 1)
	req := initRequest(t, s, token, initBody("https://app.example/r"))
	go func() {
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	waitForHit(t, s, bluenexustest.PathHandoffInit)
	s.Close()
	select {
	case <-errc:
	case <-time.After(5 * time.Second):
		t.Fatal("request still waiting after Close")
	}
}

// TestShutdownGraceful: Shutdown answers a waiting faulted request with 503
// and returns.
func TestShutdownGraceful(t *testing.T) {
	s := newServer(t)
	token := s.AddUser("alice")
	s.Inject(bluenexustest.PathHandoffInit, bluenexustest.Latency(time.Hour))
	c := apiClient(t)
	got := make(chan int, 1)
	req := initRequest(t, s, token, initBody("https://app.example/r"))
	go func() {
		resp, err := c.Do(req)
		if err != nil {
			got <- 0
			return
		}
		resp.Body.Close()
		got <- resp.StatusCode
	}()
	waitForHit(t, s, bluenexustest.PathHandoffInit)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if status := <-got; status != http.StatusServiceUnavailable {
		t.Errorf("waiting request got %d, want 503", status)
	}
	s.Close() // safe after Shutdown, and again in cleanup
}

// TestFaultString describes faults for failure messages.
func TestFaultString(t *testing.T) {
	tests := map[string]bluenexustest.Fault{
		"no fault":                   {},
		"503":                        bluenexustest.Status(503),
		"429 retry after 2s":         bluenexustest.RetryAfter(429, 2*time.Second),
		"latency 1s then reset":      {Latency: time.Second, Reset: true},
		"oversized body 100 bytes":   bluenexustest.OversizedBody(100),
		"redirect https://x.example": bluenexustest.RedirectTo("https://x.example"),
		"malformed JSON":             bluenexustest.MalformedJSON(),
		"wrong content type":         bluenexustest.WrongContentType(),
	}
	for want, f := range tests {
		if got := f.String(); got != want {
			t.Errorf("String() = %q, want %q", got, want)
		}
	}
}

// waitForHit waits (bounded) until a request has reached path: a readiness
// wait, not time logic.
func waitForHit(t *testing.T, s *bluenexustest.Server, path string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for s.Hits(path) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no request reached %s", path)
		}
		time.Sleep(time.Millisecond)
	}
}
