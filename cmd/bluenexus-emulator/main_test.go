package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/bluenexus/bluenexustest"
	"github.com/handoffkit/handoffkit/internal/testkit"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// running is the command started by startRun.
type running struct {
	env    map[string]string
	base   string
	stderr *testkit.SyncBuffer
	client *http.Client
	stop   func()
}

// startRun starts the command on a random port with args, reads the
// printed configuration up to the last user's refresh token, and stops the
// command at the end of the test by cancelling its context as SIGINT
// would, checking that it stopped cleanly.
func startRun(t *testing.T, lastUser string, args ...string) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	rn := &running{env: map[string]string{}, stderr: &testkit.SyncBuffer{}}
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, append([]string{"-addr", "127.0.0.1:0"}, args...), pw, rn.stderr)
		pw.Close()
	}()
	last := "BLUENEXUS_REFRESH_TOKEN_" + lastUser
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), "=")
		rn.env[k] = v
		if k == last {
			break
		}
	}
	go io.Copy(io.Discard, pr)
	rn.base = rn.env["BLUENEXUS_API_BASE"]
	tr := &http.Transport{}
	rn.client = &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	stopped := false
	rn.stop = func() {
		if stopped {
			return
		}
		stopped = true
		tr.CloseIdleConnections()
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("run did not stop")
		}
	}
	t.Cleanup(rn.stop)
	if rn.base == "" {
		rn.stop()
		t.Fatalf("printed %v; stderr %s", rn.env, rn.stderr.String())
	}
	return rn
}

// call sends a request with an optional bearer token and JSON body.
func (rn *running) call(t *testing.T, method, path, token, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, rn.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := rn.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

const initJSON = `{"redirectUri":"https://app.example/r","intent":"connections"}`

// TestRunServesAndStops starts the command, reads the printed
// configuration, calls the API with a fixed token, and stops it.
func TestRunServesAndStops(t *testing.T) {
	rn := startRun(t, "CAROL_X",
		"-users", "alice, bob",
		"-tokens", "alice=bnx_fixed_alice_token",
		"-connections", "alice:google,alice:notion,carol.x:slack",
		"-fault", "init=503@2s,delay:10ms+500",
		"-fault-always", "/api/v1/connections/nope=418",
		"-pagination-shape", "pages",
	)
	env, base := rn.env, rn.base
	if !strings.HasPrefix(base, "http://127.0.0.1:") || env["BLUENEXUS_WHITE_LABEL_URL"] != base+"/white-label" || env["BLUENEXUS_CONTROL_URL"] != base+"/_emulator" {
		t.Fatalf("printed %v", env)
	}
	if env["BLUENEXUS_CLIENT_ID"] != "bluenexus-emulator" || env["BLUENEXUS_CLIENT_SECRET"] != "bluenexus-emulator-secret" {
		t.Errorf("client %q %q", env["BLUENEXUS_CLIENT_ID"], env["BLUENEXUS_CLIENT_SECRET"])
	}
	if env["BLUENEXUS_TOKEN_ALICE"] != "bnx_fixed_alice_token" || !strings.HasPrefix(env["BLUENEXUS_TOKEN_BOB"], bluenexustest.TokenPrefix) || env["BLUENEXUS_TOKEN_CAROL_X"] == "" {
		t.Errorf("tokens %v", env)
	}
	for _, u := range []string{"ALICE", "BOB", "CAROL_X"} {
		if rt := env["BLUENEXUS_REFRESH_TOKEN_"+u]; rt == "" || rt == env["BLUENEXUS_TOKEN_"+u] {
			t.Errorf("refresh token of %s: %q", u, rt)
		}
	}

	alice := env["BLUENEXUS_TOKEN_ALICE"]
	for i, want := range []int{503, 500, 200} {
		if resp, body := rn.call(t, http.MethodPost, bluenexustest.PathHandoffInit, alice, initJSON); resp.StatusCode != want {
			t.Errorf("init %d: %d, want %d: %s", i, resp.StatusCode, want, body)
		} else if i == 0 && resp.Header.Get("Retry-After") != "2" {
			t.Errorf("Retry-After %q", resp.Header.Get("Retry-After"))
		}
	}
	if resp, _ := rn.call(t, http.MethodGet, bluenexustest.PathConnections+"/nope", alice, ""); resp.StatusCode != 418 {
		t.Errorf("sticky fault: %d", resp.StatusCode)
	}
	if _, body := rn.call(t, http.MethodGet, bluenexustest.PathConnections, alice, ""); !strings.Contains(body, `"total":2,"pages":1`) {
		t.Errorf("list: %s", body)
	}
	if resp, body := rn.call(t, http.MethodGet, bluenexustest.PathHealth, "", ""); resp.StatusCode != 200 || body != "ok" {
		t.Errorf("healthz: %d %q", resp.StatusCode, body)
	}

	rn.stop()
	if !strings.Contains(rn.stderr.String(), "stopped") {
		t.Errorf("stderr %q", rn.stderr.String())
	}
}

// TestRunTokens: the printed access token expires after -token-ttl on the
// emulator's clock (moved by the control API), and the printed refresh
// token buys a new pair from the real client, authenticated with the
// printed client id and secret; a replay is refused and counted.
func TestRunTokens(t *testing.T) {
	rn := startRun(t, "ALICE", "-users", "alice", "-token-ttl", "2m", "-client-id", "ci-app", "-client-secret", "ci-secret")
	if rn.env["BLUENEXUS_CLIENT_ID"] != "ci-app" || rn.env["BLUENEXUS_CLIENT_SECRET"] != "ci-secret" {
		t.Fatalf("client %v", rn.env)
	}
	access := rn.env["BLUENEXUS_TOKEN_ALICE"]
	if resp, _ := rn.call(t, http.MethodGet, bluenexustest.PathConnections, access, ""); resp.StatusCode != 200 {
		t.Fatalf("fresh token: %d", resp.StatusCode)
	}
	if resp, body := rn.call(t, http.MethodPost, "/_emulator/clock", "", `{"advance":"2m"}`); resp.StatusCode != 200 || !strings.Contains(body, `"now"`) {
		t.Fatalf("clock: %d %s", resp.StatusCode, body)
	}
	if resp, body := rn.call(t, http.MethodGet, bluenexustest.PathConnections, access, ""); resp.StatusCode != 401 || !strings.Contains(body, "UnauthorizedError") {
		t.Fatalf("expired token: %d %s", resp.StatusCode, body)
	}

	ctx := context.Background()
	c, err := bluenexus.NewClient(bluenexus.WithBaseURL(rn.base), bluenexus.WithClientCredentials(rn.env["BLUENEXUS_CLIENT_ID"], rn.env["BLUENEXUS_CLIENT_SECRET"]))
	if err != nil {
		t.Fatal(err)
	}
	rt := bluenexus.RefreshToken(rn.env["BLUENEXUS_REFRESH_TOKEN_ALICE"])
	tok, err := c.Refresh(ctx, rt)
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if tok.Expiry.Sub(time.Now()) > 2*time.Minute+time.Second {
		t.Errorf("expiry %v, want within -token-ttl", tok.Expiry)
	}
	if _, err := c.InitHandoff(ctx, tok.AccessToken, bluenexus.HandoffRequest{RedirectURI: "https://app.example/r", Intent: bluenexus.IntentConnections}); err != nil {
		t.Errorf("init with the refreshed token: %v", err)
	}
	if _, err := c.Refresh(ctx, rt); !errors.Is(err, bluenexus.ErrReauthRequired) {
		t.Errorf("replay: %v, want ErrReauthRequired", err)
	}
	if _, body := rn.call(t, http.MethodGet, "/_emulator/stats", "", ""); !strings.Contains(body, `"refreshReplays":1`) || !strings.Contains(body, `"/api/v1/auth/token":2`) {
		t.Errorf("stats: %s", body)
	}
}

// TestRunControlAPI drives the control API of the command: create a user,
// connect, fault, reset; and -control-api=false turns it off.
func TestRunControlAPI(t *testing.T) {
	rn := startRun(t, "ALICE", "-users", "alice")
	resp, body := rn.call(t, http.MethodPost, "/_emulator/users", "", `{"name":"carol"}`)
	var carol struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		ExpiresIn    int    `json:"expires_in"`
	}
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &carol) != nil || carol.AccessToken == "" || carol.RefreshToken == "" || carol.ExpiresIn != 900 {
		t.Fatalf("users: %d %s", resp.StatusCode, body)
	}
	if resp, body := rn.call(t, http.MethodPost, "/_emulator/connections", "", `{"user":"carol","provider":"github"}`); resp.StatusCode != 200 || !strings.Contains(body, `"providerId":"github"`) {
		t.Fatalf("connections: %d %s", resp.StatusCode, body)
	}
	if _, body := rn.call(t, http.MethodGet, bluenexustest.PathConnections, carol.AccessToken, ""); !strings.Contains(body, "carol+github@example.com") {
		t.Errorf("list: %s", body)
	}
	if resp, body := rn.call(t, http.MethodPost, "/_emulator/faults", "", `{"path":"/api/v1/auth/handoff/init","status":429,"retryAfter":"3s"}`); resp.StatusCode != 204 {
		t.Fatalf("faults: %d %s", resp.StatusCode, body)
	}
	if resp, _ := rn.call(t, http.MethodPost, bluenexustest.PathHandoffInit, carol.AccessToken, initJSON); resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "3" {
		t.Errorf("faulted init: %d %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if resp, _ := rn.call(t, http.MethodPost, "/_emulator/reset", "", ""); resp.StatusCode != 204 {
		t.Fatalf("reset: %d", resp.StatusCode)
	}
	if resp, _ := rn.call(t, http.MethodGet, bluenexustest.PathConnections, carol.AccessToken, ""); resp.StatusCode != 401 {
		t.Errorf("carol after reset: %d", resp.StatusCode)
	}

	off := startRun(t, "ALICE", "-users", "alice", "-control-api=false")
	if _, ok := off.env["BLUENEXUS_CONTROL_URL"]; ok {
		t.Errorf("printed a control URL with the control API off")
	}
	if resp, _ := off.call(t, http.MethodPost, "/_emulator/users", "", `{"name":"carol"}`); resp.StatusCode != 404 {
		t.Errorf("control API off: %d", resp.StatusCode)
	}
	if resp, _ := off.call(t, http.MethodGet, bluenexustest.PathHealth, "", ""); resp.StatusCode != 200 {
		t.Errorf("healthz with the control API off: %d", resp.StatusCode)
	}
}

// TestRunLogRequests: -log-requests writes one JSON object a line with
// method, path, status and latency_ms, and never a query, token or body.
func TestRunLogRequests(t *testing.T) {
	rn := startRun(t, "ALICE", "-users", "alice", "-log-requests")
	access := rn.env["BLUENEXUS_TOKEN_ALICE"]
	_, body := rn.call(t, http.MethodPost, bluenexustest.PathHandoffInit, access, `{"redirectUri":"https://app.example/r?state=SECRETSTATE","intent":"connections"}`)
	var code struct{ Code string }
	if json.Unmarshal([]byte(body), &code) != nil || code.Code == "" {
		t.Fatalf("init: %s", body)
	}
	rn.call(t, http.MethodGet, bluenexustest.PathWhiteLabel+"?code="+code.Code, "", "")
	rn.call(t, http.MethodGet, bluenexustest.PathConnections+"?limit=5", access, "")
	rn.stop()

	type line struct {
		Level     string   `json:"level"`
		Method    string   `json:"method"`
		Path      string   `json:"path"`
		Status    int      `json:"status"`
		LatencyMS *float64 `json:"latency_ms"`
		Time      string   `json:"time"`
	}
	var got []line
	for _, l := range strings.Split(rn.stderr.String(), "\n") {
		if !strings.HasPrefix(l, "{") {
			continue
		}
		var ln line
		if err := json.Unmarshal([]byte(l), &ln); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		got = append(got, ln)
		for _, secret := range []string{access, code.Code, "SECRETSTATE", "limit=", "redirectUri"} {
			if strings.Contains(l, secret) {
				t.Errorf("log line carries %q: %s", secret, l)
			}
		}
	}
	want := []line{
		{Method: "POST", Path: bluenexustest.PathHandoffInit, Status: 200},
		{Method: "GET", Path: bluenexustest.PathWhiteLabel, Status: 303},
		{Method: "GET", Path: bluenexustest.PathConnections, Status: 200},
	}
	if len(got) != len(want) {
		t.Fatalf("logged %+v, want %d lines", got, len(want))
	}
	for i, g := range got {
		if g.Method != want[i].Method || g.Path != want[i].Path || g.Status != want[i].Status || g.LatencyMS == nil || *g.LatencyMS < 0 || g.Time == "" || g.Level != "info" {
			t.Errorf("line %d = %+v, want %+v", i, g, want[i])
		}
	}
}

// TestRunFlagsReachTheEmulator: -rate-limit and -allowed-domains.
func TestRunFlagsReachTheEmulator(t *testing.T) {
	rn := startRun(t, "ALICE", "-users", "alice", "-rate-limit", "-allowed-domains", "myapp.com,*.myapp.dev")
	access := rn.env["BLUENEXUS_TOKEN_ALICE"]
	for _, tc := range []struct {
		uri  string
		want int
	}{{"https://myapp.com/r", 200}, {"https://eu.myapp.dev/r", 200}, {"https://app.example/r", 400}, {"yourapp://connections", 200}} {
		if resp, body := rn.call(t, http.MethodPost, bluenexustest.PathHandoffInit, access, `{"redirectUri":"`+tc.uri+`","intent":"connections"}`); resp.StatusCode != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.uri, resp.StatusCode, body, tc.want)
		}
	}
	form := "grant_type=refresh_token&refresh_token=bnxr_unknown&client_id=bluenexus-emulator&client_secret=bluenexus-emulator-secret"
	statuses := map[int]int{}
	for range 11 {
		req, _ := http.NewRequest(http.MethodPost, rn.base+bluenexustest.PathToken, strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := rn.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		statuses[resp.StatusCode]++
	}
	if statuses[400] != 10 || statuses[429] != 1 {
		t.Errorf("token endpoint statuses %v, want 10 x 400 then 429", statuses)
	}
}

// TestRunTokenVariants: -token-variants (repeatable) reaches the token
// endpoint and the control API.
func TestRunTokenVariants(t *testing.T) {
	rn := startRun(t, "ALICE", "-users", "alice", "-token-variants", "no-rotation, lowercase-token-type", "-token-variants", "form-errors,reuse-grace:5s")
	want := `{"noRotation":true,"noExpiresIn":false,"lowercaseTokenType":true,"formErrors":true,"invalidClient":false,"reuseGrace":"5s"}`
	if resp, body := rn.call(t, http.MethodGet, "/_emulator/token-variants", "", ""); resp.StatusCode != 200 || body != want {
		t.Errorf("GET token-variants: %d %s, want %s", resp.StatusCode, body, want)
	}
	if !strings.Contains(rn.stderr.String(), "token variants no-rotation,lowercase-token-type,form-errors,reuse-grace:5s") {
		t.Errorf("stderr %q does not name the variants", rn.stderr.String())
	}
	refresh := func(rt string) (*http.Response, string) {
		form := "grant_type=refresh_token&refresh_token=" + rt + "&client_id=bluenexus-emulator&client_secret=bluenexus-emulator-secret"
		req, _ := http.NewRequest(http.MethodPost, rn.base+bluenexustest.PathToken, strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := rn.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	for range 2 { // no rotation: the printed refresh token keeps working
		resp, body := refresh(rn.env["BLUENEXUS_REFRESH_TOKEN_ALICE"])
		var m map[string]any
		if err := json.Unmarshal([]byte(body), &m); err != nil || resp.StatusCode != 200 || m["token_type"] != "bearer" || m["refresh_token"] != nil {
			t.Errorf("refresh: %d %s", resp.StatusCode, body)
		}
	}
	resp, body := refresh("bnxr_unknown")
	if resp.StatusCode != 400 || resp.Header.Get("Content-Type") != "application/x-www-form-urlencoded" || !strings.HasPrefix(body, "error=invalid_grant&error_description=") {
		t.Errorf("error: %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
}

// TestHelpExitsZero: -h prints the usage and exits 0; a bad flag exits 2
// and a refused value 1.
func TestHelpExitsZero(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-h"}, 0, "-token-ttl"},
		{[]string{"-help"}, 0, "-client-secret"},
		{[]string{"-nope"}, 2, "flag provided but not defined"},
		{[]string{"-tokens", "alice"}, 2, "-tokens"},
		{[]string{"-token-ttl", "0s"}, 1, "WithTokenTTL"},
		{[]string{"-token-variants", "no-rotation,rotation"}, 2, "-token-variants"},
		{[]string{"-token-variants", "reuse-grace:0s"}, 2, "-token-variants"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errb testkit.SyncBuffer
			code := exitCode(run(context.Background(), append([]string{"-addr", "127.0.0.1:0"}, tc.args...), &out, &errb), &errb)
			if code != tc.code || !strings.Contains(errb.String(), tc.want) {
				t.Errorf("exit %d, want %d; stderr %q, want it to mention %q", code, tc.code, errb.String(), tc.want)
			}
			if out.String() != "" {
				t.Errorf("stdout %q", out.String())
			}
			if strings.Count(errb.String(), "flag provided but not defined") > 1 {
				t.Errorf("error printed twice: %q", errb.String())
			}
		})
	}
}

// TestFlagDefaultsMatchTheEmulator keeps the command's client defaults in
// step with bluenexustest's.
func TestFlagDefaultsMatchTheEmulator(t *testing.T) {
	s := bluenexustest.NewServer()
	defer s.Close()
	if id, secret := s.ClientCredentials(); id != defaultClientID || secret != defaultClientSecret {
		t.Errorf("emulator defaults %q %q, command %q %q", id, secret, defaultClientID, defaultClientSecret)
	}
}

// TestRunRejectsBadFlags fails before listening, naming the flag.
func TestRunRejectsBadFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"bad token pair", []string{"-tokens", "alice"}, "-tokens"},
		{"short token", []string{"-tokens", "alice=x"}, "token"},
		{"bad connection", []string{"-connections", "alice"}, "-connections"},
		{"bad provider", []string{"-connections", "alice:Goo gle"}, "-connections"},
		{"bad user", []string{"-users", "a b"}, "user name"},
		{"bad fault path", []string{"-fault", "nowhere=503"}, "path"},
		{"bad fault spec", []string{"-fault", "init=teapot"}, "not a fault"},
		{"bad delay", []string{"-fault", "init=delay:soon"}, "delay"},
		{"two sticky", []string{"-fault-always", "init=503,500"}, "exactly one"},
		{"bad shape", []string{"-pagination-shape", "cursor"}, "WithPaginationShape"},
		{"bad ttl", []string{"-code-ttl", "0s"}, "WithCodeTTL"},
		{"stray argument", []string{"serve"}, "unexpected"},
		{"bad token TTL", []string{"-token-ttl", "10ms"}, "WithTokenTTL"},
		{"bad refresh TTL", []string{"-refresh-ttl", "0s"}, "WithRefreshTTL"},
		{"empty client id", []string{"-client-id", ""}, "WithClientCredentials"},
		{"bad domain", []string{"-allowed-domains", "https://myapp.com"}, "WithAllowedDomains"},
		{"bad token variant", []string{"-token-variants", "keep-token"}, "token variant"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb testkit.SyncBuffer
			err := run(context.Background(), append([]string{"-addr", "127.0.0.1:0"}, tc.args...), &out, &errb)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
			if out.String() != "" {
				t.Errorf("printed %q before failing", out.String())
			}
		})
	}
}

// TestParseFault pins the -fault spec grammar.
func TestParseFault(t *testing.T) {
	tests := map[string]bluenexustest.Fault{
		"503":                        bluenexustest.Status(503),
		"429@1500ms":                 bluenexustest.RetryAfter(429, 1500*time.Millisecond),
		"delay:2s":                   bluenexustest.Latency(2 * time.Second),
		"delay:2s+503":               {Latency: 2 * time.Second, Status: 503},
		"malformed":                  bluenexustest.MalformedJSON(),
		"oversize:1048576":           bluenexustest.OversizedBody(1 << 20),
		"html":                       bluenexustest.WrongContentType(),
		"reset":                      bluenexustest.ResetAfterRead(),
		"redirect:https://x.example": bluenexustest.RedirectTo("https://x.example"),
	}
	for spec, want := range tests {
		got, err := parseFault(spec)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("parseFault(%q) = %+v, %v; want %+v", spec, got, err, want)
		}
	}
	if path, fl, err := parseFaultFlag("token=429@1s,503"); err != nil || path != bluenexustest.PathToken || len(fl) != 2 {
		t.Errorf("token alias: %q %v %v", path, fl, err)
	}
	for _, bad := range []string{"", "99", "600", "503@", "503@-1s", "oversize:0", "redirect:", "delay:0s", "boom"} {
		if _, err := parseFault(bad); err == nil {
			t.Errorf("parseFault(%q) accepted", bad)
		}
	}
}
