package bluenexustest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/bluenexus/bluenexustest"
)

// fields decodes a 200 token answer into its raw fields, to see which are
// present.
func (r response) fields(t testing.TB) map[string]any {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("token: status %d, body %s", r.status, r.body)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		t.Fatalf("token body %q: %v", r.body, err)
	}
	return m
}

// oauthError reads a token endpoint error in the shape its Content-Type
// names: JSON or form-encoded.
func (r response) oauthError(t testing.TB) (code, description string, form bool) {
	t.Helper()
	if strings.HasPrefix(r.header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		v, err := url.ParseQuery(r.body)
		if err != nil || len(v) != 2 {
			t.Fatalf("form error body %q: %v", r.body, err)
		}
		return v.Get("error"), v.Get("error_description"), true
	}
	eb := r.errorBody(t)
	return eb.Error, eb.ErrorDescription, false
}

// TestTokenVariants plays each variant of the token endpoint, set once by
// WithTokenVariants and once over the control API, and checks the wire
// answers.
func TestTokenVariants(t *testing.T) {
	tests := []struct {
		name  string
		v     bluenexustest.TokenVariants
		json  string // the same variants for POST /_emulator/token-variants
		check func(t *testing.T, s *bluenexustest.Server, pair bluenexus.Token)
	}{
		{name: "published behaviour: a replay revokes and is counted", json: `{}`,
			check: func(t *testing.T, s *bluenexustest.Server, pair bluenexus.Token) {
				next := tokenCall(t, s, serverBasic(s), refreshForm(pair.RefreshToken))
				m := next.fields(t)
				if m["token_type"] != "Bearer" || m["expires_in"] != 900.0 || m["refresh_token"] == nil || m["refresh_expires_in"] == nil {
					t.Errorf("answer %s", next.body)
				}
				r := tokenCall(t, s, serverBasic(s), refreshForm(pair.RefreshToken))
				code, desc, _ := r.oauthError(t)
				if r.status != 400 || code != "invalid_grant" || !strings.Contains(desc, "already used") {
					t.Errorf("replay: %d %s", r.status, r.body)
				}
				if n := s.RefreshReplays(); n != 1 {
					t.Errorf("RefreshReplays = %d, want 1", n)
				}
				if st := control(t, s, http.MethodGet, "stats", ""); !strings.Contains(st.body, `"refreshReplays":1`) {
					t.Errorf("stats %s", st.body)
				}
			}},
		{name: "no rotation", v: bluenexustest.TokenVariants{NoRotation: true}, json: `{"noRotation":true}`,
			check: func(t *testing.T, s *bluenexustest.Server, pair bluenexus.Token) {
				var access []string
				for i := range 3 {
					r := tokenCall(t, s, serverBasic(s), refreshForm(pair.RefreshToken))
					m := r.fields(t)
					if _, ok := m["refresh_token"]; ok {
						t.Errorf("call %d: refresh_token in %s", i, r.body)
					}
					if _, ok := m["refresh_expires_in"]; ok {
						t.Errorf("call %d: refresh_expires_in in %s", i, r.body)
					}
					if m["expires_in"] != 900.0 || m["token_type"] != "Bearer" {
						t.Errorf("call %d: %s", i, r.body)
					}
					at, _ := m["access_token"].(string)
					if got := apiCall(t, s, http.MethodGet, bluenexustest.PathConnections, bluenexus.AccessToken(at)); got.status != 200 {
						t.Errorf("call %d: access token: %d", i, got.status)
					}
					access = append(access, at)
				}
				if access[0] == access[1] || access[1] == access[2] {
					t.Errorf("access tokens repeat: %v", access)
				}
				if n := s.RefreshReplays(); n != 0 {
					t.Errorf("RefreshReplays = %d", n)
				}
			}},
		{name: "no expires_in", v: bluenexustest.TokenVariants{NoExpiresIn: true}, json: `{"noExpiresIn":true}`,
			check: func(t *testing.T, s *bluenexustest.Server, pair bluenexus.Token) {
				r := tokenCall(t, s, serverBasic(s), refreshForm(pair.RefreshToken))
				m := r.fields(t)
				if _, ok := m["expires_in"]; ok {
					t.Errorf("expires_in in %s", r.body)
				}
				if m["refresh_token"] == nil || m["token_type"] != "Bearer" {
					t.Errorf("answer %s", r.body)
				}
				// The token still expires after the configured life.
				at := bluenexus.AccessToken(m["access_token"].(string))
				s.AdvanceClock(899 * time.Second)
				if got := apiCall(t, s, http.MethodGet, bluenexustest.PathConnections, at); got.status != 200 {
					t.Errorf("before expiry: %d", got.status)
				}
				s.AdvanceClock(time.Second)
				if got := apiCall(t, s, http.MethodGet, bluenexustest.PathConnections, at); got.status != 401 {
					t.Errorf("after expiry: %d", got.status)
				}
			}},
		{name: "lower-case token_type", v: bluenexustest.TokenVariants{LowercaseTokenType: true}, json: `{"lowercaseTokenType":true}`,
			check: func(t *testing.T, s *bluenexustest.Server, pair bluenexus.Token) {
				r := tokenCall(t, s, serverBasic(s), refreshForm(pair.RefreshToken))
				if m := r.fields(t); m["token_type"] != "bearer" || m["refresh_token"] == nil || m["expires_in"] != 900.0 {
					t.Errorf("answer %s", r.body)
				}
			}},
		{name: "form-encoded errors", v: bluenexustest.TokenVariants{FormErrors: true}, json: `{"formErrors":true}`,
			check: func(t *testing.T, s *bluenexustest.Server, pair bluenexus.Token) {
				for _, c := range []struct {
					name   string
					basic  string
					rt     bluenexus.RefreshToken
					status int
					code   string
				}{
					{"unknown token", serverBasic(s), "bnxr_unknown", 400, "invalid_grant"},
					{"wrong client", basicAuth("other", "x"), pair.RefreshToken, 401, "invalid_client"},
					{"no client", "", pair.RefreshToken, 401, "invalid_client"},
				} {
					r := tokenCall(t, s, c.basic, refreshForm(c.rt))
					code, desc, form := r.oauthError(t)
					if r.status != c.status || !form || code != c.code || desc == "" {
						t.Errorf("%s: %d %q %s", c.name, r.status, r.header.Get("Content-Type"), r.body)
					}
					if cc := r.header.Get("Cache-Control"); cc != "no-store" {
						t.Errorf("%s: Cache-Control %q", c.name, cc)
					}
					if c.status == 401 && r.header.Get("WWW-Authenticate") == "" {
						t.Errorf("%s: 401 without WWW-Authenticate", c.name)
					}
				}
				// Successes stay JSON; a replay says so in the form.
				tokenCall(t, s, serverBasic(s), refreshForm(pair.RefreshToken)).fields(t)
				r := tokenCall(t, s, serverBasic(s), refreshForm(pair.RefreshToken))
				if code, desc, form := r.oauthError(t); !form || code != "invalid_grant" || !strings.Contains(desc, "already used") {
					t.Errorf("replay: %s", r.body)
				}
				if n := s.RefreshReplays(); n != 1 {
					t.Errorf("RefreshReplays = %d, want 1", n)
				}
			}},
		{name: "invalid_client", v: bluenexustest.TokenVariants{InvalidClient: true}, json: `{"invalidClient":true}`,
			check: func(t *testing.T, s *bluenexustest.Server, pair bluenexus.Token) {
				for range 2 {
					r := tokenCall(t, s, serverBasic(s), refreshForm(pair.RefreshToken))
					if code, _, form := r.oauthError(t); r.status != 400 || code != "invalid_client" || form {
						t.Errorf("answer %d %s", r.status, r.body)
					}
				}
				// Nothing was spent: once the client is fixed, the token works.
				s.SetTokenVariants(bluenexustest.TokenVariants{})
				tokenCall(t, s, serverBasic(s), refreshForm(pair.RefreshToken)).fields(t)
				if n := s.RefreshReplays(); n != 0 {
					t.Errorf("RefreshReplays = %d", n)
				}
			}},
		{name: "reuse grace", v: bluenexustest.TokenVariants{ReuseGrace: 5 * time.Second}, json: `{"reuseGrace":"5s"}`,
			check: func(t *testing.T, s *bluenexustest.Server, pair bluenexus.Token) {
				first := tokenCall(t, s, serverBasic(s), refreshForm(pair.RefreshToken))
				first.fields(t)
				s.AdvanceClock(4 * time.Second)
				again := tokenCall(t, s, serverBasic(s), refreshForm(pair.RefreshToken))
				if again.status != 200 || again.body != first.body {
					t.Errorf("within the grace: %d %s, want the first answer %s", again.status, again.body, first.body)
				}
				if n := s.RefreshReplays(); n != 0 {
					t.Errorf("RefreshReplays within the grace = %d", n)
				}
				s.AdvanceClock(time.Second)
				late := tokenCall(t, s, serverBasic(s), refreshForm(pair.RefreshToken))
				if code, desc, _ := late.oauthError(t); late.status != 400 || code != "invalid_grant" || !strings.Contains(desc, "already used") {
					t.Errorf("after the grace: %d %s", late.status, late.body)
				}
				if n := s.RefreshReplays(); n != 1 {
					t.Errorf("RefreshReplays = %d, want 1", n)
				}
				next := bluenexus.RefreshToken(first.fields(t)["refresh_token"].(string))
				if r := tokenCall(t, s, serverBasic(s), refreshForm(next)); r.status != 400 {
					t.Errorf("the session survived the replay: %d", r.status)
				}
			}},
		{name: "all at once", v: bluenexustest.TokenVariants{NoRotation: true, NoExpiresIn: true, LowercaseTokenType: true},
			json: `{"noRotation":true,"noExpiresIn":true,"lowercaseTokenType":true}`,
			check: func(t *testing.T, s *bluenexustest.Server, pair bluenexus.Token) {
				r := tokenCall(t, s, serverBasic(s), refreshForm(pair.RefreshToken))
				m := r.fields(t)
				if len(m) != 3 || m["token_type"] != "bearer" || m["access_token"] == nil || m["scope"] != "connections" {
					t.Errorf("answer %s, want token_type, access_token and scope only", r.body)
				}
			}},
	}
	for _, tc := range tests {
		for _, how := range []string{"option", "control API"} {
			t.Run(tc.name+"/"+how, func(t *testing.T) {
				clock := newFakeClock()
				opts := []bluenexustest.Option{bluenexustest.WithClock(clock.Now), bluenexustest.WithControlAPI()}
				if how == "option" {
					opts = append(opts, bluenexustest.WithTokenVariants(tc.v))
				}
				s := newServer(t, opts...)
				if how == "control API" {
					if r := control(t, s, http.MethodPost, "token-variants", tc.json); r.status != http.StatusNoContent {
						t.Fatalf("POST token-variants: %d %s", r.status, r.body)
					}
				}
				r := control(t, s, http.MethodGet, "token-variants", "")
				if want := variantsJSON(tc.v); r.status != 200 || r.body != want {
					t.Errorf("GET token-variants = %d %s, want %s", r.status, r.body, want)
				}
				tc.check(t, s, s.SignIn("alice"))
			})
		}
	}
}

// variantsJSON renders v as GET /_emulator/token-variants answers it.
func variantsJSON(v bluenexustest.TokenVariants) string {
	return fmt.Sprintf(`{"noRotation":%t,"noExpiresIn":%t,"lowercaseTokenType":%t,"formErrors":%t,"invalidClient":%t,"reuseGrace":%q}`,
		v.NoRotation, v.NoExpiresIn, v.LowercaseTokenType, v.FormErrors, v.InvalidClient, v.ReuseGrace.String())
}

// TestTokenVariantsSwitch: SetTokenVariants and the control API replace the
// variants in force, the sign-in answer of the control API never follows
// them, and Reset brings back the option's.
func TestTokenVariantsSwitch(t *testing.T) {
	start := bluenexustest.TokenVariants{LowercaseTokenType: true}
	s := newServer(t, bluenexustest.WithControlAPI(), bluenexustest.WithTokenVariants(start))
	if r := control(t, s, http.MethodPost, "token-variants", `{"noRotation":true}`); r.status != http.StatusNoContent {
		t.Fatalf("POST: %d %s", r.status, r.body)
	}
	if r := control(t, s, http.MethodGet, "token-variants", ""); r.body != variantsJSON(bluenexustest.TokenVariants{NoRotation: true}) {
		t.Errorf("POST did not replace: %s", r.body)
	}
	signIn := control(t, s, http.MethodPost, "users", `{"name":"carol"}`)
	if m := signIn.fields(t); m["token_type"] != "Bearer" || m["refresh_token"] == nil {
		t.Errorf("sign-in answer follows the variants: %s", signIn.body)
	}
	s.SetTokenVariants(bluenexustest.TokenVariants{FormErrors: true})
	if r := control(t, s, http.MethodGet, "token-variants", ""); r.body != variantsJSON(bluenexustest.TokenVariants{FormErrors: true}) {
		t.Errorf("after SetTokenVariants: %s", r.body)
	}
	s.Reset()
	if r := control(t, s, http.MethodGet, "token-variants", ""); r.body != variantsJSON(start) {
		t.Errorf("after Reset: %s, want the option's", r.body)
	}
}

// TestTokenVariantsRefused: a negative grace is refused by the option, the
// control API and SetTokenVariants; unknown fields by the control API.
func TestTokenVariantsRefused(t *testing.T) {
	if _, err := bluenexustest.New(bluenexustest.WithTokenVariants(bluenexustest.TokenVariants{ReuseGrace: -time.Second})); err == nil ||
		!strings.Contains(err.Error(), "WithTokenVariants") {
		t.Errorf("New: %v", err)
	}
	s := newServer(t, bluenexustest.WithControlAPI())
	for _, body := range []string{`{"reuseGrace":"-1s"}`, `{"reuseGrace":"soon"}`, `{"reuseGrace":5}`, `{"rotate":false}`, `{"noRotation":"yes"}`} {
		r := control(t, s, http.MethodPost, "token-variants", body)
		if eb := r.errorBody(t); r.status != 400 || eb.StatusCode != 400 {
			t.Errorf("%s: %d %s", body, r.status, r.body)
		}
	}
	if r := control(t, s, http.MethodPut, "token-variants", `{}`); r.status != http.StatusMethodNotAllowed {
		t.Errorf("PUT: %d", r.status)
	}
	defer func() {
		if recover() == nil {
			t.Errorf("SetTokenVariants with a negative grace did not panic")
		}
	}()
	s.SetTokenVariants(bluenexustest.TokenVariants{ReuseGrace: -time.Second})
}

// TestTokenVariantsFlag pins the flag syntax of *TokenVariants.
func TestTokenVariantsFlag(t *testing.T) {
	tests := []struct {
		in   []string // one Set call each
		want bluenexustest.TokenVariants
		str  string
	}{
		{in: []string{""}, str: ""},
		{in: []string{"no-rotation"}, want: bluenexustest.TokenVariants{NoRotation: true}, str: "no-rotation"},
		{in: []string{"no-expires-in, lowercase-token-type"}, want: bluenexustest.TokenVariants{NoExpiresIn: true, LowercaseTokenType: true}, str: "no-expires-in,lowercase-token-type"},
		{in: []string{"form-errors", "invalid-client"}, want: bluenexustest.TokenVariants{FormErrors: true, InvalidClient: true}, str: "form-errors,invalid-client"},
		{in: []string{"reuse-grace:5s,no-rotation"}, want: bluenexustest.TokenVariants{NoRotation: true, ReuseGrace: 5 * time.Second}, str: "no-rotation,reuse-grace:5s"},
	}
	for _, tc := range tests {
		var v bluenexustest.TokenVariants
		for _, in := range tc.in {
			if err := v.Set(in); err != nil {
				t.Fatalf("Set(%q): %v", in, err)
			}
		}
		if v != tc.want || v.String() != tc.str {
			t.Errorf("Set(%q) = %+v %q, want %+v %q", tc.in, v, v.String(), tc.want, tc.str)
		}
		var back bluenexustest.TokenVariants
		if err := back.Set(v.String()); err != nil || back != v {
			t.Errorf("round trip of %q: %+v %v", v.String(), back, err)
		}
	}
	for _, bad := range []string{"rotation", "reuse-grace", "reuse-grace:0s", "reuse-grace:-1s", "reuse-grace:soon", "NO-ROTATION"} {
		v := bluenexustest.TokenVariants{FormErrors: true}
		if err := v.Set(bad); err == nil || !strings.HasPrefix(err.Error(), "bluenexustest: ") {
			t.Errorf("Set(%q): %v", bad, err)
		}
		if v != (bluenexustest.TokenVariants{FormErrors: true}) {
			t.Errorf("Set(%q) changed v on error: %+v", bad, v)
		}
	}
}

// TestChallengeOnEvery401 pins RFC 9110 section 15.5.2: every 401 of the
// API and the token endpoint, injected ones included, carries a
// WWW-Authenticate challenge of the scheme the path takes.
func TestChallengeOnEvery401(t *testing.T) {
	s := newServer(t)
	pair := s.SignIn("alice")
	tests := []struct {
		name   string
		call   func() response
		scheme string
	}{
		{"API without a token", func() response {
			return apiCall(t, s, http.MethodGet, bluenexustest.PathConnections, "")
		}, "Bearer"},
		{"API with an unknown token", func() response {
			return apiCall(t, s, http.MethodGet, bluenexustest.PathConnections, "bnx_unknown")
		}, "Bearer"},
		{"token endpoint, wrong Basic", func() response {
			return tokenCall(t, s, basicAuth("other", "x"), refreshForm(pair.RefreshToken))
		}, "Basic"},
		{"token endpoint, wrong client in the form", func() response {
			f := refreshForm(pair.RefreshToken)
			f.Set("client_id", "other")
			f.Set("client_secret", "x")
			return tokenCall(t, s, "", f)
		}, "Basic"},
		{"token endpoint, no client authentication", func() response {
			return tokenCall(t, s, "", refreshForm(pair.RefreshToken))
		}, "Basic"},
		{"injected 401 on the token endpoint", func() response {
			s.Inject(bluenexustest.PathToken, bluenexustest.Status(401))
			return tokenCall(t, s, serverBasic(s), refreshForm(pair.RefreshToken))
		}, "Basic"},
		{"injected 401 on handoff init", func() response {
			s.Inject(bluenexustest.PathHandoffInit, bluenexustest.Status(401))
			return do(t, apiClient(t), initRequest(t, s, pair.AccessToken, initBody("https://app.example/r")))
		}, "Bearer"},
		{"injected 401 on connections", func() response {
			s.Inject(bluenexustest.PathConnections, bluenexustest.Status(401))
			return apiCall(t, s, http.MethodGet, bluenexustest.PathConnections, pair.AccessToken)
		}, "Bearer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.call()
			if r.status != http.StatusUnauthorized {
				t.Fatalf("status %d, body %s", r.status, r.body)
			}
			if got := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, tc.scheme+" realm=") {
				t.Errorf("WWW-Authenticate %q, want a %s challenge", got, tc.scheme)
			}
		})
	}
}
