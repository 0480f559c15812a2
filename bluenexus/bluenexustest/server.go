package bluenexustest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/handoffkit/handoffkit/bluenexus"
)

// Server is a running BlueNexus emulator: the API (handoff init and
// connections) and the white-label Manage Connections page on one real
// [http.Server]. All methods are safe for concurrent use.
type Server struct {
	cfg     config
	ln      net.Listener
	srv     *http.Server
	mux     *http.ServeMux
	baseURL string

	closing   chan struct{} // closed when Close or Shutdown starts
	served    chan struct{} // closed when Serve has returned
	closeOnce sync.Once

	mu       sync.Mutex
	users    map[string]*user      // by name
	byToken  map[string]*user      // by token value
	codes    map[string]*handoff   // by code value
	issued   []issuedCode          // codes in issue order, for sweeping
	sessions map[string]*wlSession // by session cookie value
	hits     map[string]int
	queued   map[string][]Fault
	sticky   map[string]Fault
	retErr   *returnError
	shape    PaginationShape
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
		cfg:      cfg,
		ln:       ln,
		baseURL:  "http://" + urlHost(ln.Addr()),
		closing:  make(chan struct{}),
		served:   make(chan struct{}),
		users:    map[string]*user{},
		byToken:  map[string]*user{},
		codes:    map[string]*handoff{},
		sessions: map[string]*wlSession{},
		hits:     map[string]int{},
		queued:   map[string][]Fault{},
		sticky:   map[string]Fault{},
		shape:    cfg.shape,
	}
	for _, name := range cfg.users {
		if t, ok := cfg.tokens[name]; ok {
			if err := s.addUser(name, t); err != nil {
				ln.Close()
				return nil, err
			}
			continue
		}
		s.AddUser(name)
	}
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
// [bluenexus.PathHandoffInit] or "/api/v1/connections/ID/refresh"),
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

func (s *Server) now() time.Time { return s.cfg.now() }

// serveHTTP counts the hit, plays the path's next fault if any, and
// otherwise routes the request.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.hits[r.URL.Path]++
	f, faulted := s.nextFault(r.URL.Path)
	s.mu.Unlock()
	if faulted && s.play(w, r, f) {
		return
	}
	s.mux.ServeHTTP(w, r)
}

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
		{http.MethodPost, bluenexus.PathHandoffInit, s.handleInit},
		{http.MethodGet, bluenexus.PathConnections, s.handleList},
		{http.MethodGet, bluenexus.PathConnections + "/{id}", s.handleGet},
		{http.MethodPut, bluenexus.PathConnections + "/{id}/refresh", s.handleRefresh},
	}
	for _, a := range api {
		mux.HandleFunc(a.method+" "+a.pattern, a.h)
		mux.HandleFunc(a.pattern, methodNotAllowed(a.method))
	}
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("Cannot %s %s", r.Method, r.URL.Path), nil)
	})
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
