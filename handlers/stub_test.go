package handlers_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/handoffkit/handoffkit/bluenexus/bluenexustest"
)

// upstreamStub stands in for BlueNexus where the emulator has no fault for
// what a test needs (a code over 2 KB, a dead code, a call that hangs until
// the caller gives up). Each handoff init request plays the next queued
// reply; once they are used up it forwards to the emulator when it has one
// (so the code is real and the white-label page accepts it), or answers a
// good code of its own: {"code":"good-code-N","expiresIn":30}, N counting
// the init requests from 1. Every other path is forwarded, or 404.
type upstreamStub struct {
	srv     *httptest.Server
	proxy   *httputil.ReverseProxy
	tr      *http.Transport
	mu      sync.Mutex
	replies []http.HandlerFunc
	hits    int
	redirs  []string      // the redirectUri of each init request
	arrived chan struct{} // one token per init request, never blocking
}

// newUpstreamStub starts a stub; forward is the emulator's URL, or "".
func newUpstreamStub(t *testing.T, forward string) *upstreamStub {
	t.Helper()
	s := &upstreamStub{arrived: make(chan struct{}, 64)}
	if forward != "" {
		target, err := url.Parse(forward)
		if err != nil {
			t.Fatal(err)
		}
		s.tr = &http.Transport{}
		s.proxy = &httputil.ReverseProxy{
			Transport: s.tr,
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(target)
				// The emulator's IP fingerprint reads the kit's header.
				pr.Out.Header["X-Forwarded-For"] = pr.In.Header["X-Forwarded-For"]
			},
			// The emulator reset the connection (or the kit left): reset
			// this one too, so the kit sees what it would have seen.
			ErrorHandler: func(w http.ResponseWriter, _ *http.Request, _ error) {
				if hj, ok := w.(http.Hijacker); ok {
					if c, _, err := hj.Hijack(); err == nil {
						c.Close()
						return
					}
				}
				w.WriteHeader(http.StatusBadGateway)
			},
		}
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		s.srv.Close()
		if s.tr != nil {
			s.tr.CloseIdleConnections()
		}
	})
	return s
}

func (s *upstreamStub) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != bluenexustest.PathHandoffInit {
		if s.proxy != nil {
			s.proxy.ServeHTTP(w, r)
			return
		}
		http.NotFound(w, r)
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	r.Body = io.NopCloser(bytes.NewReader(body))
	var req struct {
		RedirectURI string `json:"redirectUri"`
	}
	json.Unmarshal(body, &req)
	s.mu.Lock()
	s.hits++
	n := s.hits
	s.redirs = append(s.redirs, req.RedirectURI)
	var reply http.HandlerFunc
	if len(s.replies) > 0 {
		reply, s.replies = s.replies[0], s.replies[1:]
	}
	s.mu.Unlock()
	select {
	case s.arrived <- struct{}{}:
	default:
	}
	switch {
	case reply != nil:
		reply(w, r)
	case s.proxy != nil:
		s.proxy.ServeHTTP(w, r)
	default:
		stubJSON(http.StatusOK, fmt.Sprintf(`{"code":"good-code-%d","expiresIn":30}`, n))(w, r)
	}
}

// URL is the stub's base URL (plain http on loopback).
func (s *upstreamStub) URL() string { return s.srv.URL }

// queue adds replies for the next handoff init requests.
func (s *upstreamStub) queue(replies ...http.HandlerFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.replies = append(s.replies, replies...)
}

// Hits is the number of handoff init requests.
func (s *upstreamStub) Hits() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits
}

// lastState is the state in the redirectUri of the last init request.
func (s *upstreamStub) lastState(t *testing.T) string {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.redirs) == 0 {
		t.Fatal("no handoff init request reached the stub")
	}
	return stateOf(t, s.redirs[len(s.redirs)-1])
}

// states are the states in the redirectUris of every init request, failed
// mints included.
func (s *upstreamStub) states() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, raw := range s.redirs {
		if u, err := url.Parse(raw); err == nil && u.Query().Get("state") != "" {
			out = append(out, u.Query().Get("state"))
		}
	}
	return out
}

// stubJSON answers status with a JSON body.
func stubJSON(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

// stubHang answers nothing until the caller gives up.
func stubHang(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }

// closedPortURL is a loopback URL where nothing listens: a dial is refused.
func closedPortURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// flowCookieSet reports whether resp sets the flow cookie.
func flowCookieSet(resp *http.Response) bool {
	for _, c := range resp.Cookies() {
		if strings.Contains(c.Name, "handoffkit-flow-") {
			return true
		}
	}
	return false
}
