package middleware

import (
	"bufio"
	"net"
	"net/http"
	"time"

	"github.com/rs/zerolog"
	"github.com/rs/zerolog/hlog"
)

// AccessLog returns middleware that writes one Info event ("http request")
// per request after next returns, with the fields method, path, status,
// bytes (response body bytes written), latency and the request id.
//
// It logs the URL path only: never the query string, the fragment, cookies,
// Authorization or any other header, so codes, states and tokens carried in
// them stay out of the log (SECURITY.md D2).
//
// The event goes to the logger attached to the request's context
// ([zerolog.Ctx], e.g. by [hlog.NewHandler]) when there is one, else to
// logger; a context logger that is disabled or is only
// [zerolog.DefaultContextLogger] counts as none. A context logger is used
// as is: mount hlog.RequestIDHandler("request_id", ...) after
// hlog.NewHandler so it carries the id once. With the fallback logger, the
// id from [hlog.IDFromRequest] is added as request_id.
//
// A handler that never writes is logged with status 200; one that panics
// before writing is logged with status 500 and the panic continues; a
// hijacked connection is logged with status 101. The wrapped
// ResponseWriter implements [http.Flusher] and [http.Hijacker] and unwraps
// for [http.ResponseController].
//
// It is not built on [hlog.AccessHandler]: that handler's clock cannot be
// injected for tests and it reports status 0 for a handler that panics.
func AccessLog(logger zerolog.Logger) func(http.Handler) http.Handler {
	return accessLog(logger, time.Now)
}

func accessLog(logger zerolog.Logger, now func() time.Time) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := now()
			rw := &recordingWriter{ResponseWriter: w}
			completed := false
			defer func() {
				status := rw.status
				if status == 0 {
					status = http.StatusOK
					if !completed {
						status = http.StatusInternalServerError
					}
				}
				// A request logger (hlog.NewHandler) already carries the
				// request id when hlog.RequestIDHandler runs after it; the
				// configured logger gets it added here.
				l, addID := &logger, true
				if cl := zerolog.Ctx(r.Context()); cl != zerolog.DefaultContextLogger && cl.GetLevel() != zerolog.Disabled {
					l, addID = cl, false
				}
				path := ""
				if r.URL != nil {
					path = r.URL.Path
				}
				ev := l.Info().
					Str("method", r.Method).
					Str("path", path).
					Int("status", status).
					Int64("bytes", rw.bytes).
					Dur("latency", now().Sub(start))
				if id, ok := hlog.IDFromRequest(r); ok && addID {
					ev = ev.Str("request_id", id.String())
				}
				ev.Msg("http request")
			}()
			next.ServeHTTP(rw, r)
			completed = true
		})
	}
}

// recordingWriter records the status and the body size. It exposes the
// wrapped writer through Unwrap, so [http.ResponseController] still reaches
// Flush, Hijack, deadlines and full-duplex, and it implements
// [http.Flusher] and [http.Hijacker] directly for code that type-asserts.
type recordingWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *recordingWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recordingWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// Flush implements [http.Flusher]; it is a no-op when the wrapped writer
// cannot flush.
func (w *recordingWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack implements [http.Hijacker]; it returns an error wrapping
// [http.ErrNotSupported] when the wrapped writer cannot hijack.
func (w *recordingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil && w.status == 0 {
		w.status = http.StatusSwitchingProtocols
	}
	return conn, rw, err
}

// Unwrap returns the wrapped writer for [http.ResponseController].
func (w *recordingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
