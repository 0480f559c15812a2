package middleware

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

type strategyFunc func(*http.Request) (netip.Addr, error)

func (f strategyFunc) ClientIP(r *http.Request) (netip.Addr, error) { return f(r) }

// TestA7_NeverRewritesRequest pins that ClientIP derives the request and
// leaves RemoteAddr, Host, URL, TLS and headers alone.
func TestA7_NeverRewritesRequest(t *testing.T) {
	s := must(t)(NewXFFTrustedRangesStrategy("10.0.0.0/8"))
	r := httptest.NewRequest(http.MethodGet, "http://app.example/p?q=1", nil)
	r.RemoteAddr = "10.0.0.5:1234"
	r.Header.Add("X-Forwarded-For", "203.0.113.7, 10.0.0.1")
	r.Header.Add("X-Forwarded-Host", "evil.example")
	r.Header.Add("X-Forwarded-Proto", "https")
	before := r.Header.Clone()
	origCtx := r.Context()

	var seen *http.Request
	ClientIP(s)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r })).ServeHTTP(httptest.NewRecorder(), r)

	if seen == r {
		t.Fatal("next got the caller's request, not a derived one")
	}
	if r.Context() != origCtx {
		t.Fatal("caller's request context replaced")
	}
	if _, ok := GetClientIP(r.Context()); ok {
		t.Fatal("result leaked into the caller's context")
	}
	for _, req := range []*http.Request{r, seen} {
		if req.RemoteAddr != "10.0.0.5:1234" || req.Host != "app.example" || req.URL.String() != "http://app.example/p?q=1" || req.TLS != nil {
			t.Errorf("request rewritten: %q %q %v %v", req.RemoteAddr, req.Host, req.URL, req.TLS)
		}
		if !reflect.DeepEqual(req.Header, before) {
			t.Errorf("headers changed: %v", req.Header)
		}
	}
}

// TestA6_NoIPIsAnErrorNotAFallback pins that a failed derivation reaches
// next as an absence plus a reason, never an address.
func TestA6_NoIPIsAnErrorNotAFallback(t *testing.T) {
	s := must(t)(NewXFFTrustedRangesStrategy("10.0.0.0/8"))
	got, err := serve(t, s, request("10.0.0.5:1", xff("203.0.113.7, garbage, 10.0.0.1")...))
	check(t, got, err, "", errInvalidEntry)
	if msg := err.Error(); strings.Contains(msg, "garbage") || strings.Contains(msg, "203.0.113.7") || !strings.Contains(msg, "X-Forwarded-For") {
		t.Errorf("error text %q must name the header and no header value", msg)
	}
}

func TestClientIPError_NotMounted(t *testing.T) {
	ctx := context.Background()
	if _, ok := GetClientIP(ctx); ok {
		t.Fatal("GetClientIP ok without the middleware")
	}
	if err := ClientIPError(ctx); !errors.Is(err, errNotMounted) || !errors.Is(err, ErrNoClientIP) {
		t.Fatalf("ClientIPError = %v, want errNotMounted", err)
	}
}

// TestClientIP_ContextBehaves pins that the custom context type forwards
// values, deadlines and cancellation, and survives derivation.
func TestClientIP_ContextBehaves(t *testing.T) {
	type parentKey struct{}
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), parentKey{}, "v"))
	r := request("203.0.113.9:1").WithContext(parent)
	ClientIP(RemoteAddrStrategy())(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if ctx.Value(parentKey{}) != "v" {
			t.Error("parent value lost")
		}
		child, stop := context.WithCancel(ctx)
		defer stop()
		if ip, ok := GetClientIP(child); !ok || ip.String() != "203.0.113.9" {
			t.Errorf("derived context: %v %v", ip, ok)
		}
		cancel()
		<-child.Done() // the parent's cancellation reaches contexts derived from ours
		if !errors.Is(child.Err(), context.Canceled) {
			t.Errorf("child.Err() = %v", child.Err())
		}
	})).ServeHTTP(httptest.NewRecorder(), r)
}

// TestA5_CustomStrategyResultNormalised pins that ClientIP normalises and
// classifies what a third-party Strategy returns.
func TestA5_CustomStrategyResultNormalised(t *testing.T) {
	errCustom := errors.New("custom failure")
	cases := []struct {
		name    string
		ip      netip.Addr
		err     error
		want    string
		wantErr error
	}{
		{"mapped_unmapped", netip.MustParseAddr("::ffff:192.0.2.1"), nil, "192.0.2.1", nil},
		{"zone_dropped", netip.MustParseAddr("fe80::1%eth0"), nil, "fe80::1", nil},
		{"zero_addr_is_no_ip", netip.Addr{}, nil, "", ErrNoClientIP},
		{"unspecified_is_no_ip", netip.IPv6Unspecified(), nil, "", ErrNoClientIP},
		{"foreign_error_wrapped", netip.Addr{}, errCustom, "", errCustom},
		{"address_with_error_dropped", netip.MustParseAddr("192.0.2.1"), errAllTrusted, "", errAllTrusted},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := strategyFunc(func(*http.Request) (netip.Addr, error) { return tc.ip, tc.err })
			got, err := serve(t, s, request("203.0.113.9:1"))
			check(t, got, err, tc.want, tc.wantErr)
		})
	}
}

// TestClientIP_NilStrategy pins that a nil Strategy fails closed: every
// request has no client IP, with a reason that says so.
func TestClientIP_NilStrategy(t *testing.T) {
	got, err := serve(t, nil, request("203.0.113.9:1"))
	check(t, got, err, "", errNilStrategy)
}

// nopWriter is a ResponseWriter that allocates nothing.
type nopWriter struct{ h http.Header }

func (w nopWriter) Header() http.Header       { return w.h }
func (nopWriter) Write(p []byte) (int, error) { return len(p), nil }
func (nopWriter) WriteHeader(int)             {}

// TestAllocs_ClientIPMiddleware pins the allocation budget: the built-in
// strategies allocate nothing on success, and the middleware adds exactly
// the derived request and its context.
func TestAllocs_ClientIPMiddleware(t *testing.T) {
	strategies := map[string]struct {
		s Strategy
		r *http.Request
	}{
		"remote_addr": {RemoteAddrStrategy(), request("203.0.113.9:1")},
		"x-real-ip":   {must(t)(NewSingleIPHeaderStrategy("X-Real-IP", "10.0.0.0/8")), request("10.0.0.5:1", [2]string{"X-Real-IP", "203.0.113.7"})},
		"xff_ranges":  {must(t)(NewXFFTrustedRangesStrategy("10.0.0.0/8", "fd00::/8")), request("10.0.0.5:1", xff("198.51.100.1, 2001:db8::7, fd00::1, 10.0.0.1")...)},
	}
	for name, c := range strategies {
		t.Run(name, func(t *testing.T) {
			if _, err := c.s.ClientIP(c.r); err != nil {
				t.Fatal(err)
			}
			if n := testing.AllocsPerRun(200, func() { _, _ = c.s.ClientIP(c.r) }); n != 0 {
				t.Errorf("strategy: %v allocs/op, want 0", n)
			}
			h := ClientIP(c.s)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
			w := nopWriter{h: http.Header{}}
			// The derived request, the context value and its result: what
			// r.WithContext(context.WithValue(...)) costs, nothing per header.
			if n := testing.AllocsPerRun(200, func() { h.ServeHTTP(w, c.r) }); n > 3 {
				t.Errorf("middleware: %v allocs/op, want <= 3", n)
			}
		})
	}
	t.Run("failure_paths", func(t *testing.T) {
		s := must(t)(NewXFFTrustedRangesStrategy("10.0.0.0/8"))
		for _, r := range []*http.Request{
			request("198.51.100.9:1", xff("203.0.113.7")...),
			request("10.0.0.5:1"),
			request("10.0.0.5:1", xff("10.0.0.1, 10.0.0.2")...),
		} {
			if n := testing.AllocsPerRun(100, func() { _, _ = s.ClientIP(r) }); n != 0 {
				t.Errorf("failure path: %v allocs/op, want 0", n)
			}
		}
	})
}
