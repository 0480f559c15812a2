package middleware

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/rs/zerolog/hlog"
)

// stepClock returns a clock that advances by step on every call.
func stepClock(step time.Duration) func() time.Time {
	t := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return func() time.Time {
		now := t
		t = t.Add(step)
		return now
	}
}

func decodeLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		m := map[string]any{}
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// TestD2_AccessLogNeverLogsSecrets pins that the access log carries method,
// path, status, bytes and latency, and no query string, cookie,
// Authorization or other header value.
func TestD2_AccessLogNeverLogsSecrets(t *testing.T) {
	var buf bytes.Buffer
	mw := accessLog(zerolog.New(&buf), stepClock(1500*time.Millisecond))
	h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte("hello"))
	}))

	const canary = "CANARY"
	r := httptest.NewRequest(http.MethodGet, "https://app.example/connections/return?state=STATE"+canary+"&code=CODE"+canary+"#frag"+canary, nil)
	r.Header.Set("Cookie", "__Host-handoffkit-flow=COOKIE"+canary)
	r.Header.Set("Authorization", "Bearer TOKEN"+canary)
	r.Header.Set("Referer", "https://bluenexus.example/?code=REF"+canary)
	r.Header.Set("User-Agent", "UA"+canary)
	r.Header.Set("X-Forwarded-For", "203.0.113.7")
	h.ServeHTTP(httptest.NewRecorder(), r)

	if out := buf.String(); strings.Contains(out, canary) || strings.Contains(out, "state=") || strings.Contains(out, "?") {
		t.Fatalf("secret leaked into the access log: %s", out)
	}
	lines := decodeLines(t, &buf)
	if len(lines) != 1 {
		t.Fatalf("want one event, got %d", len(lines))
	}
	got := lines[0]
	want := map[string]any{
		"level": "info", "message": "http request", "method": "GET",
		"path": "/connections/return", "status": 201.0, "bytes": 5.0, "latency": 1500.0,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if _, ok := got["request_id"]; ok {
		t.Error("request_id without a request id in the context")
	}
}

// TestAccessLog_UsesContextLoggerAndRequestID pins the hlog integration:
// the request's logger is used when present, as is: hlog.RequestIDHandler
// with a field key has put the request id in it, exactly once.
func TestAccessLog_UsesContextLoggerAndRequestID(t *testing.T) {
	var ctxBuf, fallback bytes.Buffer
	var id string
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		xid, ok := hlog.IDFromRequest(r)
		if !ok {
			t.Fatal("no request id")
		}
		id = xid.String()
	})
	h := hlog.NewHandler(zerolog.New(&ctxBuf))(hlog.RequestIDHandler("request_id", "")(AccessLog(zerolog.New(&fallback))(inner)))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/manage-connections", nil))

	if fallback.Len() != 0 {
		t.Errorf("logged to the fallback logger: %s", fallback.String())
	}
	if n := strings.Count(ctxBuf.String(), `"request_id"`); n != 1 {
		t.Errorf("request_id appears %d times in %s", n, ctxBuf.String())
	}
	lines := decodeLines(t, &ctxBuf)
	if len(lines) != 1 || lines[0]["request_id"] != id || lines[0]["method"] != "POST" || lines[0]["status"] != 200.0 {
		t.Fatalf("context logger got %v, want request_id %s", lines, id)
	}
}

func TestAccessLog_FallbackLogger(t *testing.T) {
	var fallback bytes.Buffer
	h := AccessLog(zerolog.New(&fallback))(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/x", nil))
	lines := decodeLines(t, &fallback)
	if len(lines) != 1 || lines[0]["status"] != 200.0 || lines[0]["bytes"] != 0.0 || lines[0]["path"] != "/x" {
		t.Fatalf("got %v", lines)
	}
}

func TestAccessLog_PanicLoggedAs500(t *testing.T) {
	var buf bytes.Buffer
	h := AccessLog(zerolog.New(&buf))(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }))
	func() {
		defer func() {
			if recover() != "boom" {
				t.Error("panic swallowed")
			}
		}()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/x", nil))
	}()
	lines := decodeLines(t, &buf)
	if len(lines) != 1 || lines[0]["status"] != 500.0 {
		t.Fatalf("got %v", lines)
	}
}

// TestAccessLog_WriterStillFlushes pins that wrapping keeps streaming
// working, by type assertion and through http.ResponseController.
func TestAccessLog_WriterStillFlushes(t *testing.T) {
	var buf bytes.Buffer
	rec := httptest.NewRecorder()
	h := AccessLog(zerolog.New(&buf))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, ok := w.(http.Flusher)
		if !ok {
			t.Fatal("not a Flusher")
		}
		f.Flush()
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Fatal(err)
		}
	}))
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/events", nil))
	if !rec.Flushed {
		t.Fatal("flush did not reach the underlying writer")
	}
}

// TestD1_NoStore pins the cache and referrer headers.
func TestD1_NoStore(t *testing.T) {
	ran := false
	rec := httptest.NewRecorder()
	NoStore(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ran = true
		w.WriteHeader(http.StatusSeeOther)
	})).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/return?state=x", nil))
	if !ran {
		t.Fatal("next not called")
	}
	for k, v := range map[string]string{"Cache-Control": "no-store", "Pragma": "no-cache", "Referrer-Policy": "no-referrer"} {
		if got := rec.Result().Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
}

// TestAccessLog_Hijack pins that a hijacking handler (a websocket upgrade)
// still works through the wrapper, and is logged as 101.
func TestAccessLog_Hijack(t *testing.T) {
	var buf bytes.Buffer
	done := make(chan struct{})
	logged := AccessLog(zerolog.New(&buf))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hj, ok := w.(http.Hijacker)
		if !ok {
			t.Error("not a Hijacker")
			return
		}
		conn, rw, err := hj.Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		_, _ = rw.WriteString("HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
		_ = rw.Flush()
	}))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(done)
		logged.ServeHTTP(w, r)
	}))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/ws")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("status %d", resp.StatusCode)
	}
	<-done // the access log event is written when the handler returns
	lines := decodeLines(t, &buf)
	if len(lines) != 1 || lines[0]["status"] != 101.0 {
		t.Fatalf("got %v", lines)
	}
	// Without hijack support underneath, Hijack reports ErrNotSupported.
	rec := httptest.NewRecorder()
	AccessLog(zerolog.New(&buf))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, _, err := w.(http.Hijacker).Hijack(); !errors.Is(err, http.ErrNotSupported) {
			t.Errorf("Hijack on a recorder: %v", err)
		}
	})).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
}
