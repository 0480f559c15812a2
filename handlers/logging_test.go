package handlers_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/handlers"
	"github.com/handoffkit/handoffkit/internal/testkit"
	"github.com/handoffkit/handoffkit/middleware"
	"github.com/handoffkit/handoffkit/session"
)

// newKitOnStderrPipe builds a kit with the default logger while os.Stderr
// is a pipe (the default logger takes os.Stderr at New), and restores
// os.Stderr at once. stderr returns what the kit wrote there; call it once,
// after the requests.
func newKitOnStderrPipe(t *testing.T, cfg handlers.Config, opts ...handlers.Option) (kit *handlers.Kit, stderr func() string) {
	t.Helper()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		io.Copy(&buf, pr)
	}()
	saved := os.Stderr
	os.Stderr = pw
	kit, err = handlers.New(cfg, opts...)
	os.Stderr = saved
	closed := false
	t.Cleanup(func() {
		if !closed {
			pw.Close()
			<-copied
		}
		pr.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
	return kit, func() string {
		pw.Close()
		closed = true
		<-copied
		return buf.String()
	}
}

// TestDefaultLoggerIsHeard: without WithLogger the kit logs JSON to stderr
// at Warn, so a misconfiguration is heard: a request with no client IP
// (middleware.ClientIP not mounted) writes one Warn line naming no_client_ip
// and pointing at the fix; what the user did (a replayed return, no token)
// and what went well are Info, and write nothing.
func TestDefaultLoggerIsHeard(t *testing.T) {
	stub := newUpstreamStub(t, "")
	client, err := bluenexus.NewClient(bluenexus.WithBaseURL(stub.URL()))
	if err != nil {
		t.Fatal(err)
	}
	token := bluenexus.AccessToken("tok-default-logger-1")
	kit, stderr := newKitOnStderrPipe(t, handlers.Config{
		WhiteLabelURL: "https://connect.example.com/white-label",
		ReturnURL:     "https://app.example.com/connections/return",
		CookieKeys:    []session.KeyPair{testKeys},
		User:          func(*http.Request) (string, bool) { return "alice", true },
		AccessToken: func(r *http.Request) (bluenexus.AccessToken, bool) {
			return token, r.Header.Get(hdrNoToken) == ""
		},
	}, handlers.WithClient(client))
	b := testkit.NewBrowser()
	serve := func(h http.Handler, r *http.Request, want int) {
		t.Helper()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		b.Keep(rec)
		if rec.Code != want {
			t.Fatalf("%s %s: status %d, want %d: %s", r.Method, r.URL.Path, rec.Code, want, rec.Body.String())
		}
	}
	const manageURL = "https://app.example.com/manage-connections"

	// No ClientIP middleware in front of the kit: no client IP.
	serve(kit.ManageConnections(), b.Request(http.MethodGet, manageURL), http.StatusBadRequest)

	// Mounted properly: a flow, its return, and a replay of the return.
	manage := middleware.ClientIP(middleware.RemoteAddrStrategy())(kit.ManageConnections())
	serve(manage, b.Request(http.MethodGet, manageURL+"?next=/settings"), http.StatusFound)
	back := "https://app.example.com/connections/return?state=" + stub.lastState(t)
	serve(kit.Return(), b.Request(http.MethodGet, back), http.StatusSeeOther)
	serve(kit.Return(), b.Request(http.MethodGet, back), http.StatusForbidden)
	noToken := b.Request(http.MethodGet, manageURL)
	noToken.Header.Set(hdrNoToken, "1")
	serve(manage, noToken, http.StatusUnauthorized)

	out := stderr()
	lines := rigLogEvents(t, out, "")
	if len(lines) != 1 {
		t.Fatalf("stderr has %d lines, want exactly the no_client_ip one:\n%s", len(lines), out)
	}
	ev := lines[0]
	if ev["level"] != "warn" || ev["event"] != "handoff.failed" || ev["outcome"] != "no_client_ip" || ev["component"] != "handoffkit" {
		t.Errorf("stderr line %v: want a warn handoff.failed no_client_ip from component handoffkit", ev)
	}
	if hint, _ := ev["hint"].(string); !strings.Contains(hint, "middleware.ClientIP") || !strings.Contains(hint, "docs/client-ip.md") {
		t.Errorf("hint %q, want one naming middleware.ClientIP and docs/client-ip.md", hint)
	}
	if _, ok := ev["time"]; !ok {
		t.Errorf("stderr line %v has no timestamp", ev)
	}
	if strings.Contains(out, token.Reveal()) || strings.Contains(out, stub.lastState(t)) {
		t.Errorf("stderr carries a token or a state: %s", out)
	}
}
