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
	"slices"
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

// TestRefresh_BasicAuthIsFormEncoded pins RFC 6749 section 2.3.1: the
// client id and secret are each application/x-www-form-urlencoded, then
// joined by ':' and base64-encoded; the header is compared byte for byte.
func TestRefresh_BasicAuthIsFormEncoded(t *testing.T) {
	tests := []struct {
		id, secret string
		pair       string // what the base64 decodes to
	}{
		{"app", "secret", "app:secret"},
		{"a:b", "c:d", "a%3Ab:c%3Ad"},
		{"100%", "50%off", "100%25:50%25off"},
		{"a+b", "x+y", "a%2Bb:x%2By"},
		{"my app", "s e", "my+app:s+e"},
		{"appé", "sécret", "app%C3%A9:s%C3%A9cret"},
		{"a&b=c", "/?#[]@", "a%26b%3Dc:%2F%3F%23%5B%5D%40"},
	}
	for _, tc := range tests {
		t.Run(tc.pair, func(t *testing.T) {
			f, seen := tokenFake(t, okTokenHandler)
			c := newTestClient(t, f.URL, WithClientCredentials(tc.id, tc.secret))
			if _, err := c.Refresh(context.Background(), testRefresh); err != nil {
				t.Fatal(err)
			}
			r := <-seen
			if want := "Basic " + base64.StdEncoding.EncodeToString([]byte(tc.pair)); r.auth != want {
				t.Errorf("Authorization %q, want %q (%s)", r.auth, want, tc.pair)
			}
			if r.basicID != tc.id || r.basicSecret != tc.secret {
				t.Errorf("decodes to %q:%q", r.basicID, r.basicSecret)
			}
		})
	}
}

// TestRefresh_AcceptsWhatRFC6749Allows pins SECURITY.md E7 over HTTP:
// expires_in absent or 0 gives 15 minutes, refresh_token absent keeps the
// presented one, token_type in any case.
func TestRefresh_AcceptsWhatRFC6749Allows(t *testing.T) {
	sent := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name    string
		body    string
		expiry  time.Duration
		refresh RefreshToken
	}{
		{"expires_in missing", `{"token_type":"Bearer","access_token":"at-new","refresh_token":"rt-new"}`, 15 * time.Minute, "rt-new"},
		{"expires_in 0", `{"token_type":"Bearer","access_token":"at-new","refresh_token":"rt-new","expires_in":0}`, 15 * time.Minute, "rt-new"},
		{"refresh_token missing", `{"token_type":"Bearer","access_token":"at-new","expires_in":900}`, 900 * time.Second, testRefresh},
		{"token_type lower case", `{"token_type":"bearer","access_token":"at-new","refresh_token":"rt-new","expires_in":900}`, 900 * time.Second, "rt-new"},
		{"only access_token", `{"access_token":"at-new"}`, 15 * time.Minute, testRefresh},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, _ := tokenFake(t, func(w http.ResponseWriter, r *http.Request) { reply(w, 200, tc.body) })
			c := newTestClient(t, f.URL, WithClientCredentials("app", "secret"))
			c.now = func() time.Time { return sent }
			tok, err := c.Refresh(context.Background(), testRefresh)
			if err != nil {
				t.Fatal(err)
			}
			if tok.AccessToken != "at-new" || tok.RefreshToken != tc.refresh || !tok.Expiry.Equal(sent.Add(tc.expiry)) {
				t.Errorf("token %q %q %v, want at-new %q %v", tok.AccessToken.Reveal(), tok.RefreshToken.Reveal(), tok.Expiry, tc.refresh.Reveal(), sent.Add(tc.expiry))
			}
		})
	}
}

// TestRefresh_2xxCutShortIsSpent: a 2xx whose body is cut short (or whose
// reading times out) was answered, so the refresh token is spent; a
// request never answered is an ordinary error (TestRefresh_Timeout,
// TestRefresh_ResentOnlyWhenItNeverLeft).
func TestRefresh_2xxCutShortIsSpent(t *testing.T) {
	f, _ := tokenFake(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "500")
		w.WriteHeader(200)
		w.Write([]byte(`{"access_token":"at-new",`))
		w.(http.Flusher).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	})
	c := newTestClient(t, f.URL, WithClientCredentials("app", "secret"))
	recordSleeps(c)
	_, err := c.Refresh(context.Background(), testRefresh)
	if !isSpent(err) {
		t.Errorf("error %v, want a spent refresh token", err)
	}
	if f.hits.Load() != 1 {
		t.Errorf("%d hits, want 1", f.hits.Load())
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

// TestDecodeToken pins SECURITY.md E6 and E7 on the 2xx body: what RFC 6749
// allows is accepted (expires_in absent or 0: 15 minutes; refresh_token
// absent: the presented one is kept; token_type in any case), and an answer
// without a usable pair is a spent refresh token.
func TestDecodeToken(t *testing.T) {
	sent := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	const presented RefreshToken = "rt-presented"
	tests := []struct {
		name          string
		body          string
		expiry        time.Duration
		refreshExpiry time.Duration // 0: zero RefreshExpiry
		refresh       RefreshToken  // "" for "r"
		scope         string
		bad           string // part of the error, "" for success
	}{
		{name: "documented", body: okToken, expiry: 900 * time.Second, refreshExpiry: 604800 * time.Second, refresh: "rt-new", scope: "connections profile"},
		{name: "minimal", body: `{"access_token":"a","refresh_token":"r","expires_in":900}`, expiry: 900 * time.Second},
		{name: "token_type lower case", body: `{"token_type":"bearer","access_token":"a","refresh_token":"r","expires_in":60}`, expiry: time.Minute},
		{name: "token_type upper case", body: `{"token_type":"BEARER","access_token":"a","refresh_token":"r","expires_in":60}`, expiry: time.Minute},
		{name: "quoted numbers", body: `{"access_token":"a","refresh_token":"r","expires_in":"900","refresh_expires_in":"60"}`, expiry: 900 * time.Second, refreshExpiry: time.Minute},
		{name: "fractional expires_in", body: `{"access_token":"a","refresh_token":"r","expires_in":1.5}`, expiry: 1500 * time.Millisecond},
		{name: "expires_in missing: 15 minutes", body: `{"access_token":"a","refresh_token":"r"}`, expiry: 15 * time.Minute},
		{name: "expires_in 0: 15 minutes", body: `{"access_token":"a","refresh_token":"r","expires_in":0}`, expiry: 15 * time.Minute},
		{name: "expires_in null: 15 minutes", body: `{"access_token":"a","refresh_token":"r","expires_in":null}`, expiry: 15 * time.Minute},
		{name: "expires_in negative: 15 minutes", body: `{"access_token":"a","refresh_token":"r","expires_in":-900}`, expiry: 15 * time.Minute},
		{name: "expires_in absurd: 15 minutes", body: `{"access_token":"a","refresh_token":"r","expires_in":1e300}`, expiry: 15 * time.Minute},
		{name: "expires_in NaN: 15 minutes", body: `{"access_token":"a","refresh_token":"r","expires_in":"NaN"}`, expiry: 15 * time.Minute},
		{name: "expires_in not a number: 15 minutes", body: `{"access_token":"a","refresh_token":"r","expires_in":"soon"}`, expiry: 15 * time.Minute},
		{name: "expires_in boolean: 15 minutes", body: `{"access_token":"a","refresh_token":"r","expires_in":true}`, expiry: 15 * time.Minute},
		{name: "refresh_token missing: not rotated", body: `{"access_token":"a","expires_in":900}`, expiry: 900 * time.Second, refresh: presented},
		{name: "refresh_token empty: not rotated", body: `{"access_token":"a","refresh_token":"","expires_in":900}`, expiry: 900 * time.Second, refresh: presented},
		{name: "refresh_expires_in zero: unknown", body: `{"access_token":"a","refresh_token":"r","expires_in":900,"refresh_expires_in":0}`, expiry: 900 * time.Second},
		{name: "refresh_expires_in negative: unknown", body: `{"access_token":"a","refresh_token":"r","expires_in":900,"refresh_expires_in":-5}`, expiry: 900 * time.Second},
		{name: "refresh_expires_in null", body: `{"access_token":"a","refresh_token":"r","expires_in":900,"refresh_expires_in":null}`, expiry: 900 * time.Second},
		{name: "refresh token with a space", body: `{"access_token":"a","refresh_token":"r r","expires_in":900}`, expiry: 900 * time.Second, refresh: "r r"},
		{name: "unknown fields ignored", body: `{"access_token":"a","refresh_token":"r","expires_in":900,"id_token":"x","extra":[1]}`, expiry: 900 * time.Second},

		{name: "no access_token", body: `{"refresh_token":"r","expires_in":900}`, bad: "no access_token"},
		{name: "empty access_token", body: `{"access_token":"","refresh_token":"r","expires_in":900}`, bad: "no access_token"},
		{name: "access_token with a space", body: `{"access_token":"a b","refresh_token":"r","expires_in":900}`, bad: "not usable as a bearer token"},
		{name: "access_token with a newline", body: `{"access_token":"a\nb","refresh_token":"r","expires_in":900}`, bad: "not usable as a bearer token"},
		{name: "access_token a number", body: `{"access_token":12345678,"refresh_token":"r","expires_in":900}`, bad: "malformed JSON"},
		{name: "refresh_token with a control character", body: `{"access_token":"a","refresh_token":"r\u0000","expires_in":900}`, bad: "refresh_token"},
		{name: "token_type mac", body: `{"token_type":"mac","access_token":"a","refresh_token":"r","expires_in":900}`, bad: "token_type"},
		{name: "token_type DPoP", body: `{"token_type":"DPoP","access_token":"a","refresh_token":"r","expires_in":900}`, bad: "token_type"},
		{name: "array", body: `[]`, bad: "malformed JSON"},
		{name: "not JSON", body: `<html>`, bad: "malformed JSON"},
		{name: "empty", body: ``, bad: "malformed JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := decodeToken([]byte(tc.body), sent, presented)
			if tc.bad != "" {
				if !isSpent(err) || !strings.Contains(err.Error(), tc.bad) || tok != (Token{}) {
					t.Errorf("got %v, %+v; want a spent refresh token about %q", err, tok, tc.bad)
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
			want := tc.refresh
			if want == "" {
				want = "r"
			}
			if !tok.Expiry.Equal(sent.Add(tc.expiry)) || !tok.RefreshExpiry.Equal(wantRefresh) || tok.Scope != tc.scope ||
				tok.AccessToken == "" || tok.RefreshToken != want {
				t.Errorf("token %+v (expiry %v, refresh expiry %v)", tok, tok.Expiry, tok.RefreshExpiry)
			}
		})
	}
}

// isSpent reports whether err is a spent refresh token: it matches
// ErrReauthRequired and ErrBadResponse, no other sentinel, and says so.
func isSpent(err error) bool {
	for _, s := range sentinels {
		if errors.Is(err, s) != (s == ErrReauthRequired || s == ErrBadResponse) {
			return false
		}
	}
	_, api := errors.AsType[*APIError](err)
	return !api && strings.HasPrefix(err.Error(), "bluenexus: Refresh: the refresh token was spent on an answer the kit could not use")
}

// refreshClass is how a Refresh error is classified.
type refreshClass int

const (
	spent        refreshClass = iota // 2xx without a usable pair: ErrReauthRequired and ErrBadResponse
	reauth                           // *APIError matching ErrReauthRequired
	clientConfig                     // *APIError matching ErrClientConfig
	kept                             // *APIError matching no sentinel: the pair is kept
	transport                        // ErrTimeout or ErrConnection: the pair is kept
)

// classify asserts the exact classification of a Refresh error.
func classify(t *testing.T, err error, want refreshClass, status int) {
	t.Helper()
	ae, isAPI := errors.AsType[*APIError](err)
	var only []error
	switch want {
	case spent:
		if !isSpent(err) {
			t.Errorf("error %v, want a spent refresh token (ErrReauthRequired and ErrBadResponse)", err)
		}
		return
	case reauth:
		only = []error{ErrReauthRequired}
	case clientConfig:
		only = []error{ErrClientConfig}
	case transport:
		if !errors.Is(err, ErrTimeout) && !errors.Is(err, ErrConnection) || errors.Is(err, ErrReauthRequired) || isAPI {
			t.Errorf("error %v, want ErrTimeout or ErrConnection only", err)
		}
		return
	}
	if !isAPI || ae.StatusCode != status {
		t.Errorf("error %v, want an *APIError with status %d", err, status)
	}
	for _, s := range sentinels {
		if got := errors.Is(err, s); got != slices.Contains(only, s) {
			t.Errorf("errors.Is(%v, %v) = %v", err, s, got)
		}
	}
}

// TestRefresh_Classification pins SECURITY.md E6 to E8: every 2xx spends
// the refresh token; only invalid_grant or a revoked session means "sign in
// again"; a refusal of the app's client is ErrClientConfig; every other
// answer is an upstream error that keeps the pair. Each is sent once.
func TestRefresh_Classification(t *testing.T) {
	const form = "application/x-www-form-urlencoded"
	tests := []struct {
		name   string
		status int
		ctype  string // "" for application/json
		body   string
		want   refreshClass
		code   string // APIError.Code expected, for error answers
	}{
		// 2xx answers without a usable pair.
		{name: "200 no access_token", status: 200, body: `{"refresh_token":"r","expires_in":900}`, want: spent},
		{name: "200 token_type mac", status: 200, body: `{"token_type":"mac","access_token":"a","refresh_token":"r","expires_in":900}`, want: spent},
		{name: "200 HTML", status: 200, ctype: "text/html", body: `<html>hello</html>`, want: spent},
		{name: "200 JSON as text/plain", status: 200, ctype: "text/plain", body: okToken, want: spent},
		{name: "200 form-encoded pair", status: 200, ctype: form, body: `access_token=a&refresh_token=r&expires_in=900`, want: spent},
		{name: "200 malformed", status: 200, body: `{"access_token":"a",`, want: spent},
		{name: "201 empty", status: 201, body: ``, want: spent},
		{name: "204", status: 204, want: spent},

		// Refusals of the grant: sign in again.
		{name: "400 invalid_grant", status: 400, body: `{"error":"invalid_grant","error_description":"Refresh token expired"}`, want: reauth, code: "invalid_grant"},
		{name: "400 invalid_grant form", status: 400, ctype: form, body: `error=invalid_grant&error_description=Token+reuse+detected`, want: reauth, code: "invalid_grant"},
		{name: "400 invalid_grant form with charset", status: 400, ctype: form + "; charset=utf-8", body: `error=invalid_grant`, want: reauth, code: "invalid_grant"},
		{name: "401 invalid_grant", status: 401, body: `{"error":"invalid_grant"}`, want: reauth, code: "invalid_grant"},
		{name: "403 invalid_grant", status: 403, body: `{"error":"invalid_grant"}`, want: reauth, code: "invalid_grant"},
		{name: "INVALID_GRANT upper case", status: 400, body: `{"error":"INVALID_GRANT"}`, want: reauth, code: "INVALID_GRANT"},
		{name: "401 API shape, session revoked", status: 401, body: `{"error":"UnauthorizedError","message":"Session revoked","statusCode":401}`, want: reauth, code: "UnauthorizedError"},

		// The app's client is refused: configuration.
		{name: "400 invalid_client", status: 400, body: `{"error":"invalid_client"}`, want: clientConfig, code: "invalid_client"},
		{name: "401 invalid_client", status: 401, body: `{"error":"invalid_client","error_description":"Client authentication failed"}`, want: clientConfig, code: "invalid_client"},
		{name: "401 invalid_client form", status: 401, ctype: form, body: `error=invalid_client&error_description=bad+credentials`, want: clientConfig, code: "invalid_client"},
		{name: "400 unauthorized_client", status: 400, body: `{"error":"unauthorized_client"}`, want: clientConfig, code: "unauthorized_client"},
		{name: "401 unauthorized_client", status: 401, body: `{"error":"unauthorized_client"}`, want: clientConfig, code: "unauthorized_client"},
		{name: "400 unsupported_grant_type", status: 400, body: `{"error":"unsupported_grant_type"}`, want: clientConfig, code: "unsupported_grant_type"},
		{name: "401 unsupported_grant_type", status: 401, body: `{"error":"unsupported_grant_type"}`, want: clientConfig, code: "unsupported_grant_type"},
		{name: "400 unsupported_grant_type form", status: 400, ctype: form, body: `error=unsupported_grant_type`, want: clientConfig, code: "unsupported_grant_type"},

		// Everything else: an upstream error, the pair kept.
		{name: "400 invalid_request", status: 400, body: `{"error":"invalid_request","error_description":"concurrent request, retry"}`, want: kept, code: "invalid_request"},
		{name: "400 invalid_request form", status: 400, ctype: form, body: `error=invalid_request`, want: kept, code: "invalid_request"},
		{name: "400 invalid_scope", status: 400, body: `{"error":"invalid_scope"}`, want: kept, code: "invalid_scope"},
		{name: "400 no code", status: 400, body: `{"message":"Bad Request"}`, want: kept},
		{name: "400 API shape without a revocation", status: 400, body: `{"error":"BadRequestError","message":"Invalid refresh token","statusCode":400}`, want: kept, code: "BadRequestError"},
		{name: "400 empty body", status: 400, want: kept},
		{name: "401 empty body", status: 401, want: kept},
		{name: "401 HTML from a gateway", status: 401, ctype: "text/html", body: `<html><body>401 Authorization Required</body></html>`, want: kept},
		{name: "403 invalid_client", status: 403, body: `{"error":"invalid_client"}`, want: kept, code: "invalid_client"},
		{name: "403 ForbiddenError", status: 403, body: `{"error":"ForbiddenError","message":"Forbidden resource","statusCode":403}`, want: kept, code: "ForbiddenError"},
		{name: "404", status: 404, body: `{"error":"NotFoundError","statusCode":404}`, want: kept, code: "NotFoundError"},
		{name: "429", status: 429, body: `{"error":"TooManyRequestsError","message":"Rate limit exceeded","statusCode":429}`, want: kept, code: "TooManyRequestsError"},
		{name: "429 even with invalid_grant", status: 429, body: `{"error":"invalid_grant"}`, want: kept, code: "invalid_grant"},
		{name: "500", status: 500, body: `{"error":"InternalServerError","statusCode":500}`, want: kept, code: "InternalServerError"},
		{name: "502 invalid_grant", status: 502, body: `{"error":"invalid_grant"}`, want: kept, code: "invalid_grant"},
		{name: "503", status: 503, want: kept},
		{name: "503 invalid_client", status: 503, body: `{"error":"invalid_client"}`, want: kept, code: "invalid_client"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, _ := tokenFake(t, func(w http.ResponseWriter, r *http.Request) {
				ct := tc.ctype
				if ct == "" {
					ct = "application/json"
				}
				w.Header().Set("Content-Type", ct)
				w.Header().Set("Retry-After", "0") // never a reason to resend a refresh
				w.WriteHeader(tc.status)
				w.Write([]byte(tc.body))
			})
			c := newTestClient(t, f.URL, WithClientCredentials("app", "secret"), WithoutBreaker())
			sleeps := recordSleeps(c)
			tok, err := c.Refresh(context.Background(), testRefresh)
			if tok != (Token{}) {
				t.Errorf("token %+v with an error", tok)
			}
			classify(t, err, tc.want, tc.status)
			if ae, ok := errors.AsType[*APIError](err); ok && (ae.Code != tc.code || ae.Message != "") {
				t.Errorf("APIError code %q message %q, want %q and no message", ae.Code, ae.Message, tc.code)
			}
			if f.hits.Load() != 1 || len(*sleeps) != 0 {
				t.Errorf("%d hits, waits %v; want 1, none", f.hits.Load(), *sleeps)
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
	for _, err := range c.AllConnections(context.Background(), testToken) {
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
			if d, ok := RetryAfter(err); !ok || d != time.Duration(want)*time.Second {
				t.Errorf("RetryAfter = %v, %v", d, ok)
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
		if !errors.Is(err, ErrConnection) || errors.Is(err, ErrReauthRequired) || hits.Load() != 1 {
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
// body is refused, and reading it stops at the 1 MiB cap. A 2xx over the
// cap spent the refresh token (SECURITY.md E6).
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
			if tc.status == 200 && !isSpent(err) {
				t.Errorf("error %v, want a spent refresh token (over the cap is never retryable)", err)
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
		if !isSpent(err) {
			t.Errorf("error %v, want a spent refresh token", err)
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
		{name: "200 without access_token", h: func(w http.ResponseWriter, r *http.Request) {
			reply(w, 200, `{"refresh_token":"`+newRefresh+`","expires_in":900,"scope":"`+secret+`"}`)
		}},
		{name: "200 with an access_token unusable as a header", h: func(w http.ResponseWriter, r *http.Request) {
			reply(w, 200, `{"access_token":"`+newAccess+` x","refresh_token":"`+newRefresh+`","expires_in":0}`)
		}},
		{name: "400 form echo", h: func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			w.Header().Set("Content-Type", "application/x-www-form-urlencoded")
			w.WriteHeader(400)
			w.Write([]byte(url.Values{"error": {"invalid_grant " + rt.Reveal()}, "error_description": {"bad " + string(b) + " " +
				r.Header.Get("Authorization") + " " + *runSecret.Load() + " " + newRefresh}, "refresh_token": {newRefresh}}.Encode()))
		}},
		{name: "200 with a bad token_type", h: func(w http.ResponseWriter, r *http.Request) {
			reply(w, 200, `{"token_type":"`+newAccess+`","access_token":"`+newAccess+`","refresh_token":"`+newRefresh+`","expires_in":9}`)
		}},
		{name: "200 malformed", h: func(w http.ResponseWriter, r *http.Request) {
			reply(w, 200, `{"access_token":"`+newAccess+`","refresh_token":`+newRefresh+`}`)
		}},
		{name: "200 of the wrong types", h: func(w http.ResponseWriter, r *http.Request) {
			reply(w, 200, `{"access_token":["`+newAccess+`"],"refresh_token":"`+newRefresh+`","expires_in":"`+newAccess+`"}`)
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
// in an error, fails only as a spent refresh token, and a success always
// carries both tokens and an expiry after the send time.
func FuzzDecodeToken(f *testing.F) {
	for _, s := range []string{
		okToken, `{"access_token":"a","refresh_token":"r","expires_in":"900"}`, `{"expires_in":1e999}`,
		`{"access_token":"a","refresh_token":"r","expires_in":-0}`, `[]`, ``, `{"access_token":null}`,
	} {
		f.Add([]byte(s))
	}
	sent := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		tok, err := decodeToken(body, sent, "rt-presented")
		if err != nil {
			if !isSpent(err) || tok != (Token{}) {
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
