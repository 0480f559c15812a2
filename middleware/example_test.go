package middleware_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/rs/zerolog"
	"github.com/rs/zerolog/hlog"

	"github.com/handoffkit/handoffkit/middleware"
)

// whoami reports the client IP the middleware found, or why there is none.
func whoami(w http.ResponseWriter, r *http.Request) {
	ip, ok := middleware.GetClientIP(r.Context())
	if !ok {
		err := middleware.ClientIPError(r.Context()) // wraps middleware.ErrNoClientIP; the message says why
		fmt.Println("no client IP:", err)
		return
	}
	fmt.Println("client IP:", ip)
}

// send serves one request from peer with the given X-Forwarded-For.
func send(h http.Handler, peer, xff string) {
	r := httptest.NewRequest(http.MethodGet, "/whoami", nil)
	r.RemoteAddr = peer
	if xff != "" {
		r.Header.Set("X-Forwarded-For", xff)
	}
	h.ServeHTTP(httptest.NewRecorder(), r)
}

// Mounting ClientIP on the standard library's ServeMux, behind proxies in
// 10.0.0.0/8.
func ExampleClientIP() {
	strategy, err := middleware.NewXFFTrustedRangesStrategy("10.0.0.0/8")
	if err != nil {
		log.Fatal(err) // a bad range stops start-up
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /whoami", whoami)
	handler := middleware.ClientIP(strategy)(mux)

	send(handler, "10.0.0.5:41000", "198.51.100.1, 203.0.113.7, 10.0.0.1") // spoofed leftmost entry
	send(handler, "10.0.0.5:41000", "::ffff:10.0.0.9, 10.0.0.1")           // only proxies
	send(handler, "203.0.113.99:5000", "127.0.0.1")                        // bypassed the proxy
	// Output:
	// client IP: 203.0.113.7
	// no client IP: middleware: no client IP: every entry is a trusted proxy (X-Forwarded-For)
	// no client IP: middleware: no client IP: TCP peer is not a trusted proxy, header ignored (X-Forwarded-For)
}

// Mounting ClientIP on a chi router with r.Use.
func ExampleClientIP_chi() {
	strategy, err := middleware.NewXFFTrustedRangesStrategy("10.0.0.0/8", "fd00::/8")
	if err != nil {
		log.Fatal(err)
	}
	r := chi.NewRouter()
	r.Use(middleware.ClientIP(strategy))
	r.Get("/whoami", whoami)

	send(r, "[fd00::5]:41000", "2001:db8::7, fd00::1")
	send(r, "10.0.0.5:41000", "203.0.113.7, garbage, 10.0.0.1")
	// Output:
	// client IP: 2001:db8::7
	// no client IP: middleware: no client IP: malformed entry (X-Forwarded-For)
}

// A server directly on the internet: the TCP peer, headers ignored.
func ExampleRemoteAddrStrategy() {
	handler := middleware.ClientIP(middleware.RemoteAddrStrategy())(http.HandlerFunc(whoami))
	send(handler, "[::ffff:203.0.113.9]:5555", "127.0.0.1")
	// Output:
	// client IP: 203.0.113.9
}

// Cloudflare in front: CF-Connecting-IP, accepted only from Cloudflare's
// ranges (https://www.cloudflare.com/ips/, abbreviated here).
func ExampleNewSingleIPHeaderStrategy() {
	strategy, err := middleware.NewSingleIPHeaderStrategy("CF-Connecting-IP",
		"173.245.48.0/20", "103.21.244.0/22", "2400:cb00::/32")
	if err != nil {
		log.Fatal(err)
	}
	handler := middleware.ClientIP(strategy)(http.HandlerFunc(whoami))

	r := httptest.NewRequest(http.MethodGet, "/whoami", nil)
	r.RemoteAddr = "173.245.48.7:443"
	r.Header.Set("CF-Connecting-IP", "2001:db8::42")
	handler.ServeHTTP(httptest.NewRecorder(), r)
	// Output:
	// client IP: 2001:db8::42
}

// Construction errors name the constructor and the parameter.
func ExampleNewXFFTrustedRangesStrategy_invalid() {
	_, err := middleware.NewXFFTrustedRangesStrategy("10.0.0.0/8", "10.0.0.300/8")
	fmt.Println(err)
	fmt.Println(errors.Is(err, middleware.ErrInvalidConfig))
	// Output:
	// middleware: invalid configuration: NewXFFTrustedRangesStrategy: trusted[1] "10.0.0.300/8": not a CIDR prefix or IP address
	// true
}

// An access log with zerolog's hlog.AccessHandler that records the path
// only: the state in the query string and the cookies stay out of the logs.
func Example_accessLog() {
	var buf bytes.Buffer
	accessLog := hlog.AccessHandler(func(r *http.Request, status, size int, d time.Duration) {
		hlog.FromRequest(r).Info().Str("method", r.Method).Str("path", r.URL.Path).
			Int("status", status).Float64("latency_ms", float64(d)/float64(time.Millisecond)).Msg("request")
	})
	handler := hlog.NewHandler(zerolog.New(&buf))(accessLog(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/connections", http.StatusSeeOther)
	})))
	r := httptest.NewRequest(http.MethodGet, "/connections/return?state=s3cr3t", nil)
	r.Header.Set("Cookie", "__Host-handoffkit-flow=s3cr3t")
	handler.ServeHTTP(httptest.NewRecorder(), r)

	var event map[string]any
	if err := json.Unmarshal(buf.Bytes(), &event); err != nil {
		log.Fatal(err)
	}
	fmt.Println(event["method"], event["path"], event["status"], bytes.Contains(buf.Bytes(), []byte("s3cr3t")))
	// Output:
	// GET /connections/return 303 false
}
