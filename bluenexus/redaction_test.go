package bluenexus

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

const (
	canaryToken   AccessToken  = "tok-CANARY-5f1e0c"
	canaryRefresh RefreshToken = "rt-CANARY-0d4c2a"
	canaryCode    Code         = "code-CANARY-9a2b7d"
	canaryState                = "state-CANARY-71c3e8"
)

// renderings prints v every way a log line or an error page might.
func renderings(t *testing.T, v any) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%T %[1]v"} {
		out[verb] = fmt.Sprintf(verb, v)
	}
	if b, err := json.Marshal(v); err == nil {
		out["json"] = string(b)
	}
	var buf bytes.Buffer
	log := zerolog.New(&buf)
	log.Info().Interface("v", v).Msg("x")
	if err, ok := v.(error); ok {
		log.Error().Err(err).AnErr("e", err).Msg("x")
	}
	if s, ok := v.(fmt.Stringer); ok {
		log.Info().Stringer("s", s).Msg("x")
	}
	out["zerolog"] = buf.String()
	return out
}

func assertNoCanary(t *testing.T, what string, v any, canaries ...string) {
	t.Helper()
	if canaries == nil {
		canaries = []string{canaryToken.Reveal(), canaryRefresh.Reveal(), canaryCode.Reveal(), canaryState, "CANARY"}
	}
	for how, s := range renderings(t, v) {
		for _, canary := range canaries {
			if strings.Contains(s, canary) {
				t.Errorf("%s rendered with %s leaks %q: %s", what, how, canary, s)
			}
		}
	}
}

// TestD2_SecretValuesRedacted pins SECURITY.md D2 and E5: access tokens,
// refresh tokens and codes print, format and marshal as [REDACTED] with
// every fmt verb (%#v included: fmt calls Format, never GoString, on a
// Formatter), with encoding/json (through MarshalText) alone, as a map
// value and inside structs, and with zerolog's Interface and Any.
func TestD2_SecretValuesRedacted(t *testing.T) {
	h := Handoff{Code: canaryCode, ExpiresAt: time.Unix(0, 0).UTC()}
	tok := Token{AccessToken: canaryToken, RefreshToken: canaryRefresh, Scope: "connections"}
	values := map[string]any{
		"access token":   canaryToken,
		"refresh token":  canaryRefresh,
		"code":           canaryCode,
		"handoff":        h,
		"*handoff":       &h,
		"token":          tok,
		"*token":         &tok,
		"struct":         struct{ T AccessToken }{canaryToken},
		"map values":     map[string]any{"t": canaryToken, "c": canaryCode, "r": canaryRefresh},
		"slice":          []Code{canaryCode},
		"pointer to tok": func() *AccessToken { tk := canaryToken; return &tk }(),
	}
	for name, v := range values {
		t.Run(name, func(t *testing.T) {
			assertNoCanary(t, name, v)
			if s := fmt.Sprintf("%v", v); !strings.Contains(s, redacted) && name != "pointer to tok" {
				t.Errorf("%s prints %s, want [REDACTED]", name, s)
			}
		})
	}
	for name, v := range map[string]any{"access token": canaryToken, "refresh token": canaryRefresh, "code": canaryCode} {
		t.Run(name+" exactly", func(t *testing.T) {
			for _, verb := range []string{"%v", "%+v", "%s", "%q", "%#v", "%x", "%X", "%d", "%10s"} {
				if got := fmt.Sprintf(verb, v); got != redacted {
					t.Errorf("Sprintf(%q) = %q, want [REDACTED]", verb, got)
				}
			}
			if got := fmt.Sprint(v); got != redacted {
				t.Errorf("Sprint = %q", got)
			}
			if b, err := json.Marshal(v); err != nil || string(b) != `"[REDACTED]"` {
				t.Errorf("json.Marshal = %s, %v", b, err)
			}
			if b, err := json.Marshal(struct{ S any }{v}); err != nil || string(b) != `{"S":"[REDACTED]"}` {
				t.Errorf("json.Marshal in a struct = %s, %v", b, err)
			}
			if b, err := json.Marshal(map[string]any{"k": v}); err != nil || string(b) != `{"k":"[REDACTED]"}` {
				t.Errorf("json.Marshal as a map value = %s, %v", b, err)
			}
			var buf bytes.Buffer
			log := zerolog.New(&buf)
			log.Info().Interface("i", v).Any("a", v).Msg("")
			if got := buf.String(); got != `{"level":"info","i":"[REDACTED]","a":"[REDACTED]"}`+"\n" {
				t.Errorf("zerolog %s", got)
			}
		})
	}
	b, _ := json.Marshal(h)
	if !strings.Contains(string(b), `"Code":"[REDACTED]"`) {
		t.Errorf("json %s", b)
	}
	b, _ = json.Marshal(tok)
	if !strings.Contains(string(b), `"AccessToken":"[REDACTED]","RefreshToken":"[REDACTED]"`) {
		t.Errorf("json %s", b)
	}
	var buf bytes.Buffer
	log := zerolog.New(&buf)
	log.Info().Interface("token", canaryToken).Interface("code", canaryCode).
		Stringer("st", canaryToken).Any("rt", canaryRefresh).Msg("")
	if got := buf.String(); got != `{"level":"info","token":"[REDACTED]","code":"[REDACTED]","st":"[REDACTED]","rt":"[REDACTED]"}`+"\n" {
		t.Errorf("zerolog %s", got)
	}
}

// TestD2_SecretAsMapKey pins what a method can and cannot redact for a
// secret used as a map key. fmt formats keys with Format: redacted.
// encoding/json writes a key of string kind as the raw string and never
// calls MarshalText (encode.go resolveKeyName), so json.Marshal, and
// zerolog's Interface and Any with it, print the secret: the limitation
// secret.go documents. If the second half fails, Go changed; update the
// doc comment in secret.go.
func TestD2_SecretAsMapKey(t *testing.T) {
	for name, m := range map[string]any{
		"access token":  map[AccessToken]int{canaryToken: 1},
		"refresh token": map[RefreshToken]int{canaryRefresh: 1},
		"code":          map[Code]int{canaryCode: 1},
	} {
		t.Run(name, func(t *testing.T) {
			for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
				if s := fmt.Sprintf(verb, m); strings.Contains(s, "CANARY") || !strings.Contains(s, redacted) {
					t.Errorf("Sprintf(%q) = %s, want the key redacted", verb, s)
				}
			}
			b, err := json.Marshal(m)
			if err != nil || !strings.Contains(string(b), "CANARY") {
				t.Errorf("json.Marshal = %s, %v: encoding/json now redacts string-kind map keys; update secret.go", b, err)
			}
		})
	}
}

// TestD2_ErrorsNeverCarrySecrets runs failure paths with a canary token
// against an upstream that echoes it (and a canary code) everywhere it can.
func TestD2_ErrorsNeverCarrySecrets(t *testing.T) {
	tok, code := canaryToken.Reveal(), canaryCode.Reveal()
	redirect := "https://app.example.com/r?x=1&state=" + canaryState
	echo := `{"error":"` + tok + `","message":"token ` + tok + ` is bad for ` + redirect + `","statusCode":401,` +
		`"details":{"token":"` + tok + `","redirectUri":"` + strings.ReplaceAll(redirect, "/", `\/`) + `"},` +
		`"errors":[{"field":"` + tok + `","message":"` + tok + `","value":"` + tok + `"},` +
		`{"field":"redirectUri","message":"not registered","value":"` + redirect + `"}]}`
	refused := func() string {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		defer ln.Close()
		return "http://" + ln.Addr().String()
	}()
	tests := []struct {
		name    string
		h       http.HandlerFunc
		base    string
		token   AccessToken
		opts    []Option
		maxBody int64 // 0 for the default
	}{
		{name: "401 echoing the token", h: func(w http.ResponseWriter, r *http.Request) { reply(w, 401, echo) }},
		{name: "400 echoing the token", h: func(w http.ResponseWriter, r *http.Request) { reply(w, 400, echo) }},
		{name: "429 echoing the token", h: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", tok)
			reply(w, 429, echo)
		}},
		{name: "HTML 200 with both", h: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte("<p>" + tok + code + "</p>"))
		}},
		{name: "malformed JSON with both", h: func(w http.ResponseWriter, r *http.Request) {
			reply(w, 200, `{"code":"`+code+`","expiresAt":"`+tok+`","handoffCode":`+tok+`}`)
		}},
		{name: "code of the wrong type", h: func(w http.ResponseWriter, r *http.Request) {
			reply(w, 200, `{"code":{"value":"`+code+`"}}`)
		}},
		{name: "redirect carrying both", h: func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://evil.example/?t="+tok+"&c="+code, http.StatusFound)
		}},
		{name: "oversize body", maxBody: 64, h: func(w http.ResponseWriter, r *http.Request) {
			reply(w, 200, `{"code":"`+code+strings.Repeat("x", 100)+`"}`)
		}},
		{name: "timeout", opts: []Option{WithTimeout(100 * time.Millisecond)}, h: waitForRequest2},
		{name: "connection refused", base: refused},
		{name: "invalid token", token: AccessToken("tok-CANARY\n-5f1e0c")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base := tc.base
			if tc.h != nil {
				base = newFake(t, tc.h).URL
			}
			if base == "" {
				base = "http://127.0.0.1:1"
			}
			c := newTestClient(t, base, append([]Option{WithoutBreaker()}, tc.opts...)...)
			if tc.maxBody > 0 {
				c.maxBody = tc.maxBody
			}
			recordSleeps(c)
			token := canaryToken
			if tc.token != "" {
				token = tc.token
			}
			ctx := context.Background()
			_, err1 := c.InitHandoff(ctx, token, HandoffRequest{RedirectURI: redirect, Intent: IntentConnections})
			if err1 == nil {
				t.Fatal("InitHandoff: no error")
			}
			_, err2 := listPage(c, ctx, token)
			// Only handoff init knows the redirect URI (and so the state);
			// every call knows the token.
			for i, err := range []error{err1, err2} {
				if err == nil {
					continue // a body only handoff init rejects
				}
				var canaries []string
				if i > 0 {
					canaries = []string{canaryToken.Reveal(), "tok-CANARY"}
				}
				assertNoCanary(t, fmt.Sprintf("call %d error", i), err, canaries...)
				if ae, ok := err.(*APIError); ok {
					assertNoCanary(t, "APIError fields", *ae, canaries...)
				}
			}
		})
	}
}
