package bluenexus

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/handoffkit/handoffkit/internal/bnwire"
)

const (
	testRefresh RefreshToken = "rt-test-0123456789"
	okToken                  = `{"token_type":"Bearer","access_token":"at-new","expires_in":900,` +
		`"refresh_token":"rt-new","refresh_expires_in":604800,"scope":"connections profile"}`
)

// tokenRequest is what a fake token endpoint saw.
type tokenRequest struct {
	method, path, ctype, accept, ua string
	auth                            string // raw Authorization header
	basicID, basicSecret            string // form-decoded Basic credentials
	form                            url.Values
	clientIP                        []string
}

// tokenFake serves the token endpoint with h and records each request.
func tokenFake(t *testing.T, h http.HandlerFunc) (*fake, <-chan tokenRequest) {
	t.Helper()
	seen := make(chan tokenRequest, 10)
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		tr := tokenRequest{method: r.Method, path: r.URL.Path, ctype: r.Header.Get("Content-Type"),
			accept: r.Header.Get("Accept"), ua: r.Header.Get("User-Agent"), auth: r.Header.Get("Authorization"),
			clientIP: r.Header.Values("X-Forwarded-For")}
		if id, secret, ok := r.BasicAuth(); ok {
			tr.basicID, _ = url.QueryUnescape(id)
			tr.basicSecret, _ = url.QueryUnescape(secret)
		}
		b, _ := io.ReadAll(r.Body)
		tr.form, _ = url.ParseQuery(string(b))
		select {
		case seen <- tr:
		default:
		}
		h(w, r)
	})
	return f, seen
}

func okTokenHandler(w http.ResponseWriter, r *http.Request) { reply(w, 200, okToken) }

// TestRefresh_ConfidentialClient: HTTP Basic with the form-encoded id and
// secret (RFC 6749 2.3.1), neither in the body; the documented form; the
// decoded Token with expiries counted from the send time.
func TestRefresh_ConfidentialClient(t *testing.T) {
	f, seen := tokenFake(t, okTokenHandler)
	c := newTestClient(t, f.URL, WithClientCredentials("my app", "s3:cr+t/é"))
	sent := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	c.now = func() time.Time { return sent }
	tok, err := c.Refresh(context.Background(), testRefresh)
	if err != nil {
		t.Fatal(err)
	}
	want := Token{AccessToken: "at-new", RefreshToken: "rt-new", Expiry: sent.Add(900 * time.Second),
		RefreshExpiry: sent.Add(7 * 24 * time.Hour), Scope: "connections profile"}
	if tok.AccessToken.Reveal() != "at-new" || tok.RefreshToken.Reveal() != "rt-new" || !tok.Expiry.Equal(want.Expiry) ||
		!tok.RefreshExpiry.Equal(want.RefreshExpiry) || tok.Scope != want.Scope {
		t.Errorf("token %q %q %v %v %q", tok.AccessToken.Reveal(), tok.RefreshToken.Reveal(), tok.Expiry, tok.RefreshExpiry, tok.Scope)
	}
	r := <-seen
	if r.method != "POST" || r.path != bnwire.PathToken || r.ctype != "application/x-www-form-urlencoded" ||
		r.accept != "application/json" || r.ua != userAgent || len(r.clientIP) != 0 {
		t.Errorf("request %+v", r)
	}
	if !strings.HasPrefix(r.auth, "Basic ") || r.basicID != "my app" || r.basicSecret != "s3:cr+t/é" {
		t.Errorf("Authorization %q decodes to %q:%q", r.auth, r.basicID, r.basicSecret)
	}
	wantForm := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {testRefresh.Reveal()}}
	if r.form.Encode() != wantForm.Encode() {
		t.Errorf("form %v, want %v (no client_id or client_secret for a confidential client)", r.form, wantForm)
	}
	if f.hits.Load() != 1 {
		t.Errorf("%d hits", f.hits.Load())
	}
}

// TestRefresh_PublicClient: no Authorization header, client_id in the form,
// never a client_secret.
func TestRefresh_PublicClient(t *testing.T) {
	f, seen := tokenFake(t, okTokenHandler)
	c := newTestClient(t, f.URL, WithClientCredentials("public-app&x=y", ""))
	if _, err := c.Refresh(context.Background(), "rt with space+plus&amp"); err != nil {
		t.Fatal(err)
	}
	r := <-seen
	if r.auth != "" {
		t.Errorf("Authorization %q for a public client", r.auth)
	}
	want := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"rt with space+plus&amp"}, "client_id": {"public-app&x=y"}}
	if r.form.Encode() != want.Encode() || r.form.Has("client_secret") {
		t.Errorf("form %v, want %v", r.form, want)
	}
}

func TestRefresh_InvalidArgumentsFailBeforeIO(t *testing.T) {
	f, _ := tokenFake(t, okTokenHandler)
	tests := []struct {
		name string
		opts []Option
		rt   RefreshToken
		want string
	}{
		{"no credentials", nil, testRefresh, "no client credentials: configure WithClientCredentials"},
		{"empty refresh token", []Option{WithClientCredentials("app", "")}, "", "empty refresh token"},
		{"newline in refresh token", []Option{WithClientCredentials("app", "s")}, "rt-CANARY\nx", "outside printable ASCII"},
		{"non-ASCII refresh token", []Option{WithClientCredentials("app", "s")}, "rt-CANARY-é", "outside printable ASCII"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestClient(t, f.URL, tc.opts...)
			_, err := c.Refresh(context.Background(), tc.rt)
			if !isArgumentError(err, "Refresh") || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "CANARY") {
				t.Errorf("error %v, want an argument error containing %q", err, tc.want)
			}
		})
	}
	if n := f.hits.Load(); n != 0 {
		t.Errorf("%d hits, want 0", n)
	}
}

func TestDecodeToken(t *testing.T) {
	sent := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name          string
		body          string
		expiry        time.Duration
		refreshExpiry time.Duration // 0: zero RefreshExpiry
		scope         string
		bad           string // part of the error, "" for success
	}{
		{name: "documented", body: okToken, expiry: 900 * time.Second, refreshExpiry: 604800 * time.Second, scope: "connections profile"},
		{name: "minimal", body: `{"access_token":"a","refresh_token":"r","expires_in":900}`, expiry: 900 * time.Second},
		{name: "token_type case-insensitive", body: `{"token_type":"bearer","access_token":"a","refresh_token":"r","expires_in":60}`, expiry: time.Minute},
		{name: "quoted numbers", body: `{"access_token":"a","refresh_token":"r","expires_in":"900","refresh_expires_in":"60"}`, expiry: 900 * time.Second, refreshExpiry: time.Minute},
		{name: "fractional expires_in", body: `{"access_token":"a","refresh_token":"r","expires_in":1.5}`, expiry: 1500 * time.Millisecond},
		{name: "refresh_expires_in zero: unknown", body: `{"access_token":"a","refresh_token":"r","expires_in":900,"refresh_expires_in":0}`, expiry: 900 * time.Second},
		{name: "refresh_expires_in negative: unknown", body: `{"access_token":"a","refresh_token":"r","expires_in":900,"refresh_expires_in":-5}`, expiry: 900 * time.Second},
		{name: "refresh_expires_in null", body: `{"access_token":"a","refresh_token":"r","expires_in":900,"refresh_expires_in":null}`, expiry: 900 * time.Second},
		{name: "refresh token with a space", body: `{"access_token":"a","refresh_token":"r r","expires_in":900}`, expiry: 900 * time.Second},
		{name: "unknown fields ignored", body: `{"access_token":"a","refresh_token":"r","expires_in":900,"id_token":"x","extra":[1]}`, expiry: 900 * time.Second},

		{name: "no access_token", body: `{"refresh_token":"r","expires_in":900}`, bad: "no access_token"},
		{name: "empty access_token", body: `{"access_token":"","refresh_token":"r","expires_in":900}`, bad: "no access_token"},
		{name: "access_token with a space", body: `{"access_token":"a b","refresh_token":"r","expires_in":900}`, bad: "not usable as a bearer token"},
		{name: "access_token with a newline", body: `{"access_token":"a\nb","refresh_token":"r","expires_in":900}`, bad: "not usable as a bearer token"},
		{name: "no refresh_token", body: `{"access_token":"a","expires_in":900}`, bad: "no refresh_token"},
		{name: "refresh_token with a control character", body: `{"access_token":"a","refresh_token":"r\u0000","expires_in":900}`, bad: "refresh_token"},
		{name: "expires_in zero", body: `{"access_token":"a","refresh_token":"r","expires_in":0}`, bad: "expires_in"},
		{name: "expires_in negative", body: `{"access_token":"a","refresh_token":"r","expires_in":-900}`, bad: "expires_in"},
		{name: "expires_in missing", body: `{"access_token":"a","refresh_token":"r"}`, bad: "expires_in"},
		{name: "expires_in null", body: `{"access_token":"a","refresh_token":"r","expires_in":null}`, bad: "expires_in"},
		{name: "expires_in absurd", body: `{"access_token":"a","refresh_token":"r","expires_in":1e300}`, bad: "expires_in"},
		{name: "expires_in not a number", body: `{"access_token":"a","refresh_token":"r","expires_in":"soon"}`, bad: "malformed JSON"},
		{name: "expires_in boolean", body: `{"access_token":"a","refresh_token":"r","expires_in":true}`, bad: "malformed JSON"},
		{name: "access_token a number", body: `{"access_token":12345678,"refresh_token":"r","expires_in":900}`, bad: "malformed JSON"},
		{name: "token_type mac", body: `{"token_type":"mac","access_token":"a","refresh_token":"r","expires_in":900}`, bad: "token_type"},
		{name: "array", body: `[]`, bad: "malformed JSON"},
		{name: "not JSON", body: `<html>`, bad: "malformed JSON"},
		{name: "empty", body: ``, bad: "malformed JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := decodeToken([]byte(tc.body), sent)
			if tc.bad != "" {
				if !errors.Is(err, ErrBadResponse) || !strings.Contains(err.Error(), tc.bad) || tok != (Token{}) {
					t.Errorf("got %v, %+v; want ErrBadResponse about %q", err, tok, tc.bad)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var wantRefresh time.Time
			if tc.refreshExpiry > 0 {
				wantRefresh = sent.Add(tc.refreshExpiry)
			}
			if !tok.Expiry.Equal(sent.Add(tc.expiry)) || !tok.RefreshExpiry.Equal(wantRefresh) || tok.Scope != tc.scope ||
				tok.AccessToken == "" || tok.RefreshToken == "" {
				t.Errorf("token %+v (expiry %v, refresh expiry %v)", tok, tok.Expiry, tok.RefreshExpiry)
			}
		})
	}
}

// TestE3_ReauthRequired pins SECURITY.md E3 and BLUENEXUS.md section 6: the
// token endpoint's refusals of the refresh token match ErrReauthRequired;
// rate limits, server errors and client misconfiguration do not. Every
// answer stays an *APIError with its status, and is sent once.
func TestE3_ReauthRequired(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		reauth bool
	}{
		{"400 invalid_grant", 400, `{"error":"invalid_grant","error_description":"Refresh token expired"}`, true},
		{"400 invalid_grant replayed", 400, `{"error":"invalid_grant","error_description":"Token reuse detected"}`, true},
		{"400 API shape", 400, `{"error":"BadRequestError","message":"Invalid refresh token","statusCode":400}`, true},
		{"400 invalid_request", 400, `{"error":"invalid_request"}`, true},
		{"401 API shape", 401, `{"error":"UnauthorizedError","message":"Session revoked","statusCode":401}`, true},
		{"401 empty body", 401, ``, true},
		{"400 HTML body", 400, `<html>bad</html>`, true},
		{"403 invalid_grant", 403, `{"error":"invalid_grant"}`, true},
		{"INVALID_GRANT upper case", 403, `{"error":"INVALID_GRANT"}`, true},
		{"401 invalid_client", 401, `{"error":"invalid_client","error_description":"Client authentication failed"}`, false},
		{"400 invalid_client", 400, `{"error":"invalid_client"}`, false},
		{"400 unauthorized_client", 400, `{"error":"unauthorized_client"}`, false},
		{"400 unsupported_grant_type", 400, `{"error":"unsupported_grant_type"}`, false},
		{"403 ForbiddenError", 403, `{"error":"ForbiddenError","message":"Forbidden resource","statusCode":403}`, false},
		{"404", 404, `{"error":"NotFoundError","statusCode":404}`, false},
		{"429 even with invalid_grant", 429, `{"error":"invalid_grant"}`, false},
		{"500", 500, `{"error":"InternalServerError","statusCode":500}`, false},
		{"502 invalid_grant", 502, `{"error":"invalid_grant"}`, false},
		{"503", 503, ``, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, _ := tokenFake(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "0") // never a reason to resend a refresh
				reply(w, tc.status, tc.body)
			})
			c := newTestClient(t, f.URL, WithClientCredentials("app", "secret"), WithoutBreaker())
			recordSleeps(c)
			_, err := c.Refresh(context.Background(), testRefresh)
			if got := errors.Is(err, ErrReauthRequired); got != tc.reauth {
				t.Errorf("errors.Is(%v, ErrReauthRequired) = %v, want %v", err, got, tc.reauth)
			}
			ae, ok := errors.AsType[*APIError](err)
			if !ok || ae.StatusCode != tc.status {
				t.Errorf("error %v, want an *APIError with status %d", err, tc.status)
			}
			for _, s := range []error{ErrTimeout, ErrConnection, ErrBadResponse, ErrCircuitOpen, ErrClientCriteria} {
				if errors.Is(err, s) {
					t.Errorf("error %v matches %v", err, s)
				}
			}
			if f.hits.Load() != 1 {
				t.Errorf("%d hits, want 1", f.hits.Load())
			}
		})
	}
}

// TestE3_OnlyTheTokenCallMeansReauth: a 401 from handoff init (an expired
// access token: refresh it) or the Connections API is never
// ErrReauthRequired.
func TestE3_OnlyTheTokenCallMeansReauth(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		reply(w, 401, `{"error":"invalid_grant","message":"Invalid or expired access token","statusCode":401}`)
	})
	c := newTestClient(t, f.URL)
	_, err := c.InitHandoff(context.Background(), testToken, testReq)
	if !is(err, errUnauthorized) || errors.Is(err, ErrReauthRequired) {
		t.Errorf("InitHandoff: %v", err)
	}
	for _, err := range c.AllConnections(context.Background(), testToken, ListOptions{}) {
		if !is(err, errUnauthorized) || errors.Is(err, ErrReauthRequired) {
			t.Errorf("AllConnections: %v", err)
		}
	}
}

func TestRefresh_RateLimitedWithRetryAfter(t *testing.T) {
	for _, ra := range []string{"30", "1"} {
		t.Run("Retry-After "+ra, func(t *testing.T) {
			f, _ := tokenFake(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", ra)
				reply(w, 429, `{"error":"TooManyRequestsError","message":"Rate limit exceeded","statusCode":429}`)
			})
			c := newTestClient(t, f.URL, WithClientCredentials("app", "secret"))
			sleeps := recordSleeps(c)
			_, err := c.Refresh(context.Background(), testRefresh)
			want, _ := strconv.Atoi(ra)
			ae, ok := errors.AsType[*APIError](err)
			if !ok || ae.StatusCode != 429 || ae.Code != "TooManyRequestsError" || ae.RetryAfter != time.Duration(want)*time.Second {
				t.Fatalf("error %v, want a 429 APIError with RetryAfter %ss", err, ra)
			}
			if errors.Is(err, ErrReauthRequired) {
				t.Error("a rate limit asks the user to sign in again")
			}
			if d, ok := bnwire.RetryAfter(err); !ok || d != time.Duration(want)*time.Second {
				t.Errorf("bnwire.RetryAfter = %v, %v", d, ok)
			}
			if f.hits.Load() != 1 || len(*sleeps) != 0 {
				t.Errorf("%d hits, waits %v: a refresh is never resent after an answer", f.hits.Load(), *sleeps)
			}
		})
	}
}

// TestRefresh_ServerErrorsShareTheBreaker: 5xx are ordinary upstream
// errors, sent once, and count toward the breaker every call shares.
func TestRefresh_ServerErrorsShareTheBreaker(t *testing.T) {
	f, _ := tokenFake(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != bnwire.PathToken {
			reply(w, 200, okHandoff)
			return
		}
		reply(w, 502, `{"error":"BadGatewayError","statusCode":502}`)
	})
	c := newTestClient(t, f.URL, WithClientCredentials("app", "secret"), WithBreaker(BreakerSettings{ConsecutiveFailures: 3}))
	for i := range 3 {
		_, err := c.Refresh(context.Background(), testRefresh)
		if !is(err, errServer) || errors.Is(err, ErrReauthRequired) {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if _, err := c.Refresh(context.Background(), testRefresh); !errors.Is(err, ErrCircuitOpen) {
		t.Errorf("after 3 failures: %v, want ErrCircuitOpen", err)
	}
	if _, err := c.InitHandoff(context.Background(), testToken, testReq); !errors.Is(err, ErrCircuitOpen) {
		t.Errorf("handoff init after 3 token failures: %v, want ErrCircuitOpen", err)
	}
	if f.hits.Load() != 3 {
		t.Errorf("%d hits, want 3", f.hits.Load())
	}
}

func TestRefresh_Timeout(t *testing.T) {
	const budget = 200 * time.Millisecond
	f, _ := tokenFake(t, waitForRequest2)
	c := newTestClient(t, f.URL, WithClientCredentials("app", "secret"), WithTimeout(budget))
	start := time.Now()
	_, err := c.Refresh(context.Background(), testRefresh)
	elapsed := time.Since(start)
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrReauthRequired) {
		t.Errorf("error %v, want ErrTimeout and context.DeadlineExceeded", err)
	}
	if elapsed < budget || elapsed > budget+2*time.Second {
		t.Errorf("took %v, budget %v", elapsed, budget)
	}
	if f.hits.Load() != 1 {
		t.Errorf("%d hits, want 1", f.hits.Load())
	}
}

func TestRefresh_CallerCancelled(t *testing.T) {
	f, _ := tokenFake(t, waitForRequest2)
	c := newTestClient(t, f.URL, WithClientCredentials("app", "secret"))
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err := c.Refresh(ctx, testRefresh)
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) || errors.Is(err, ErrConnection) || errors.Is(err, ErrReauthRequired) {
		t.Errorf("error %v, want context.Canceled only", err)
	}
}

// TestRefresh_ResentOnlyWhenItNeverLeft: a dial error is resent (the
// refresh token was never presented); a reset after the request was
// written is not (it may have been spent).
func TestRefresh_ResentOnlyWhenItNeverLeft(t *testing.T) {
	t.Run("dial error", func(t *testing.T) {
		f, _ := tokenFake(t, okTokenHandler)
		d := &failingDialer{n: 1}
		c := newTestClient(t, f.URL, WithClientCredentials("app", "secret"), WithHTTPClient(d.client()))
		recordSleeps(c)
		if _, err := c.Refresh(context.Background(), testRefresh); err != nil {
			t.Fatal(err)
		}
		if d.dials.Load() != 2 || f.hits.Load() != 1 {
			t.Errorf("%d dials, %d hits; want 2, 1", d.dials.Load(), f.hits.Load())
		}
	})
	t.Run("reset after sending", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var hits atomic.Int64
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				conn, err := ln.Accept()
				if err != nil {
					return
				}
				buf := make([]byte, 4096)
				if n, _ := conn.Read(buf); n > 0 {
					hits.Add(1)
				}
				conn.(*net.TCPConn).SetLinger(0)
				conn.Close()
			}
		}()
		defer func() { ln.Close(); <-done }()
		c := newTestClient(t, "http://"+ln.Addr().String(), WithClientCredentials("app", "secret"))
		recordSleeps(c)
		_, err = c.Refresh(context.Background(), testRefresh)
		if !errors.Is(err, ErrConnection) || hits.Load() != 1 {
			t.Errorf("error %v after %d requests, want ErrConnection after 1", err, hits.Load())
		}
	})
}

// countingBody is an endless JSON-looking body that counts what was read.
type countingBody struct {
	n     atomic.Int64
	limit int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	if b.n.Load() >= b.limit {
		return 0, io.EOF
	}
	for i := range p {
		p[i] = ' '
	}
	if len(p) > 0 {
		p[0] = '{'
	}
	n := int(min(int64(len(p)), b.limit-b.n.Load()))
	b.n.Add(int64(n))
	return n, nil
}

func (b *countingBody) Close() error { return nil }

// TestD5_RefreshBodyCap pins SECURITY.md D5 for the token call: a 10 MiB
// body is refused, and reading it stops at the 1 MiB cap.
func TestD5_RefreshBodyCap(t *testing.T) {
	const tenMiB = 10 << 20
	for _, tc := range []struct {
		name    string
		status  int
		chunked bool
	}{
		{"200 with Content-Length", 200, false},
		{"200 chunked", 200, true},
		{"400 chunked", 400, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, _ := tokenFake(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				if !tc.chunked {
					w.Header().Set("Content-Length", strconv.Itoa(tenMiB))
				}
				w.WriteHeader(tc.status)
				chunk := []byte(`{"access_token":"` + strings.Repeat("a", 64<<10))
				for sent := 0; sent < tenMiB; sent += len(chunk) {
					if _, err := w.Write(chunk); err != nil {
						return // the client gave up: good
					}
				}
			})
			c := newTestClient(t, f.URL, WithClientCredentials("app", "secret"))
			_, err := c.Refresh(context.Background(), testRefresh)
			if tc.status == 200 && !errors.Is(err, ErrBadResponse) {
				t.Errorf("error %v, want ErrBadResponse", err)
			}
			if tc.status != 200 {
				ae, ok := errors.AsType[*APIError](err)
				if !ok || ae.StatusCode != tc.status || ae.Code != "" || ae.Message != "" {
					t.Errorf("error %v, want a bare *APIError %d", err, tc.status)
				}
			}
		})
	}
	t.Run("reads at most the cap", func(t *testing.T) {
		body := &countingBody{limit: tenMiB}
		rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
				Body: body, ContentLength: -1, Request: r}, nil
		})
		c := newTestClient(t, "https://bluenexus.test", WithClientCredentials("app", "secret"),
			WithHTTPClient(&http.Client{Transport: rt}))
		_, err := c.Refresh(context.Background(), testRefresh)
		if !errors.Is(err, ErrBadResponse) {
			t.Errorf("error %v, want ErrBadResponse", err)
		}
		if n := body.n.Load(); n > maxBodyBytes+1 {
			t.Errorf("read %d bytes of a 10 MiB body, want at most %d", n, maxBodyBytes+1)
		}
	})
}

// TestE5_RefreshSecretsNeverInErrors pins SECURITY.md E5: the refresh
// token, the client secret and any token in the answer never reach an
// error's text, a log or an APIError field, whatever BlueNexus echoes.
func TestE5_RefreshSecretsNeverInErrors(t *testing.T) {
	const (
		rt         = canaryRefresh
		secret     = "secret-CANARY+/42"
		newAccess  = "at-CANARY-new-1"
		newRefresh = "rt-CANARY-new-2"
	)
	escaped := strings.ReplaceAll(rt.Reveal(), "-", `\u002d`)
	// The echo repeats the secret of the run: a public client has none, and
	// cannot scrub what it never knew.
	var runSecret atomic.Pointer[string]
	echo := func(r *http.Request) string {
		secret := *runSecret.Load()
		basic := base64.StdEncoding.EncodeToString([]byte("app:" + url.QueryEscape(secret)))
		b, _ := io.ReadAll(r.Body)
		return fmt.Sprintf(`{"error":"invalid_grant %s","message":"bad %s %s %s %s %s","error_description":"%s",`+
			`"access_token":"%s","refresh_token":"%s","details":{"form":%q,"auth":%q,"escaped":"%s","t":{"accessToken":"%s"}},`+
			`"errors":[{"field":"refresh_token","message":"%s","value":"%s"},{"field":"x","value":"%s"}]}`,
			rt.Reveal(), rt.Reveal(), secret, url.QueryEscape(secret), basic, escaped, newRefresh,
			newAccess, newRefresh, string(b), r.Header.Get("Authorization"), escaped, newAccess,
			url.QueryEscape(rt.Reveal()), rt.Reveal(), secret)
	}
	refused := func() string {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		defer ln.Close()
		return "http://" + ln.Addr().String()
	}()
	tests := []struct {
		name string
		h    http.HandlerFunc
		base string
		opts []Option
	}{
		{name: "400 echo", h: func(w http.ResponseWriter, r *http.Request) { reply(w, 400, echo(r)) }},
		{name: "401 echo", h: func(w http.ResponseWriter, r *http.Request) { reply(w, 401, echo(r)) }},
		{name: "429 echo", h: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", *runSecret.Load())
			reply(w, 429, echo(r))
		}},
		{name: "500 echo", h: func(w http.ResponseWriter, r *http.Request) { reply(w, 500, echo(r)) }},
		{name: "200 without refresh_token", h: func(w http.ResponseWriter, r *http.Request) {
			reply(w, 200, `{"access_token":"`+newAccess+`","expires_in":900,"scope":"`+secret+`"}`)
		}},
		{name: "200 with expires_in 0", h: func(w http.ResponseWriter, r *http.Request) {
			reply(w, 200, `{"access_token":"`+newAccess+`","refresh_token":"`+newRefresh+`","expires_in":0}`)
		}},
		{name: "200 with a bad token_type", h: func(w http.ResponseWriter, r *http.Request) {
			reply(w, 200, `{"token_type":"`+newAccess+`","access_token":"`+newAccess+`","refresh_token":"`+newRefresh+`","expires_in":9}`)
		}},
		{name: "200 malformed", h: func(w http.ResponseWriter, r *http.Request) {
			reply(w, 200, `{"access_token":"`+newAccess+`","refresh_token":`+newRefresh+`}`)
		}},
		{name: "200 of the wrong types", h: func(w http.ResponseWriter, r *http.Request) {
			reply(w, 200, `{"access_token":"`+newAccess+`","refresh_token":"`+newRefresh+`","expires_in":"`+newAccess+`"}`)
		}},
		{name: "200 HTML", h: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte(echo(r)))
		}},
		{name: "redirect", h: func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://evil.example/?rt="+rt.Reveal()+"&s="+secret, http.StatusFound)
		}},
		{name: "timeout", opts: []Option{WithTimeout(100 * time.Millisecond)}, h: waitForRequest2},
		{name: "connection refused", base: refused},
	}
	for _, tc := range tests {
		for _, public := range []bool{false, true} {
			name := tc.name + " confidential"
			if public {
				name = tc.name + " public"
			}
			t.Run(name, func(t *testing.T) {
				base := tc.base
				if tc.h != nil {
					base = newFake(t, tc.h).URL
				}
				creds, s := WithClientCredentials("app", secret), secret
				if public {
					creds, s = WithClientCredentials("app", ""), "no-secret"
				}
				runSecret.Store(&s)
				c := newTestClient(t, base, append([]Option{creds, WithoutBreaker()}, tc.opts...)...)
				recordSleeps(c)
				tok, err := c.Refresh(context.Background(), rt)
				if err == nil {
					t.Fatalf("no error, token %+v", tok)
				}
				assertNoCanary(t, "Refresh error", err)
				if ae, ok := errors.AsType[*APIError](err); ok {
					assertNoCanary(t, "APIError fields", *ae)
					for _, fe := range ae.Errors {
						assertNoCanary(t, "FieldError", fe)
					}
				}
			})
		}
	}
}

// FuzzDecodeToken: the token decoder never panics, never quotes the body
// in an error, and a success always carries both tokens and an expiry
// after the send time.
func FuzzDecodeToken(f *testing.F) {
	for _, s := range []string{
		okToken, `{"access_token":"a","refresh_token":"r","expires_in":"900"}`, `{"expires_in":1e999}`,
		`{"access_token":"a","refresh_token":"r","expires_in":-0}`, `[]`, ``, `{"access_token":null}`,
	} {
		f.Add([]byte(s))
	}
	sent := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		tok, err := decodeToken(body, sent)
		if err != nil {
			if !errors.Is(err, ErrBadResponse) || tok != (Token{}) {
				t.Fatalf("error %v with token %+v", err, tok)
			}
			if len(body) > 16 && strings.Contains(err.Error(), string(body)) {
				t.Fatalf("error quotes the body: %v", err)
			}
			return
		}
		if tok.AccessToken == "" || tok.RefreshToken == "" || !tok.Expiry.After(sent) ||
			!tok.RefreshExpiry.IsZero() && !tok.RefreshExpiry.After(sent) || !isHeaderSafe(tok.AccessToken.Reveal()) {
			t.Fatalf("bad success %+v", tok)
		}
	})
}
