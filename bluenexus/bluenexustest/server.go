package bluenexustest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/handoffkit/handoffkit/bluenexus"
)

// Server is a running BlueNexus emulator: the API (handoff init, the token
// endpoint and connections) and the white-label Manage Connections page on
// one real [http.Server]. All methods are safe for concurrent use.
type Server struct {
	cfg     config
	ln      net.Listener
	srv     *http.Server
	mux     *http.ServeMux
	baseURL string

	closing   chan struct{} // closed when Close or Shutdown starts
	served    chan struct{} // closed when Serve has returned
	closeOnce sync.Once

	// startTokens are the static tokens of the start-up users (WithUser,
	// WithUserToken), fixed at New so that Reset brings the same ones back.
	startTokens map[string]bluenexus.AccessToken
	// offset is how far AdvanceClock has moved the clock, in nanoseconds.
	offset atomic.Int64

	// Everything below is the state that Reset forgets.
	mu       sync.Mutex
	users    map[string]*user         // by name
	access   map[string]*accessEntry  // by access token value
	refresh  map[string]*refreshEntry // by refresh token value
	accessQ  []issuedToken            // access tokens in issue order, for sweeping
	refreshQ []issuedToken            // refresh tokens in issue order, for sweeping
	replays  int
	reuses   int                   // handoff codes presented again after use
	codes    map[string]*handoff   // by code value
	issued   []issuedCode          // codes in issue order, for sweeping
	sessions map[string]*wlSession // by session cookie value
	hits     map[string]int
	queued   map[string][]Fault
	sticky   map[string]Fault
	retErr   *returnError
	shape    PaginationShape
	variants TokenVariants
	windows  map[rateKey]*rateWindow
}

type returnError struct{ code, description string }

// New starts an emulator with the given options and returns it, or an error
// naming the bad option or the failed listen. Call [Server.Close] or
// [Server.Shutdown] when done.
func New(opts ...Option) (*Server, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return nil, fmt.Errorf("bluenexustest: listen on %s: %w", cfg.addr, err)
	}
	s := &Server{
		cfg:         cfg,
		ln:          ln,
		baseURL:     "http://" + urlHost(ln.Addr()),
		closing:     make(chan struct{}),
		served:      make(chan struct{}),
		startTokens: map[string]bluenexus.AccessToken{},
	}
	for _, name := range cfg.users {
		if _, done := s.startTokens[name]; done {
			continue
		}
		t, fixed := cfg.tokens[name]
		if !fixed {
			t = newAccessTokenValue()
		}
		s.startTokens[name] = t
	}
	s.resetLocked()
	s.mux = s.routes()
	s.srv = &http.Server{
		Handler:           http.HandlerFunc(s.serveHTTP),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       time.Minute,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	go func() {
		defer close(s.served)
		_ = s.srv.Serve(ln)
	}()
	return s, nil
}

// NewServer is [New] for tests: it panics if an option is invalid or the
// address cannot be bound, like [net/http/httptest.NewServer].
func NewServer(opts ...Option) *Server {
	s, err := New(opts...)
	if err != nil {
		panic(err)
	}
	return s
}

// urlHost renders a listen address for a URL, replacing an unspecified IP
// (from WithAddr(":8090")) with the IPv4 loopback address.
func urlHost(a net.Addr) string {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return a.String()
	}
	ip := ap.Addr().Unmap()
	if ip.IsUnspecified() {
		ip = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	}
	return netip.AddrPortFrom(ip, ap.Port()).String()
}

// Close stops the server at once: it closes the listener and every
// connection, ends injected latencies, and returns when the serving goroutine
// has exited. Calling it again does nothing.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.closing) })
	_ = s.srv.Close()
	<-s.served
}

// Shutdown stops the server gracefully: no new connections, in-flight
// requests finish (injected latencies end early with a 503) until ctx is
// done. It returns ctx's error if requests were still running.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closeOnce.Do(func() { close(s.closing) })
	err := s.srv.Shutdown(ctx)
	if err != nil {
		_ = s.srv.Close()
	}
	<-s.served
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// URL returns the API base URL, such as http://127.0.0.1:41234, to configure
// the client with.
func (s *Server) URL() string { return s.baseURL }

// WhiteLabelURL returns the white-label page URL, [Server.URL] +
// "/white-label". The handoff code goes in its "code" query parameter.
func (s *Server) WhiteLabelURL() string { return s.baseURL + PathWhiteLabel }

// Hits returns how many requests reached path (an exact URL path such as
// [PathHandoffInit] or "/api/v1/connections/ID/refresh"),
// including those answered by an injected fault.
func (s *Server) Hits(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[path]
}

// ReturnWithError makes the next Done on the white-label page append
// error=code and error_description=description to the redirectUri's query.
// Without it, Done redirects to the redirectUri exactly as given at init.
func (s *Server) ReturnWithError(code, description string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retErr = &returnError{code: code, description: description}
}

// SetPaginationShape switches the pagination object of the connections list
// for later requests. It panics on a shape other than [PaginationHasMore] or
// [PaginationPages].
func (s *Server) SetPaginationShape(shape PaginationShape) {
	if !shape.valid() {
		panic(fmt.Sprintf("bluenexustest: SetPaginationShape: unknown shape %q", shape))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shape = shape
}

// now is the emulator's clock: the WithClock clock moved by AdvanceClock.
func (s *Server) now() time.Time {
	return s.cfg.now().Add(time.Duration(s.offset.Load()))
}

// AdvanceClock moves the emulator's clock forward by d, on top of the
// [WithClock] clock (or the real time), and returns the new time. Codes,
// access and refresh tokens, white-label sessions and rate-limit windows
// then expire as if d had passed, without sleeping. It panics on a
// negative d: time never runs backwards for the emulator.
func (s *Server) AdvanceClock(d time.Duration) time.Time {
	if d < 0 {
		panic(fmt.Sprintf("bluenexustest: AdvanceClock: negative duration %v", d))
	}
	s.offset.Add(int64(d))
	return s.now()
}

// Reset returns the emulator to its start-up state: it forgets every user,
// token, auth session, connection, handoff code, white-label session,
// fault, hit count, replay and code reuse count, rate-limit window and pending
// [Server.ReturnWithError], undoes [Server.AdvanceClock],
// [Server.SetPaginationShape] and [Server.SetTokenVariants], then creates
// the users of [WithUser] and [WithUserToken] again, with the same static
// tokens as before. Tokens of [Server.SignIn] do not survive it. Requests
// in flight may finish on the old state.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resetLocked()
}

// resetLocked builds the start-up state. s.mu must be held (or s unshared).
func (s *Server) resetLocked() {
	s.offset.Store(0)
	s.users = map[string]*user{}
	s.access = map[string]*accessEntry{}
	s.refresh = map[string]*refreshEntry{}
	s.accessQ, s.refreshQ, s.replays, s.reuses = nil, nil, 0, 0
	s.codes = map[string]*handoff{}
	s.issued = nil
	s.sessions = map[string]*wlSession{}
	s.hits = map[string]int{}
	s.queued = map[string][]Fault{}
	s.sticky = map[string]Fault{}
	s.retErr = nil
	s.shape = s.cfg.shape
	s.variants = s.cfg.variants
	s.windows = map[rateKey]*rateWindow{}
	for _, name := range s.cfg.users {
		if _, ok := s.users[name]; !ok {
			s.issueStaticLocked(s.userLocked(name), s.startTokens[name])
		}
	}
}

// PathHealth answers GET with 200 "ok", for health checks of a running
// emulator. It is not a BlueNexus path.
const PathHealth = "/healthz"

// pathControl prefixes the control API (WithControlAPI).
const pathControl = "/_emulator/"

// isEmulatorPath reports whether path belongs to the emulator itself rather
// than to BlueNexus: its health check and control API. Those paths are
// never counted, faulted or rate limited.
func isEmulatorPath(path string) bool {
	return path == PathHealth || path == strings.TrimSuffix(pathControl, "/") || strings.HasPrefix(path, pathControl)
}

// serveHTTP stamps the Date header by the emulator's clock, logs the
// request when asked to, counts the hit, plays the path's next fault if
// any, applies the rate limits, and otherwise routes the request.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Date", s.now().UTC().Format(http.TimeFormat)) // a client reads expiresAt against it
	if log := s.cfg.requestLog; log != nil {
		start := time.Now() // real latency, not the emulator's clock
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			status := rec.status
			if status == 0 && !rec.hijacked {
				status = http.StatusOK
			}
			log(r.Method, r.URL.Path, status, time.Since(start))
		}()
		w = rec
	}
	if isEmulatorPath(r.URL.Path) {
		s.mux.ServeHTTP(w, r)
		return
	}
	s.mu.Lock()
	s.hits[r.URL.Path]++
	f, faulted := s.nextFault(r.URL.Path)
	s.mu.Unlock()
	if faulted && s.play(w, r, f) {
		return
	}
	if s.cfg.rateLimits && strings.HasPrefix(r.URL.Path, "/api/") && s.rateLimited(w, r) {
		return
	}
	s.mux.ServeHTTP(w, r)
}

// statusRecorder notes the status a handler sends, for the request log.
type statusRecorder struct {
	http.ResponseWriter
	status   int
	hijacked bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 && code >= 200 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Hijack is for the ResetAfterRead fault.
func (r *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(r.ResponseWriter).Hijack()
	if err == nil {
		r.hijacked = true
	}
	return c, rw, err
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Paths of the white-label page, relative to [Server.URL].
const (
	PathWhiteLabel        = "/white-label"
	PathWhiteLabelSession = "/white-label/session"
	PathWhiteLabelConnect = "/white-label/connect"
	PathWhiteLabelRemove  = "/white-label/remove"
	PathWhiteLabelDone    = "/white-label/done"
)

func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	api := []struct {
		method, pattern string
		h               http.HandlerFunc
	}{
		{http.MethodPost, PathHandoffInit, s.handleInit},
		{http.MethodPost, PathToken, s.handleToken},
		{http.MethodGet, PathConnections, s.handleList},
		{http.MethodGet, PathConnections + "/{id}", s.handleGet},
		{http.MethodPut, PathConnections + "/{id}/refresh", s.handleRefresh},
	}
	for _, a := range api {
		mux.HandleFunc(a.method+" "+a.pattern, a.h)
		mux.HandleFunc(a.pattern, methodNotAllowed(a.method))
	}
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("Cannot %s %s", r.Method, r.URL.Path), nil)
	})
	mux.HandleFunc("GET "+PathHealth, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = io.WriteString(w, "ok")
	})
	if s.cfg.control {
		s.controlRoutes(mux)
	}
	mux.HandleFunc("GET "+PathWhiteLabel, s.handleWhiteLabel)
	mux.HandleFunc("GET "+PathWhiteLabelSession, s.handleSession)
	mux.HandleFunc("POST "+PathWhiteLabelConnect, s.handleConnect)
	mux.HandleFunc("POST "+PathWhiteLabelRemove, s.handleRemove)
	mux.HandleFunc("POST "+PathWhiteLabelDone, s.handleDone)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.renderError(w, http.StatusNotFound, "Page not found",
			"The BlueNexus emulator serves its API under /api/v1 and the Manage Connections page under /white-label.")
	})
	return mux
}
