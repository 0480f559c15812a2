package main

import (
	"bufio"
	"context"
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

// TestRunServesAndStops starts the command on a random port, reads the
// printed configuration, calls the API with a fixed token, and stops it by
// cancelling the context as SIGINT would.
func TestRunServesAndStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	var stderr testkit.SyncBuffer
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, []string{
			"-addr", "127.0.0.1:0",
			"-users", "alice, bob",
			"-tokens", "alice=bnx_fixed_alice_token",
			"-connections", "alice:google,alice:notion,carol.x:slack",
			"-fault", "init=503@2s,delay:10ms+500",
			"-fault-always", "/api/v1/connections/nope=418",
			"-pagination-shape", "pages",
		}, pw, &stderr)
		pw.Close()
	}()

	env := map[string]string{}
	sc := bufio.NewScanner(pr)
	for len(env) < 5 && sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), "=")
		env[k] = v
	}
	go io.Copy(io.Discard, pr)
	base := env["BLUENEXUS_API_BASE"]
	if !strings.HasPrefix(base, "http://127.0.0.1:") || env["BLUENEXUS_WHITE_LABEL_URL"] != base+"/white-label" {
		t.Fatalf("printed %v", env)
	}
	if env["BLUENEXUS_TOKEN_ALICE"] != "bnx_fixed_alice_token" || !strings.HasPrefix(env["BLUENEXUS_TOKEN_BOB"], bluenexustest.TokenPrefix) || env["BLUENEXUS_TOKEN_CAROL_X"] == "" {
		t.Errorf("tokens %v", env)
	}

	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	call := func(method, path, token string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(`{"redirectUri":"https://app.example/r","intent":"connections"}`))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	alice := env["BLUENEXUS_TOKEN_ALICE"]
	for i, want := range []int{503, 500, 200} {
		if resp := call(http.MethodPost, bluenexus.PathHandoffInit, alice); resp.StatusCode != want {
			t.Errorf("init %d: %d, want %d", i, resp.StatusCode, want)
		} else if i == 0 && resp.Header.Get("Retry-After") != "2" {
			t.Errorf("Retry-After %q", resp.Header.Get("Retry-After"))
		}
	}
	if resp := call(http.MethodGet, bluenexus.PathConnections+"/nope", alice); resp.StatusCode != 418 {
		t.Errorf("sticky fault: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodGet, base+bluenexus.PathConnections, nil)
	req.Header.Set("Authorization", "Bearer "+alice)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"total":2,"pages":1`) {
		t.Errorf("list: %s", body)
	}

	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not stop")
	}
	if !strings.Contains(stderr.String(), "stopped") {
		t.Errorf("stderr %q", stderr.String())
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
	for _, bad := range []string{"", "99", "600", "503@", "503@-1s", "oversize:0", "redirect:", "delay:0s", "boom"} {
		if _, err := parseFault(bad); err == nil {
			t.Errorf("parseFault(%q) accepted", bad)
		}
	}
}
