package bluenexustest_test

import (
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/bluenexus/bluenexustest"
	"github.com/handoffkit/handoffkit/internal/bnwire"
	"github.com/handoffkit/handoffkit/internal/testkit"
)

// newFakeClock returns a settable clock for WithClock.
func newFakeClock() *testkit.Clock {
	return testkit.NewClock(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))
}

// newServer starts an emulator closed at the end of the test.
func newServer(t testing.TB, opts ...bluenexustest.Option) *bluenexustest.Server {
	t.Helper()
	s := bluenexustest.NewServer(opts...)
	t.Cleanup(s.Close)
	return s
}

// apiClient is an HTTP client that never follows redirects; its idle
// connections close at the end of the test.
func apiClient(t testing.TB) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       10 * time.Second,
	}
}

// browser is a cookie-keeping client that never follows redirects, so each
// hop can be checked.
func browser(t testing.TB) *http.Client {
	c := apiClient(t)
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Jar = jar
	return c
}

type response struct {
	status int
	header http.Header
	body   string
}

func (r response) errorBody(t testing.TB) bnwire.ErrorBody {
	t.Helper()
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type = %q, want JSON; body %s", ct, r.body)
	}
	var eb bnwire.ErrorBody
	if err := json.Unmarshal([]byte(r.body), &eb); err != nil {
		t.Fatalf("error body %q: %v", r.body, err)
	}
	return eb
}

func do(t testing.TB, c *http.Client, req *http.Request) response {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

func newRequest(t testing.TB, method, url string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// initRequest builds a handoff init call; header pairs follow.
func initRequest(t testing.TB, s *bluenexustest.Server, token bluenexus.AccessToken, body string, headers ...string) *http.Request {
	t.Helper()
	req := newRequest(t, http.MethodPost, s.URL()+bluenexustest.PathHandoffInit, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token.Reveal())
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	return req
}

func initBody(redirectURI string) string {
	b, _ := json.Marshal(map[string]string{"redirectUri": redirectURI, "intent": "connections"})
	return string(b)
}

type initResult struct {
	Code      string `json:"code"`
	ExpiresAt string `json:"expiresAt"`
}

// mustInit mints a code for redirectURI and fails the test otherwise.
func mustInit(t testing.TB, s *bluenexustest.Server, token bluenexus.AccessToken, redirectURI string, headers ...string) initResult {
	t.Helper()
	r := do(t, apiClient(t), initRequest(t, s, token, initBody(redirectURI), headers...))
	if r.status != http.StatusOK {
		t.Fatalf("init: status %d, body %s", r.status, r.body)
	}
	var ir initResult
	if err := json.Unmarshal([]byte(r.body), &ir); err != nil || ir.Code == "" {
		t.Fatalf("init body %q: %v", r.body, err)
	}
	return ir
}

// openWhiteLabel opens the white-label link for code in b.
func openWhiteLabel(t testing.TB, b *http.Client, s *bluenexustest.Server, code string) response {
	t.Helper()
	return do(t, b, newRequest(t, http.MethodGet, s.WhiteLabelURL()+"?code="+url.QueryEscape(code), nil))
}

// getPage fetches the session page in b.
func getPage(t testing.TB, b *http.Client, s *bluenexustest.Server) response {
	t.Helper()
	return do(t, b, newRequest(t, http.MethodGet, s.URL()+bluenexustest.PathWhiteLabelSession, nil))
}

// startSession mints a code and exchanges it in a new browser, returning
// the browser and the session page's CSRF token.
func startSession(t testing.TB, s *bluenexustest.Server, token bluenexus.AccessToken, redirectURI string) (*http.Client, string) {
	t.Helper()
	b := browser(t)
	ir := mustInit(t, s, token, redirectURI)
	if r := openWhiteLabel(t, b, s, ir.Code); r.status != http.StatusSeeOther {
		t.Fatalf("open white-label: status %d, body %s", r.status, r.body)
	}
	page := getPage(t, b, s)
	if page.status != http.StatusOK {
		t.Fatalf("session page: status %d", page.status)
	}
	return b, csrfToken(t, page.body)
}

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

func csrfToken(t testing.TB, page string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token in page:\n%s", page)
	}
	return html.UnescapeString(m[1])
}

// post submits a white-label form.
func post(t testing.TB, b *http.Client, s *bluenexustest.Server, path string, form url.Values) response {
	t.Helper()
	req := newRequest(t, http.MethodPost, s.URL()+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return do(t, b, req)
}

// apiGet calls a connections endpoint with token.
func apiCall(t testing.TB, s *bluenexustest.Server, method, path string, token bluenexus.AccessToken) response {
	t.Helper()
	req := newRequest(t, method, s.URL()+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token.Reveal())
	}
	return do(t, apiClient(t), req)
}
