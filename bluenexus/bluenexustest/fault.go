package bluenexustest

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Fault is one scripted misbehaviour for one request. Fields combine: the
// server first waits Latency, then plays the first of Reset, Redirect,
// Malformed, Oversize, WrongContentType and Status that is set. A Fault with
// only Latency then answers normally. The zero Fault answers normally.
type Fault struct {
	// Latency delays the answer. The wait ends early when the client gives
	// up (the request context ends) or the server closes.
	Latency time.Duration
	// Status answers with this status and the documented error body
	// {"error", "message", "statusCode"}. A 401 under /api/ carries the
	// WWW-Authenticate challenge BlueNexus's would.
	Status int
	// Message replaces the error body's default message for Status, for
	// example "Unable to determine client criterias for secure handoff".
	Message string
	// RetryAfter adds a Retry-After header (whole seconds, rounded up) to
	// the Status answer.
	RetryAfter time.Duration
	// Malformed answers 200 with a JSON content type and a truncated JSON body.
	Malformed bool
	// Oversize answers 200 with a valid JSON body of this many bytes.
	Oversize int
	// WrongContentType answers 200 with an HTML body.
	WrongContentType bool
	// Reset reads the request, then closes the connection without answering.
	Reset bool
	// Redirect answers with a redirect to this URL: status 307, or Status
	// when that is a 3xx.
	Redirect string
}

// Latency delays the request by d, then answers normally.
func Latency(d time.Duration) Fault { return Fault{Latency: d} }

// Status answers with code and the documented error body for it, such as
// {"error": "ServiceUnavailableError", "message": "Service unavailable", "statusCode": 503}.
func Status(code int) Fault { return Fault{Status: code} }

// RetryAfter answers with code, the documented error body, and a
// Retry-After header of d.
func RetryAfter(code int, d time.Duration) Fault { return Fault{Status: code, RetryAfter: d} }

// MalformedJSON answers 200 with a JSON content type and a body that is not
// valid JSON.
func MalformedJSON() Fault { return Fault{Malformed: true} }

// OversizedBody answers 200 with a valid JSON document of n bytes (at least
// 16), to test a client's response size cap.
func OversizedBody(n int) Fault { return Fault{Oversize: n} }

// WrongContentType answers 200 with a text/html body, like a proxy's error page.
func WrongContentType() Fault { return Fault{WrongContentType: true} }

// ResetAfterRead reads the request and closes the connection without a response.
func ResetAfterRead() Fault { return Fault{Reset: true} }

// RedirectTo answers with a 307 redirect to url.
func RedirectTo(url string) Fault { return Fault{Redirect: url} }

// Inject queues faults for path (an exact URL path such as
// [PathHandoffInit]): each request to path plays the next one,
// and once they are used up the path behaves normally again. Calls append to
// the queue: Inject(p, Status(503), Status(503)) fails twice, then succeeds.
func (s *Server) Inject(path string, faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queued[path] = append(s.queued[path], faults...)
}

// InjectAlways makes every request to path play f once the queued faults are
// used up, until [Server.ClearFaults].
func (s *Server) InjectAlways(path string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sticky[path] = f
}

// ClearFaults removes every queued and sticky fault on every path.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.queued)
	clear(s.sticky)
}

// nextFault pops the path's next fault. s.mu must be held.
func (s *Server) nextFault(path string) (Fault, bool) {
	if q := s.queued[path]; len(q) > 0 {
		f := q[0]
		if len(q) == 1 {
			delete(s.queued, path)
		} else {
			s.queued[path] = q[1:]
		}
		return f, true
	}
	f, ok := s.sticky[path]
	return f, ok
}

// play performs f and reports whether it answered the request.
func (s *Server) play(w http.ResponseWriter, r *http.Request, f Fault) bool {
	if f.Latency > 0 {
		// Read the body first: net/http watches for the client going away
		// (and cancels the request context) only once the body is consumed.
		head, _ := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
		r.Body = readCloser{io.MultiReader(bytes.NewReader(head), r.Body), r.Body}
		t := time.NewTimer(f.Latency)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return true // the client is gone: nothing to answer
		case <-s.closing:
			writeError(w, http.StatusServiceUnavailable, "Emulator shutting down", nil)
			return true
		}
	}
	switch {
	case f.Reset:
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, maxRequestBody))
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(http.ErrAbortHandler) // HTTP/2: abort the stream instead
		}
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // send RST, not FIN
		}
		_ = conn.Close()
	case f.Redirect != "":
		code := http.StatusTemporaryRedirect
		if f.Status >= 300 && f.Status < 400 {
			code = f.Status
		}
		w.Header().Set("Location", f.Redirect)
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(code)
	case f.Malformed:
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, `{"code": "`+strings.Repeat("x", 8)+`", "expiresAt": `)
	case f.Oversize > 0:
		writeOversized(w, max(f.Oversize, 16))
	case f.WrongContentType:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>\n")
	case f.Status != 0:
		if f.RetryAfter > 0 {
			secs := int64(math.Ceil(f.RetryAfter.Seconds()))
			w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
		}
		if f.Status == http.StatusUnauthorized && strings.HasPrefix(r.URL.Path, "/api/") {
			// RFC 9110 section 15.5.2: every 401 carries a challenge.
			challenge := apiChallenge
			if r.URL.Path == PathToken {
				challenge = tokenChallenge
			}
			w.Header().Set("WWW-Authenticate", challenge)
		}
		writeError(w, f.Status, f.Message, nil)
	default:
		return false
	}
	return true
}

// readCloser joins a replayed body to the original's Close.
type readCloser struct {
	io.Reader
	io.Closer
}

// writeOversized streams {"padding":"xxx..."} of exactly n bytes.
func writeOversized(w http.ResponseWriter, n int) {
	const head, tail = `{"padding":"`, `"}`
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(n))
	w.WriteHeader(http.StatusOK)
	if _, err := io.WriteString(w, head); err != nil {
		return
	}
	chunk := bytes.Repeat([]byte{'x'}, 32<<10)
	for left := n - len(head) - len(tail); left > 0; {
		k := min(left, len(chunk))
		if _, err := w.Write(chunk[:k]); err != nil {
			return
		}
		left -= k
	}
	_, _ = io.WriteString(w, tail)
}

// String describes the fault for test failure messages.
func (f Fault) String() string {
	var parts []string
	if f.Latency > 0 {
		parts = append(parts, "latency "+f.Latency.String())
	}
	switch {
	case f.Reset:
		parts = append(parts, "reset")
	case f.Redirect != "":
		parts = append(parts, "redirect "+f.Redirect)
	case f.Malformed:
		parts = append(parts, "malformed JSON")
	case f.Oversize > 0:
		parts = append(parts, fmt.Sprintf("oversized body %d bytes", f.Oversize))
	case f.WrongContentType:
		parts = append(parts, "wrong content type")
	case f.Status != 0:
		p := strconv.Itoa(f.Status)
		if f.RetryAfter > 0 {
			p += " retry after " + f.RetryAfter.String()
		}
		parts = append(parts, p)
	}
	if len(parts) == 0 {
		return "no fault"
	}
	return strings.Join(parts, " then ")
}
