package bluenexustest_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/bluenexus/bluenexustest"
	"github.com/handoffkit/handoffkit/internal/bnwire"
)

// tokenCall posts form to the token endpoint; basic, when not empty, is
// the Authorization header.
func tokenCall(t testing.TB, s *bluenexustest.Server, basic string, form url.Values) response {
	t.Helper()
	req := newRequest(t, http.MethodPost, s.URL()+bluenexustest.PathToken, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic != "" {
		req.Header.Set("Authorization", basic)
	}
	return do(t, apiClient(t), req)
}

func basicAuth(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// serverBasic is the Basic header of s's own client.
func serverBasic(s *bluenexustest.Server) string { return basicAuth(s.ClientCredentials()) }

func refreshForm(rt bluenexus.RefreshToken) url.Values {
	return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt.Reveal()}}
}

type tokenBody struct {
	TokenType        string `json:"token_type"`
	AccessToken      string `json:"access_token"`
	ExpiresIn        int    `json:"expires_in"`
	RefreshToken     string `json:"refresh_token"`
	RefreshExpiresIn int    `json:"refresh_expires_in"`
	Scope            string `json:"scope"`
}

func (r response) tokens(t testing.TB) tokenBody {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("token: status %d, body %s", r.status, r.body)
	}
	var tb tokenBody
	if err := json.Unmarshal([]byte(r.body), &tb); err != nil {
		t.Fatalf("token body %q: %v", r.body, err)
	}
	return tb
}

// newClient is the kit's real client, pointed at s as s's auth client.
func newClient(t testing.TB, s *bluenexustest.Server, opts ...bluenexus.Option) *bluenexus.Client {
	t.Helper()
	c, err := bluenexus.NewClient(append([]bluenexus.Option{
		bluenexus.WithBaseURL(s.URL()),
		bluenexus.WithClientCredentials(s.ClientCredentials()),
		bluenexus.WithoutBreaker(),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestSignIn pins the first token pair: distinct random tokens, the
// default lifetimes by the clock, the connections scope, and a new session
// on each call.
func TestSignIn(t *testing.T) {
	clock := newFakeClock()
	s := newServer(t, bluenexustest.WithClock(clock.Now))
	a := s.SignIn("alice")
	if !strings.HasPrefix(a.AccessToken.Reveal(), bluenexustest.TokenPrefix) || a.RefreshToken.Reveal() == "" ||
		a.AccessToken.Reveal() == a.RefreshToken.Reveal() {
		t.Errorf("tokens %q %q", a.AccessToken.Reveal(), a.RefreshToken.Reveal())
	}
	if !a.Expiry.Equal(clock.Now().Add(900*time.Second)) || !a.RefreshExpiry.Equal(clock.Now().Add(7*24*time.Hour)) || a.Scope != "connections" {
		t.Errorf("expiry %v refresh expiry %v scope %q", a.Expiry, a.RefreshExpiry, a.Scope)
	}
	b := s.SignIn("alice")
	if b.AccessToken == a.AccessToken || b.RefreshToken == a.RefreshToken || b.AccessToken == s.AddUser("alice") {
		t.Errorf("a second sign-in reused tokens")
	}
	for _, tok := range []bluenexus.AccessToken{a.AccessToken, b.AccessToken, s.AddUser("alice")} {
		if r := apiCall(t, s, http.MethodGet, bluenexustest.PathConnections, tok); r.status != http.StatusOK {
			t.Errorf("list: %d %s", r.status, r.body)
		}
	}
}

// TestAccessTokenExpiry pins BLUENEXUS.md 6: an access token works until
// its TTL on the emulator's clock, then every API call answers 401
// UnauthorizedError; static tokens never expire.
func TestAccessTokenExpiry(t *testing.T) {
	routes := []struct{ method, path string }{
		{http.MethodPost, bluenexustest.PathHandoffInit},
		{http.MethodGet, bluenexustest.PathConnections},
		{http.MethodGet, bluenexustest.PathConnections + "/CONN"},
		{http.MethodPut, bluenexustest.PathConnections + "/CONN/refresh"},
	}
	tests := []struct {
		name    string
		opts    []bluenexustest.Option
		advance time.Duration
		static  bool
		want    int
	}{
		{name: "fresh", advance: 0, want: http.StatusOK},
		{name: "one second before the default TTL", advance: 899 * time.Second, want: http.StatusOK},
		{name: "at the default TTL", advance: 900 * time.Second, want: http.StatusUnauthorized},
		{name: "an hour later", advance: time.Hour, want: http.StatusUnauthorized},
		{name: "a day later, forgotten", advance: 24 * time.Hour, want: http.StatusUnauthorized},
		{name: "configured TTL", opts: []bluenexustest.Option{bluenexustest.WithTokenTTL(time.Minute)}, advance: time.Minute, want: http.StatusUnauthorized},
		{name: "configured TTL, before", opts: []bluenexustest.Option{bluenexustest.WithTokenTTL(time.Minute)}, advance: 59 * time.Second, want: http.StatusOK},
		{name: "static token a week later", advance: 7 * 24 * time.Hour, static: true, want: http.StatusOK},
	}
	for _, tc := range tests {
		for _, rt := range routes {
			t.Run(tc.name+"/"+rt.method+" "+rt.path, func(t *testing.T) {
				clock := newFakeClock()
				s := newServer(t, append(tc.opts, bluenexustest.WithClock(clock.Now))...)
				tok := s.SignIn("alice").AccessToken
				if tc.static {
					tok = s.AddUser("alice")
				}
				c := s.Connect("alice", "google")
				clock.Advance(tc.advance)
				s.SignIn("bob") // issuing sweeps old tokens
				req := newRequest(t, rt.method, s.URL()+strings.ReplaceAll(rt.path, "CONN", c.ID), strings.NewReader(initBody("https://app.example/r")))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+tok.Reveal())
				r := do(t, apiClient(t), req)
				if r.status != tc.want {
					t.Fatalf("status %d, want %d; body %s", r.status, tc.want, r.body)
				}
				if tc.want == http.StatusUnauthorized {
					eb := r.errorBody(t)
					if eb.Error != "UnauthorizedError" || eb.StatusCode != 401 || eb.Message == "" {
						t.Errorf("body %+v", eb)
					}
					if !strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
						t.Errorf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
					}
				}
			})
		}
	}
}

// TestTokenEndpoint pins the token endpoint's answers by table: client
// authentication (Basic or the form; never both), the grant, and the
// documented error bodies.
func TestTokenEndpoint(t *testing.T) {
	tests := []struct {
		name   string
		opts   []bluenexustest.Option
		basic  func(s *bluenexustest.Server) string
		form   func(rt bluenexus.RefreshToken) url.Values
		ctype  string
		query  string
		status int
		code   string
	}{
		{name: "basic", basic: serverBasic, form: refreshForm, status: 200},
		{name: "basic with a matching client_id", basic: serverBasic, form: func(rt bluenexus.RefreshToken) url.Values {
			f := refreshForm(rt)
			f.Set("client_id", "bluenexus-emulator")
			return f
		}, status: 200},
		{name: "secret in the form", form: func(rt bluenexus.RefreshToken) url.Values {
			f := refreshForm(rt)
			f.Set("client_id", "bluenexus-emulator")
			f.Set("client_secret", "bluenexus-emulator-secret")
			return f
		}, status: 200},
		{name: "configured client", opts: []bluenexustest.Option{bluenexustest.WithClientCredentials("my app", "s3cr:t&=")}, basic: serverBasic, form: refreshForm, status: 200},
		{name: "public client", opts: []bluenexustest.Option{bluenexustest.WithClientCredentials("mobile-app", "")}, form: func(rt bluenexus.RefreshToken) url.Values {
			f := refreshForm(rt)
			f.Set("client_id", "mobile-app")
			return f
		}, status: 200},
		{name: "wrong secret", basic: func(*bluenexustest.Server) string { return basicAuth("bluenexus-emulator", "nope") }, form: refreshForm, status: 401, code: "invalid_client"},
		{name: "wrong id", basic: func(*bluenexustest.Server) string { return basicAuth("other", "bluenexus-emulator-secret") }, form: refreshForm, status: 401, code: "invalid_client"},
		{name: "not base64", basic: func(*bluenexustest.Server) string { return "Basic !!!" }, form: refreshForm, status: 401, code: "invalid_client"},
		{name: "bearer instead of basic", basic: func(*bluenexustest.Server) string { return "Bearer x" }, form: refreshForm, status: 401, code: "invalid_client"},
		{name: "no client authentication", form: refreshForm, status: 401, code: "invalid_client"},
		{name: "client_id of a confidential client without secret", form: func(rt bluenexus.RefreshToken) url.Values {
			f := refreshForm(rt)
			f.Set("client_id", "bluenexus-emulator")
			return f
		}, status: 401, code: "invalid_client"},
		{name: "basic and client_secret", basic: serverBasic, form: func(rt bluenexus.RefreshToken) url.Values {
			f := refreshForm(rt)
			f.Set("client_secret", "bluenexus-emulator-secret")
			return f
		}, status: 400, code: "invalid_request"},
		{name: "basic and another client_id", basic: serverBasic, form: func(rt bluenexus.RefreshToken) url.Values {
			f := refreshForm(rt)
			f.Set("client_id", "other")
			return f
		}, status: 401, code: "invalid_client"},
		{name: "no grant_type", basic: serverBasic, form: func(rt bluenexus.RefreshToken) url.Values {
			return url.Values{"refresh_token": {rt.Reveal()}}
		}, status: 400, code: "invalid_request"},
		{name: "password grant", basic: serverBasic, form: func(rt bluenexus.RefreshToken) url.Values {
			return url.Values{"grant_type": {"password"}, "refresh_token": {rt.Reveal()}}
		}, status: 400, code: "unsupported_grant_type"},
		{name: "no refresh_token", basic: serverBasic, form: func(bluenexus.RefreshToken) url.Values {
			return url.Values{"grant_type": {"refresh_token"}}
		}, status: 400, code: "invalid_request"},
		{name: "unknown refresh_token", basic: serverBasic, form: func(bluenexus.RefreshToken) url.Values {
			return refreshForm("bnxr_unknown")
		}, status: 400, code: "invalid_grant"},
		{name: "an access token as refresh token", basic: serverBasic, form: func(bluenexus.RefreshToken) url.Values {
			return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {bluenexustest.TokenPrefix + "x"}}
		}, status: 400, code: "invalid_grant"},
		{name: "repeated parameter", basic: serverBasic, form: func(rt bluenexus.RefreshToken) url.Values {
			f := refreshForm(rt)
			f.Add("refresh_token", rt.Reveal())
			return f
		}, status: 400, code: "invalid_request"},
		{name: "JSON body", basic: serverBasic, form: refreshForm, ctype: "application/json", status: 400, code: "invalid_request"},
		{name: "parameters in the URL", basic: serverBasic, form: refreshForm, query: "?refresh_token=x", status: 400, code: "invalid_request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, tc.opts...)
			pair := s.SignIn("alice")
			req := newRequest(t, http.MethodPost, s.URL()+bluenexustest.PathToken+tc.query, strings.NewReader(tc.form(pair.RefreshToken).Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			if tc.basic != nil {
				req.Header.Set("Authorization", tc.basic(s))
			}
			r := do(t, apiClient(t), req)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d; body %s", r.status, tc.status, r.body)
			}
			if cc := r.header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q", cc)
			}
			if tc.status == 200 {
				tb := r.tokens(t)
				if tb.TokenType != "Bearer" || tb.ExpiresIn != 900 || tb.RefreshExpiresIn != 604800 || tb.Scope != "connections" ||
					tb.AccessToken == "" || tb.RefreshToken == "" || tb.RefreshToken == pair.RefreshToken.Reveal() {
					t.Errorf("body %s", r.body)
				}
				if got := apiCall(t, s, http.MethodGet, bluenexustest.PathConnections, bluenexus.AccessToken(tb.AccessToken)); got.status != 200 {
					t.Errorf("new access token: %d", got.status)
				}
				return
			}
			var eb bnwire.ErrorBody
			if err := json.Unmarshal([]byte(r.body), &eb); err != nil {
				t.Fatal(err)
			}
			if eb.Error != tc.code || eb.StatusCode != tc.status || eb.Message == "" || eb.ErrorDescription != eb.Message {
				t.Errorf("body %s, want error %s", r.body, tc.code)
			}
			if strings.Contains(r.body, pair.RefreshToken.Reveal()) || strings.Contains(r.body, "bluenexus-emulator-secret") {
				t.Errorf("error body echoes a secret: %s", r.body)
			}
			if tc.code == "invalid_client" && tc.basic != nil && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic") {
				t.Errorf("WWW-Authenticate %q, want a Basic challenge", r.header.Get("WWW-Authenticate"))
			}
			if got := s.RefreshReplays(); got != 0 {
				t.Errorf("RefreshReplays = %d", got)
			}
			// A refused call spends nothing: the refresh token still works.
			tokenCall(t, s, serverBasic(s), refreshForm(pair.RefreshToken)).tokens(t)
		})
	}
}

// TestRefreshTokenRules pins rotation, single use, replay revoking the
// whole session, expiry and RevokeSessions (BLUENEXUS.md 6, RFC 9700
// 4.14.2).
func TestRefreshTokenRules(t *testing.T) {
	type env struct {
		s     *bluenexustest.Server
		clock interface{ Advance(time.Duration) }
		first bluenexus.Token
	}
	tests := []struct {
		name string
		// run spends tokens and returns the token it presents last and the
		// access tokens that must now fail (dead) or work (alive).
		run         func(t *testing.T, e env) (present bluenexus.RefreshToken, dead, alive []bluenexus.AccessToken)
		want        int
		wantReplays int
	}{
		{name: "first use rotates", run: func(t *testing.T, e env) (bluenexus.RefreshToken, []bluenexus.AccessToken, []bluenexus.AccessToken) {
			return e.first.RefreshToken, nil, []bluenexus.AccessToken{e.first.AccessToken}
		}, want: 200},
		{name: "the rotated token works", run: func(t *testing.T, e env) (bluenexus.RefreshToken, []bluenexus.AccessToken, []bluenexus.AccessToken) {
			next := tokenCall(t, e.s, serverBasic(e.s), refreshForm(e.first.RefreshToken)).tokens(t)
			return bluenexus.RefreshToken(next.RefreshToken), nil, []bluenexus.AccessToken{bluenexus.AccessToken(next.AccessToken)}
		}, want: 200},
		{name: "replay revokes the session", run: func(t *testing.T, e env) (bluenexus.RefreshToken, []bluenexus.AccessToken, []bluenexus.AccessToken) {
			next := tokenCall(t, e.s, serverBasic(e.s), refreshForm(e.first.RefreshToken)).tokens(t)
			other := e.s.SignIn("alice") // another session of the same user
			return e.first.RefreshToken,
				[]bluenexus.AccessToken{e.first.AccessToken, bluenexus.AccessToken(next.AccessToken)},
				[]bluenexus.AccessToken{other.AccessToken, e.s.AddUser("alice")}
		}, want: 400, wantReplays: 1},
		{name: "after a replay the rotated token is dead too", run: func(t *testing.T, e env) (bluenexus.RefreshToken, []bluenexus.AccessToken, []bluenexus.AccessToken) {
			next := tokenCall(t, e.s, serverBasic(e.s), refreshForm(e.first.RefreshToken)).tokens(t)
			if r := tokenCall(t, e.s, serverBasic(e.s), refreshForm(e.first.RefreshToken)); r.status != 400 {
				t.Fatalf("replay: %d", r.status)
			}
			return bluenexus.RefreshToken(next.RefreshToken), []bluenexus.AccessToken{bluenexus.AccessToken(next.AccessToken)}, nil
		}, want: 400, wantReplays: 1},
		{name: "expired refresh token", run: func(t *testing.T, e env) (bluenexus.RefreshToken, []bluenexus.AccessToken, []bluenexus.AccessToken) {
			e.clock.Advance(7 * 24 * time.Hour)
			return e.first.RefreshToken, []bluenexus.AccessToken{e.first.AccessToken}, nil
		}, want: 400},
		{name: "refresh token just before expiry", run: func(t *testing.T, e env) (bluenexus.RefreshToken, []bluenexus.AccessToken, []bluenexus.AccessToken) {
			e.clock.Advance(7*24*time.Hour - time.Second)
			return e.first.RefreshToken, []bluenexus.AccessToken{e.first.AccessToken}, nil
		}, want: 200},
		{name: "refreshing renews an expired access token", run: func(t *testing.T, e env) (bluenexus.RefreshToken, []bluenexus.AccessToken, []bluenexus.AccessToken) {
			e.clock.Advance(time.Hour)
			return e.first.RefreshToken, []bluenexus.AccessToken{e.first.AccessToken}, nil
		}, want: 200},
		{name: "RevokeSessions", run: func(t *testing.T, e env) (bluenexus.RefreshToken, []bluenexus.AccessToken, []bluenexus.AccessToken) {
			static := e.s.AddUser("alice")
			bob := e.s.SignIn("bob")
			e.s.RevokeSessions("alice")
			return e.first.RefreshToken, []bluenexus.AccessToken{e.first.AccessToken, static}, []bluenexus.AccessToken{bob.AccessToken}
		}, want: 400},
		{name: "signing in again after RevokeSessions", run: func(t *testing.T, e env) (bluenexus.RefreshToken, []bluenexus.AccessToken, []bluenexus.AccessToken) {
			old := e.s.AddUser("alice")
			e.s.RevokeSessions("alice")
			again := e.s.SignIn("alice")
			static := e.s.AddUser("alice")
			if static == old {
				t.Errorf("AddUser after RevokeSessions returned the revoked token")
			}
			return again.RefreshToken, []bluenexus.AccessToken{old}, []bluenexus.AccessToken{static, again.AccessToken}
		}, want: 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := newFakeClock()
			s := newServer(t, bluenexustest.WithClock(clock.Now))
			e := env{s: s, clock: clock, first: s.SignIn("alice")}
			present, dead, alive := tc.run(t, e)
			r := tokenCall(t, s, serverBasic(s), refreshForm(present))
			if r.status != tc.want {
				t.Fatalf("status %d, want %d; body %s", r.status, tc.want, r.body)
			}
			if tc.want == 400 {
				if eb := r.errorBody(t); eb.Error != "invalid_grant" || eb.StatusCode != 400 {
					t.Errorf("body %s", r.body)
				}
			} else {
				alive = append(alive, bluenexus.AccessToken(r.tokens(t).AccessToken))
			}
			for i, tok := range dead {
				if got := apiCall(t, s, http.MethodGet, bluenexustest.PathConnections, tok); got.status != http.StatusUnauthorized {
					t.Errorf("dead token %d: status %d, want 401", i, got.status)
				}
			}
			for i, tok := range alive {
				if got := apiCall(t, s, http.MethodGet, bluenexustest.PathConnections, tok); got.status != http.StatusOK {
					t.Errorf("live token %d: status %d, want 200 (%s)", i, got.status, got.body)
				}
			}
			if got := s.RefreshReplays(); got != tc.wantReplays {
				t.Errorf("RefreshReplays = %d, want %d", got, tc.wantReplays)
			}
			if got := s.Hits(bluenexustest.PathToken); got < 1 {
				t.Errorf("Hits(PathToken) = %d", got)
			}
		})
	}
}

// TestRealClientRefresh drives the token rules through the kit's own
// client: rotation, replay (invalid_grant is ErrReauthRequired, the session
// dies, the replay is counted), an expired access token on handoff init and
// the connections list, and a wrong client secret (never
// ErrReauthRequired).
func TestRealClientRefresh(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	s := newServer(t, bluenexustest.WithClock(clock.Now))
	s.Connect("alice", "notion")
	c := newClient(t, s)
	first := s.SignIn("alice")
	handoff := bluenexus.HandoffRequest{RedirectURI: "https://app.example.com/connections/return", Intent: bluenexus.IntentConnections}

	list := func(tok bluenexus.AccessToken) error {
		for _, err := range c.AllConnections(ctx, tok) {
			if err != nil {
				return err
			}
		}
		return nil
	}
	status := func(err error) int {
		var ae *bluenexus.APIError
		if errors.As(err, &ae) {
			return ae.StatusCode
		}
		return 0
	}

	// The access token expires on the emulator's clock.
	clock.Advance(15*time.Minute + time.Second)
	if _, err := c.InitHandoff(ctx, first.AccessToken, handoff); status(err) != http.StatusUnauthorized {
		t.Fatalf("init with an expired token: %v, want 401", err)
	}
	if err := list(first.AccessToken); status(err) != http.StatusUnauthorized {
		t.Fatalf("list with an expired token: %v, want 401", err)
	}

	// Refresh: a new pair that works, expiring by the server's TTL.
	next, err := c.Refresh(ctx, first.RefreshToken)
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if next.RefreshToken == first.RefreshToken || next.AccessToken == first.AccessToken || next.Scope != "connections" {
		t.Errorf("Refresh did not rotate: %+v", next)
	}
	if d := next.RefreshExpiry.Sub(next.Expiry); d != 7*24*time.Hour-900*time.Second {
		t.Errorf("lifetimes differ by %v", d)
	}
	if _, err := c.InitHandoff(ctx, next.AccessToken, handoff); err != nil {
		t.Fatalf("init with the refreshed token: %v", err)
	}
	if err := list(next.AccessToken); err != nil {
		t.Fatalf("list with the refreshed token: %v", err)
	}
	third, err := c.Refresh(ctx, next.RefreshToken)
	if err != nil {
		t.Fatalf("second Refresh: %v", err)
	}
	if s.RefreshReplays() != 0 {
		t.Fatalf("RefreshReplays = %d after clean rotation", s.RefreshReplays())
	}

	// Replay: sign in again; the whole session is gone.
	_, err = c.Refresh(ctx, first.RefreshToken)
	if !errors.Is(err, bluenexus.ErrReauthRequired) || status(err) != http.StatusBadRequest {
		t.Fatalf("replay: %v, want ErrReauthRequired (400)", err)
	}
	if s.RefreshReplays() != 1 {
		t.Errorf("RefreshReplays = %d, want 1", s.RefreshReplays())
	}
	if _, err := c.InitHandoff(ctx, third.AccessToken, handoff); status(err) != http.StatusUnauthorized {
		t.Errorf("init after the replay: %v, want 401", err)
	}
	if err := list(third.AccessToken); status(err) != http.StatusUnauthorized {
		t.Errorf("list after the replay: %v, want 401", err)
	}
	if _, err := c.Refresh(ctx, third.RefreshToken); !errors.Is(err, bluenexus.ErrReauthRequired) {
		t.Errorf("refresh in the revoked session: %v, want ErrReauthRequired", err)
	}
	if strings.Contains(err.Error(), third.RefreshToken.Reveal()) {
		t.Errorf("error carries the refresh token")
	}

	// An expired refresh token is ErrReauthRequired too.
	fresh := s.SignIn("alice")
	clock.Advance(8 * 24 * time.Hour)
	if _, err := c.Refresh(ctx, fresh.RefreshToken); !errors.Is(err, bluenexus.ErrReauthRequired) {
		t.Errorf("expired refresh token: %v, want ErrReauthRequired", err)
	}

	// A client the emulator does not know is a configuration error.
	wrong, err := bluenexus.NewClient(bluenexus.WithBaseURL(s.URL()), bluenexus.WithClientCredentials("bluenexus-emulator", "wrong"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = wrong.Refresh(ctx, s.SignIn("alice").RefreshToken)
	if status(err) != http.StatusUnauthorized || errors.Is(err, bluenexus.ErrReauthRequired) {
		t.Errorf("wrong secret: %v, want 401 invalid_client, not ErrReauthRequired", err)
	}
	if s.RefreshReplays() != 1 {
		t.Errorf("RefreshReplays = %d, want still 1", s.RefreshReplays())
	}

	// A public client sends client_id in the form.
	pub := newServer(t, bluenexustest.WithClientCredentials("mobile-app", ""))
	if _, err := newClient(t, pub).Refresh(ctx, pub.SignIn("alice").RefreshToken); err != nil {
		t.Errorf("public client: %v", err)
	}
}

// TestTokenRateLimit pins WithRateLimits on the token endpoint: 10 calls a
// minute per client, then 429 with the documented body and Retry-After,
// and a new window after the minute; off by default.
func TestTokenRateLimit(t *testing.T) {
	for _, limited := range []bool{false, true} {
		t.Run(map[bool]string{false: "default off", true: "WithRateLimits"}[limited], func(t *testing.T) {
			clock := newFakeClock()
			opts := []bluenexustest.Option{bluenexustest.WithClock(clock.Now)}
			if limited {
				opts = append(opts, bluenexustest.WithRateLimits())
			}
			s := newServer(t, opts...)
			rt := s.SignIn("alice").RefreshToken
			for range 10 {
				tb := tokenCall(t, s, serverBasic(s), refreshForm(rt)).tokens(t)
				rt = bluenexus.RefreshToken(tb.RefreshToken)
				clock.Advance(time.Second)
			}
			r := tokenCall(t, s, serverBasic(s), refreshForm(rt))
			if !limited {
				r.tokens(t)
				return
			}
			if r.status != http.StatusTooManyRequests {
				t.Fatalf("11th call: %d, want 429", r.status)
			}
			eb := r.errorBody(t)
			if eb.Error != "TooManyRequestsError" || eb.Message != "Rate limit exceeded" || eb.StatusCode != 429 {
				t.Errorf("body %s", r.body)
			}
			if got := r.header.Get("Retry-After"); got != "50" {
				t.Errorf("Retry-After %q, want 50", got)
			}
			// The refused call did not spend the refresh token.
			clock.Advance(50 * time.Second)
			tokenCall(t, s, serverBasic(s), refreshForm(rt)).tokens(t)
			if s.RefreshReplays() != 0 || s.Hits(bluenexustest.PathToken) != 12 {
				t.Errorf("replays %d hits %d", s.RefreshReplays(), s.Hits(bluenexustest.PathToken))
			}
			// The token limit is its own: the API still answers.
			if r := apiCall(t, s, http.MethodGet, bluenexustest.PathConnections, s.AddUser("alice")); r.status != 200 {
				t.Errorf("list: %d", r.status)
			}
		})
	}
}

// TestAPIRateLimit pins the global 100/minute limit of WithRateLimits on
// the other API paths.
func TestAPIRateLimit(t *testing.T) {
	clock := newFakeClock()
	s := newServer(t, bluenexustest.WithClock(clock.Now), bluenexustest.WithRateLimits())
	tok := s.AddUser("alice")
	for i := range 100 {
		path := bluenexustest.PathConnections
		if i%2 == 1 {
			path += "/conn_unknown" // every API path shares the limit
		}
		if r := apiCall(t, s, http.MethodGet, path, tok); r.status == http.StatusTooManyRequests {
			t.Fatalf("call %d limited", i)
		}
	}
	r := apiCall(t, s, http.MethodGet, bluenexustest.PathConnections, tok)
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "60" || r.errorBody(t).Error != "TooManyRequestsError" {
		t.Fatalf("101st call: %d Retry-After %q %s", r.status, r.header.Get("Retry-After"), r.body)
	}
	// The white-label page and the health check are not limited.
	if r := do(t, apiClient(t), newRequest(t, http.MethodGet, s.URL()+bluenexustest.PathHealth, nil)); r.status != 200 {
		t.Errorf("healthz: %d", r.status)
	}
	if r := getPage(t, browser(t), s); r.status == http.StatusTooManyRequests {
		t.Errorf("white-label page limited")
	}
	clock.Advance(time.Minute)
	if r := apiCall(t, s, http.MethodGet, bluenexustest.PathConnections, tok); r.status != 200 {
		t.Errorf("after the window: %d", r.status)
	}
}
