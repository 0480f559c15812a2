// Package tokentest is a fake BlueNexus token endpoint for the tests of
// bluenexus.TokenSource and of the token stores: grant_type=refresh_token
// with single-use rotation, counting every call and every replay (a spent
// refresh token presented again).
//
// It depends only on the standard library and internal/bnwire, so that
// package bluenexus's own tests can use it; the contract suite of token
// stores, which needs package bluenexus, is in package storetest below it.
package tokentest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/handoffkit/handoffkit/internal/bnwire"
)

// Canary starts every token the endpoint issues, so that a test can look
// for it in error strings.
const Canary = "CANARY"

// Endpoint is an httptest server that answers POST bnwire.PathToken like
// BlueNexus: a live refresh token buys a new pair and dies; a spent one is
// replay, answered 400 invalid_grant; an unknown one is 400 invalid_grant.
// Use it as the client's base URL.
type Endpoint struct {
	*httptest.Server

	// ExpiresIn and RefreshExpiresIn are the lifetimes, in seconds, of
	// the pairs it issues (900 and 604800 unless changed before use).
	ExpiresIn, RefreshExpiresIn int

	calls, replays atomic.Int64

	mu     sync.Mutex
	n      int
	live   map[string]bool
	spent  map[string]bool
	issued []string
	fault  http.HandlerFunc
	gate   chan struct{} // when non-nil, refreshes wait for it to close
	held   chan struct{} // receives a value as each held refresh arrives
}

// New starts an Endpoint, closed at cleanup.
func New(t testing.TB) *Endpoint {
	t.Helper()
	e := &Endpoint{ExpiresIn: 900, RefreshExpiresIn: 604800, live: map[string]bool{}, spent: map[string]bool{}}
	e.Server = httptest.NewServer(http.HandlerFunc(e.serve))
	t.Cleanup(e.Close)
	return e
}

// Seed issues a live pair, as the user's sign-in would.
func (e *Endpoint) Seed() (access, refresh string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.mint()
}

// mint issues a pair; e.mu is held.
func (e *Endpoint) mint() (access, refresh string) {
	e.n++
	n := strconv.Itoa(e.n)
	access, refresh = Canary+"-at-"+n+"-0f3c9a", Canary+"-rt-"+n+"-7d21be"
	e.live[refresh] = true
	e.issued = append(e.issued, access, refresh)
	return access, refresh
}

// Calls is how many requests reached the endpoint.
func (e *Endpoint) Calls() int64 { return e.calls.Load() }

// Replays is how many times a spent refresh token was presented again.
func (e *Endpoint) Replays() int64 { return e.replays.Load() }

// SetFault makes every later call answer with h (counted, nothing
// rotated); nil restores the normal behaviour.
func (e *Endpoint) SetFault(h http.HandlerFunc) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.fault = h
}

// Hold makes later refreshes wait until release is called. arrived
// receives a value as each one reaches the endpoint.
func (e *Endpoint) Hold() (arrived <-chan struct{}, release func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	gate, held := make(chan struct{}), make(chan struct{}, 1000)
	e.gate, e.held = gate, held
	var once sync.Once
	return held, func() { once.Do(func() { close(gate) }) }
}

// CheckNoSecret fails the test if s holds any token the endpoint issued.
func (e *Endpoint) CheckNoSecret(t testing.TB, what, s string) {
	t.Helper()
	e.mu.Lock()
	issued := append([]string(nil), e.issued...)
	e.mu.Unlock()
	if strings.Contains(s, Canary) {
		t.Errorf("%s carries a token: %q", what, s)
		return
	}
	for _, tok := range issued {
		if strings.Contains(s, tok) {
			t.Errorf("%s carries a token: %q", what, s)
		}
	}
}

func (e *Endpoint) serve(w http.ResponseWriter, r *http.Request) {
	e.calls.Add(1)
	// Reading the body first lets the server notice a client that hangs
	// up (a handler waiting on r.Context() would wait forever otherwise).
	formErr := r.ParseForm()
	e.mu.Lock()
	fault, gate, held := e.fault, e.gate, e.held
	e.mu.Unlock()
	if fault != nil {
		fault(w, r)
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != bnwire.PathToken {
		Reply(w, http.StatusNotFound, `{"error":"NotFoundError","message":"no route","statusCode":404}`)
		return
	}
	if formErr != nil || r.PostForm.Get("grant_type") != "refresh_token" {
		Reply(w, http.StatusBadRequest, `{"error":"unsupported_grant_type"}`)
		return
	}
	if gate != nil {
		held <- struct{}{}
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
	}
	rt := r.PostForm.Get("refresh_token")
	e.mu.Lock()
	switch {
	case e.live[rt]:
		delete(e.live, rt)
		e.spent[rt] = true
		access, refresh := e.mint()
		e.mu.Unlock()
		body, _ := json.Marshal(map[string]any{"token_type": "Bearer", "access_token": access,
			"expires_in": e.ExpiresIn, "refresh_token": refresh, "refresh_expires_in": e.RefreshExpiresIn,
			"scope": "connections"})
		Reply(w, http.StatusOK, string(body))
	case e.spent[rt]:
		e.mu.Unlock()
		e.replays.Add(1)
		Reply(w, http.StatusBadRequest, `{"error":"invalid_grant","error_description":"refresh token reused"}`)
	default:
		e.mu.Unlock()
		Reply(w, http.StatusBadRequest, `{"error":"invalid_grant","error_description":"unknown refresh token"}`)
	}
}

// Reply writes a JSON response.
func Reply(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write([]byte(body))
}
