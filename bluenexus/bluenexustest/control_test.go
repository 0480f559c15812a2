package bluenexustest_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/bluenexus/bluenexustest"
)

// control calls the control API.
func control(t testing.TB, s *bluenexustest.Server, method, path, body string) response {
	t.Helper()
	req := newRequest(t, method, s.URL()+"/_emulator/"+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return do(t, apiClient(t), req)
}

// TestHealthz answers 200 "ok", with or without the control API, and is
// not counted.
func TestHealthz(t *testing.T) {
	for _, opts := range [][]bluenexustest.Option{nil, {bluenexustest.WithControlAPI()}} {
		s := newServer(t, opts...)
		s.InjectAlways(bluenexustest.PathHealth, bluenexustest.Status(503))
		r := do(t, apiClient(t), newRequest(t, http.MethodGet, s.URL()+bluenexustest.PathHealth, nil))
		if r.status != http.StatusOK || r.body != "ok" || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
			t.Errorf("healthz: %d %q %q", r.status, r.body, r.header.Get("Content-Type"))
		}
		if n := s.Hits(bluenexustest.PathHealth); n != 0 {
			t.Errorf("Hits(healthz) = %d", n)
		}
	}
}

// TestControlAPIOffByDefault: without WithControlAPI no /_emulator/ route
// exists.
func TestControlAPIOffByDefault(t *testing.T) {
	s := newServer(t)
	for _, tc := range []struct{ method, path string }{
		{http.MethodPost, "users"}, {http.MethodPost, "reset"}, {http.MethodGet, "stats"}, {http.MethodPost, "clock"},
	} {
		r := control(t, s, tc.method, tc.path, `{"name":"carol","advance":"1h"}`)
		if r.status != http.StatusNotFound {
			t.Errorf("%s %s: %d, want 404", tc.method, tc.path, r.status)
		}
	}
	if s.Connections("carol") != nil {
		t.Errorf("a control call took effect")
	}
}

// TestControlAPI drives every control route and checks it against the Go
// API.
func TestControlAPI(t *testing.T) {
	clock := newFakeClock()
	s := newServer(t, bluenexustest.WithControlAPI(), bluenexustest.WithClock(clock.Now), bluenexustest.WithUser("alice"))
	start := s.AddUser("alice")

	// Users: sign in, with the token endpoint's fields.
	r := control(t, s, http.MethodPost, "users", `{"name":"carol"}`)
	var signed struct {
		Name             string    `json:"name"`
		TokenType        string    `json:"token_type"`
		AccessToken      string    `json:"access_token"`
		ExpiresIn        int       `json:"expires_in"`
		RefreshToken     string    `json:"refresh_token"`
		RefreshExpiresIn int       `json:"refresh_expires_in"`
		Scope            string    `json:"scope"`
		ExpiresAt        time.Time `json:"expires_at"`
		RefreshExpiresAt time.Time `json:"refresh_expires_at"`
	}
	if r.status != http.StatusOK || json.Unmarshal([]byte(r.body), &signed) != nil {
		t.Fatalf("users: %d %s", r.status, r.body)
	}
	if signed.Name != "carol" || signed.TokenType != "Bearer" || signed.ExpiresIn != 900 || signed.RefreshExpiresIn != 604800 ||
		!signed.ExpiresAt.Equal(clock.Now().Add(900*time.Second)) || !signed.RefreshExpiresAt.Equal(clock.Now().Add(7*24*time.Hour)) || signed.Scope != "connections" {
		t.Errorf("users: %s", r.body)
	}
	carol := bluenexus.AccessToken(signed.AccessToken)
	if got := apiCall(t, s, http.MethodGet, bluenexustest.PathConnections, carol); got.status != http.StatusOK {
		t.Fatalf("carol's token: %d", got.status)
	}
	tokenCall(t, s, serverBasic(s), refreshForm(bluenexus.RefreshToken(signed.RefreshToken))).tokens(t)

	// Connections: add (primary and another account), list.
	r = control(t, s, http.MethodPost, "connections", `{"user":"carol","provider":"google"}`)
	var c bluenexus.Connection
	if r.status != http.StatusOK || json.Unmarshal([]byte(r.body), &c) != nil || c.ProviderID != "google" || c.Metadata.Email != "carol+google@example.com" {
		t.Fatalf("connections: %d %s", r.status, r.body)
	}
	control(t, s, http.MethodPost, "connections", `{"user":"carol","provider":"google","account":2}`)
	control(t, s, http.MethodPost, "connections", `{"user":"carol","provider":"google"}`) // reconnect
	r = control(t, s, http.MethodGet, "connections?user=carol", "")
	var listed struct{ Data []bluenexus.Connection }
	if r.status != http.StatusOK || json.Unmarshal([]byte(r.body), &listed) != nil || len(listed.Data) != 2 || listed.Data[1].Metadata.Email != "carol+google2@example.com" {
		t.Fatalf("list: %d %s", r.status, r.body)
	}

	// Faults: count, always, clear.
	if r := control(t, s, http.MethodPost, "faults", `{"path":"`+bluenexustest.PathConnections+`","status":503,"retryAfter":"2s","count":2}`); r.status != http.StatusNoContent {
		t.Fatalf("faults: %d %s", r.status, r.body)
	}
	for i, want := range []int{503, 503, 200} {
		got := apiCall(t, s, http.MethodGet, bluenexustest.PathConnections, carol)
		if got.status != want || (want == 503 && got.header.Get("Retry-After") != "2") {
			t.Errorf("call %d after faults: %d Retry-After %q", i, got.status, got.header.Get("Retry-After"))
		}
	}
	control(t, s, http.MethodPost, "faults", `{"path":"`+bluenexustest.PathHandoffInit+`","status":500,"message":"boom","always":true}`)
	for range 2 {
		if got := do(t, apiClient(t), initRequest(t, s, carol, initBody("https://app.example/r"))); got.status != 500 || got.errorBody(t).Message != "boom" {
			t.Errorf("sticky fault: %d %s", got.status, got.body)
		}
	}
	if r := control(t, s, http.MethodDelete, "faults", ""); r.status != http.StatusNoContent {
		t.Fatalf("clear: %d", r.status)
	}
	mustInit(t, s, carol, "https://app.example/r")

	// Return error.
	if r := control(t, s, http.MethodPost, "return-error", `{"error":"access_denied","error_description":"User cancelled"}`); r.status != http.StatusNoContent {
		t.Fatalf("return-error: %d %s", r.status, r.body)
	}
	b, csrf := startSession(t, s, carol, "https://app.example/r")
	if got := post(t, b, s, bluenexustest.PathWhiteLabelDone, url.Values{"csrf_token": {csrf}}); got.header.Get("Location") != "https://app.example/r?error=access_denied&error_description=User+cancelled" {
		t.Errorf("done after return-error: %q", got.header.Get("Location"))
	}

	// Clock: advance, read; the access token expires.
	r = control(t, s, http.MethodPost, "clock", `{"advance":"15m"}`)
	var now struct{ Now time.Time }
	if r.status != http.StatusOK || json.Unmarshal([]byte(r.body), &now) != nil || !now.Now.Equal(clock.Now().Add(15*time.Minute)) {
		t.Fatalf("clock: %d %s", r.status, r.body)
	}
	r = control(t, s, http.MethodGet, "clock", "")
	if json.Unmarshal([]byte(r.body), &now) != nil || !now.Now.Equal(clock.Now().Add(15*time.Minute)) {
		t.Errorf("GET clock: %s", r.body)
	}
	if got := apiCall(t, s, http.MethodGet, bluenexustest.PathConnections, carol); got.status != http.StatusUnauthorized {
		t.Errorf("after advancing 15m: %d, want 401", got.status)
	}

	// Revoke, stats.
	alice := s.SignIn("alice")
	if r := control(t, s, http.MethodPost, "revoke", `{"user":"alice"}`); r.status != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	if got := apiCall(t, s, http.MethodGet, bluenexustest.PathConnections, alice.AccessToken); got.status != http.StatusUnauthorized {
		t.Errorf("after revoke: %d", got.status)
	}
	tokenCall(t, s, serverBasic(s), refreshForm(bluenexus.RefreshToken(signed.RefreshToken))) // a replay
	r = control(t, s, http.MethodGet, "stats", "")
	var stats struct {
		Hits           map[string]int
		RefreshReplays int
	}
	if r.status != http.StatusOK || json.Unmarshal([]byte(r.body), &stats) != nil || stats.RefreshReplays != 1 ||
		stats.Hits[bluenexustest.PathToken] != 2 || stats.Hits[bluenexustest.PathConnections] != s.Hits(bluenexustest.PathConnections) {
		t.Errorf("stats: %d %s", r.status, r.body)
	}
	for path := range stats.Hits {
		if strings.HasPrefix(path, "/_emulator") {
			t.Errorf("control call %s counted", path)
		}
	}

	// Reset: start-up users come back with their start-up static tokens;
	// the rest is gone and the clock is back.
	static := s.AddUser("alice") // signed in again after the revocation
	if static == start {
		t.Fatalf("AddUser after revoke returned the revoked token")
	}
	if r := control(t, s, http.MethodPost, "reset", ""); r.status != http.StatusNoContent {
		t.Fatalf("reset: %d", r.status)
	}
	if got := apiCall(t, s, http.MethodGet, bluenexustest.PathConnections, carol); got.status != http.StatusUnauthorized {
		t.Errorf("carol after reset: %d", got.status)
	}
	if s.Connections("carol") != nil || s.RefreshReplays() != 0 || s.Hits(bluenexustest.PathToken) != 0 {
		t.Errorf("state survived reset")
	}
	if !s.AdvanceClock(0).Equal(clock.Now()) {
		t.Errorf("clock offset survived reset")
	}
	if again := s.AddUser("alice"); again != start {
		t.Errorf("alice's static token after reset is not the start-up one")
	}
	if got := apiCall(t, s, http.MethodGet, bluenexustest.PathConnections, start); got.status != http.StatusOK {
		t.Errorf("start-up token after reset: %d", got.status)
	}
	if got := apiCall(t, s, http.MethodGet, bluenexustest.PathConnections, static); got.status != http.StatusUnauthorized {
		t.Errorf("a later static token survived reset: %d", got.status)
	}
}

// TestControlAPIErrors pins the JSON error answers of the control API.
func TestControlAPIErrors(t *testing.T) {
	s := newServer(t, bluenexustest.WithControlAPI())
	tests := []struct {
		method, path, body string
		status             int
		field              string
	}{
		{http.MethodPost, "users", `{"name":"a b"}`, 400, "name"},
		{http.MethodPost, "users", `{"name":"carol","extra":1}`, 400, ""},
		{http.MethodPost, "users", ``, 400, ""},
		{http.MethodPost, "users", `{"name":"carol"} {}`, 400, ""},
		{http.MethodPost, "users", `{"name":"` + strings.Repeat("x", 70<<10) + `"}`, 413, ""},
		{http.MethodGet, "users", ``, 405, ""},
		{http.MethodPost, "connections", `{"user":"carol","provider":"Goo gle"}`, 400, "provider"},
		{http.MethodPost, "connections", `{"user":"carol","provider":"google","account":0}`, 400, "account"},
		{http.MethodGet, "connections?user=nobody", ``, 404, ""},
		{http.MethodPost, "faults", `{"path":"init","status":503}`, 400, "path"},
		{http.MethodPost, "faults", `{"path":"/_emulator/faults","status":503,"always":true}`, 400, "path"},
		{http.MethodPost, "faults", `{"path":"/healthz","status":503}`, 400, "path"},
		{http.MethodPost, "faults", `{"path":"/x","status":503,"count":2,"always":true}`, 400, "count"},
		{http.MethodPost, "faults", `{"path":"/x","status":700}`, 400, "status"},
		{http.MethodPost, "faults", `{"path":"/x","latency":"soon"}`, 400, ""},
		{http.MethodPost, "faults", `{"path":"/x"}`, 400, "status"},
		{http.MethodPut, "faults", `{}`, 405, ""},
		{http.MethodPost, "clock", `{"advance":"-1s"}`, 400, "advance"},
		{http.MethodPost, "clock", `{}`, 400, "advance"},
		{http.MethodPost, "clock", `{"advance":31}`, 400, ""},
		{http.MethodPost, "revoke", `{"user":"nobody"}`, 404, ""},
		{http.MethodPost, "return-error", `{}`, 400, "error"},
		{http.MethodPost, "stats", ``, 405, ""},
		{http.MethodGet, "reset", ``, 405, ""},
		{http.MethodGet, "nothing", ``, 404, ""},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			r := control(t, s, tc.method, tc.path, tc.body)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d; body %s", r.status, tc.status, r.body)
			}
			eb := r.errorBody(t)
			if eb.StatusCode != tc.status || eb.Message == "" {
				t.Errorf("body %s", r.body)
			}
			if tc.status == 405 && r.header.Get("Allow") == "" {
				t.Errorf("405 without Allow")
			}
			if tc.field != "" && (len(eb.Errors) != 1 || eb.Errors[0].Field != tc.field) {
				t.Errorf("errors %+v, want one on %s", eb.Errors, tc.field)
			}
		})
	}
	if n := len(s.Connections("carol")); n != 0 {
		t.Errorf("a refused call added %d connections", n)
	}
}

// TestReset pins Reset: the same start-up users and static tokens, nothing
// else.
func TestReset(t *testing.T) {
	clock := newFakeClock()
	s := newServer(t, bluenexustest.WithClock(clock.Now), bluenexustest.WithUser("alice"),
		bluenexustest.WithUserToken("bob", "bnx_fixed_bob_token"), bluenexustest.WithPaginationShape(bluenexustest.PaginationPages))
	alice := s.AddUser("alice")
	s.Connect("alice", "google")
	carol := s.SignIn("carol")
	s.Inject(bluenexustest.PathConnections, bluenexustest.Status(500))
	s.SetPaginationShape(bluenexustest.PaginationHasMore)
	s.AdvanceClock(time.Hour)
	s.ReturnWithError("access_denied", "x")
	s.Reset()

	if got := s.AddUser("alice"); got != alice {
		t.Errorf("alice's static token changed")
	}
	if got := s.AddUser("bob"); got.Reveal() != "bnx_fixed_bob_token" {
		t.Errorf("bob's token %q", got.Reveal())
	}
	if s.Connections("alice") == nil || len(s.Connections("alice")) != 0 || s.Connections("carol") != nil {
		t.Errorf("connections survived: %v %v", s.Connections("alice"), s.Connections("carol"))
	}
	r, lr := list(t, s, alice, nil)
	if r.status != http.StatusOK {
		t.Errorf("list after Reset: %d (the fault survived?)", r.status)
	}
	if _, ok := lr.Pagination["pages"]; !ok {
		t.Errorf("pagination shape not back to the option: %v", lr.Pagination)
	}
	if r := apiCall(t, s, http.MethodGet, bluenexustest.PathConnections, carol.AccessToken); r.status != http.StatusUnauthorized {
		t.Errorf("carol's token survived: %d", r.status)
	}
	if s.Hits(bluenexustest.PathConnections) != 2 {
		t.Errorf("hits = %d, want the 2 calls after Reset", s.Hits(bluenexustest.PathConnections))
	}
	if !s.AdvanceClock(0).Equal(clock.Now()) {
		t.Errorf("clock offset survived")
	}
	b, csrf := startSession(t, s, alice, "https://app.example/r")
	if got := post(t, b, s, bluenexustest.PathWhiteLabelDone, url.Values{"csrf_token": {csrf}}); got.header.Get("Location") != "https://app.example/r" {
		t.Errorf("ReturnWithError survived: %q", got.header.Get("Location"))
	}
}

// TestAdvanceClock moves the clock past the code and token lifetimes on
// top of WithClock, and refuses to go back.
func TestAdvanceClock(t *testing.T) {
	clock := newFakeClock()
	s := newServer(t, bluenexustest.WithClock(clock.Now))
	pair := s.SignIn("alice")
	ir := mustInit(t, s, pair.AccessToken, "https://app.example/r")
	if got := s.AdvanceClock(31 * time.Second); !got.Equal(clock.Now().Add(31 * time.Second)) {
		t.Errorf("AdvanceClock = %v", got)
	}
	if r := openWhiteLabel(t, browser(t), s, ir.Code); r.status != http.StatusGone {
		t.Errorf("code after 31s: %d, want 410", r.status)
	}
	s.AdvanceClock(15 * time.Minute)
	if r := apiCall(t, s, http.MethodGet, bluenexustest.PathConnections, pair.AccessToken); r.status != http.StatusUnauthorized {
		t.Errorf("token after 15m31s: %d, want 401", r.status)
	}
	defer func() {
		if recover() == nil {
			t.Errorf("AdvanceClock(-1s) did not panic")
		}
	}()
	s.AdvanceClock(-time.Second)
}

// TestRequestLog pins WithRequestLog: method, path without the query,
// status (0 for a reset connection) and latency; never a token or code.
func TestRequestLog(t *testing.T) {
	type entry struct {
		method, path string
		status       int
		latency      time.Duration
	}
	var mu sync.Mutex
	var got []entry
	s := newServer(t, bluenexustest.WithControlAPI(), bluenexustest.WithRequestLog(func(method, path string, status int, latency time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, entry{method, path, status, latency})
	}))
	pair := s.SignIn("alice")
	ir := mustInit(t, s, pair.AccessToken, "https://app.example/r?state=SECRETSTATE")
	openWhiteLabel(t, browser(t), s, ir.Code)
	tokenCall(t, s, serverBasic(s), refreshForm(pair.RefreshToken))
	apiCall(t, s, http.MethodGet, bluenexustest.PathConnections+"?limit=5", "bnx_bad")
	control(t, s, http.MethodGet, "stats", "")
	s.Inject("/reset", bluenexustest.ResetAfterRead())
	if _, err := apiClient(t).Get(s.URL() + "/reset"); err == nil {
		t.Errorf("reset fault answered")
	}

	want := []entry{
		{method: "POST", path: bluenexustest.PathHandoffInit, status: 200},
		{method: "GET", path: bluenexustest.PathWhiteLabel, status: 303},
		{method: "POST", path: bluenexustest.PathToken, status: 200},
		{method: "GET", path: bluenexustest.PathConnections, status: 401},
		{method: "GET", path: "/_emulator/stats", status: 200},
		{method: "GET", path: "/reset", status: 0},
	}
	// The client sees the reset connection before the handler that reset
	// it returns and logs: wait for the last entry.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= len(want) || time.Now().After(deadline) {
			break
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != len(want) {
		t.Fatalf("logged %d requests, want %d: %+v", len(got), len(want), got)
	}
	for i, e := range got {
		if e.method != want[i].method || e.path != want[i].path || e.status != want[i].status || e.latency < 0 {
			t.Errorf("entry %d = %+v, want %+v", i, e, want[i])
		}
		for _, secret := range []string{ir.Code, "SECRETSTATE", pair.AccessToken.Reveal(), pair.RefreshToken.Reveal(), "limit"} {
			if strings.Contains(e.path, secret) {
				t.Errorf("entry %d carries a secret or query: %+v", i, e)
			}
		}
	}
}
