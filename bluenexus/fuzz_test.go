package bluenexus

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzDecodeHandoff: the handoff decoder never panics, and a success always
// carries a non-empty code of at most 2048 bytes and an expiry no earlier
// than the send time and no later than a day after it, with BlueNexus's
// clock 25 s behind the client's.
func FuzzDecodeHandoff(f *testing.F) {
	for _, s := range []string{
		`{"code":"c"}`, `{"handoffCode":"c","expiresIn":30}`, `{"data":{"code":"c","expiresAt":"2025-06-01T12:00:20Z"}}`,
		`{"code":""}`, `{"expiresIn":1e999}`, `{"data":null}`, `[]`, ``, `{"code":"c","expiresIn":-0}`,
		`{"code":"c","expiresAt":"0001-01-01T00:00:00Z"}`, `{"code":"c","expiresIn":-1e300}`,
	} {
		f.Add([]byte(s))
	}
	sent := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		h, err := decodeHandoff(body, sent, sent.Add(-25*time.Second))
		if err != nil {
			if h.Code != "" {
				t.Fatal("code returned with an error")
			}
			if strings.Contains(err.Error(), string(body)) && len(body) > 8 {
				t.Fatalf("error quotes the body: %v", err)
			}
			return
		}
		if h.Code == "" || len(h.Code) > maxCodeLen {
			t.Fatalf("success with a code of %d bytes", len(h.Code))
		}
		if h.ExpiresAt.Before(sent) || h.ExpiresAt.After(sent.Add(maxExpiresIn*time.Second)) {
			t.Fatalf("expiry %v for a request sent at %v", h.ExpiresAt, sent)
		}
	})
}

// FuzzParseRetryAfter: never panics, never negative, never above the cap.
func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"", "0", "120", "99999999999999", "Sun, 01 Jun 2025 12:01:00 GMT", "-1", " 5 "} {
		f.Add(s)
	}
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := parseRetryAfter(v, now)
		if d < 0 || d > maxRetryAfter || !ok && d != 0 {
			t.Fatalf("parseRetryAfter(%q) = %v, %v", v, d, ok)
		}
	})
}

// FuzzNewAPIError: an error body never panics the decoder, never returns
// the token in any field, and stays within the size limits.
func FuzzNewAPIError(f *testing.F) {
	for _, s := range []string{
		`{"error":"E","message":"m","statusCode":429}`,
		`{"message":"tok-FUZZ-1234 leaked","errors":[{"field":"f","value":"tok-FUZZ-1234"}],"details":{"a":"tok-FUZZ-1234"}}`,
		`{"message":"` + strings.Repeat("é", 700) + `"}`, `<html>`, `{`, `{"errors":"x"}`,
		`{"message":"tok-FUZZ-\u0031234","details":{"tok-FUZZ-\u0031234":["tok-FUZZ-\u0031234"]},"errors":[{"value":{"a":"tok-FUZZ-\u0031234"}}]}`,
	} {
		f.Add(429, []byte(s), false)
	}
	f.Add(400, []byte("error=invalid_grant&error_description=tok-FUZZ-1234+leaked&access_token=x"), true)
	const tok = "tok-FUZZ-1234"
	f.Fuzz(func(t *testing.T, status int, body []byte, form bool) {
		ctype := "application/json"
		if form {
			ctype = "application/x-www-form-urlencoded"
		}
		e := newAPIError(status, 0, body, ctype, bearerSecrets(tok, "https://app/r?state=state-FUZZ-5678"))
		if e.StatusCode != status {
			t.Fatal("status changed")
		}
		if len(e.Code) > maxErrorCode || len(e.Message) > maxErrorMessage {
			t.Fatalf("over the limits: %d %d", len(e.Code), len(e.Message))
		}
		if utf8.ValidString(string(body)) && !utf8.ValidString(e.Message) && utf8.ValidString(e.Message+"x") {
			t.Fatal("truncation split a rune")
		}
		for _, s := range []string{e.Error(), e.Code, e.Message} {
			if strings.Contains(s, tok) || strings.Contains(s, "state-FUZZ-5678") {
				t.Fatalf("secret in %q", s)
			}
		}
		for _, fe := range e.Errors {
			if b, _ := json.Marshal(fe); strings.Contains(string(b), tok) {
				t.Fatalf("secret in %s", b)
			}
		}
	})
}
