package bluenexus

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/handoffkit/handoffkit/internal/bnwire"
)

// TestAPIError_IsMatchesOnlyWhatTheAnswerMeans: an APIError matches
// ErrClientCriteria by its message, whatever the status, and
// ErrReauthRequired only when the token call classified it so; a status
// alone matches no sentinel (callers read StatusCode).
func TestAPIError_IsMatchesOnlyWhatTheAnswerMeans(t *testing.T) {
	tests := []struct {
		e    APIError
		want []error
	}{
		{APIError{StatusCode: 400, Message: "bad"}, nil},
		{APIError{StatusCode: 401, Message: "Unauthorized"}, nil},
		{APIError{StatusCode: 403}, nil},
		{APIError{StatusCode: 429, Message: "Rate limit exceeded"}, nil},
		{APIError{StatusCode: 500, Message: "boom"}, nil},
		{APIError{StatusCode: 503}, nil},
		{APIError{StatusCode: 400, Code: "invalid_grant"}, nil}, // not from the token call
		{APIError{StatusCode: 400, Message: bnwire.ClientCriteriaMessage}, []error{ErrClientCriteria}},
		{APIError{StatusCode: 403, Message: "unable to determine CLIENT CRITERIAS for secure handoff."}, []error{ErrClientCriteria}},
		{APIError{StatusCode: 500, Message: "Error: " + bnwire.ClientCriteriaMessage + " (ip)"}, []error{ErrClientCriteria}},
		{APIError{StatusCode: 422, Message: "client criteria"}, nil},
		{APIError{StatusCode: 400, Code: "invalid_grant", reauth: true}, []error{ErrReauthRequired}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%d %s %s %v", tc.e.StatusCode, tc.e.Code, tc.e.Message, tc.e.reauth), func(t *testing.T) {
			wrapped := fmt.Errorf("outer: %w", &tc.e)
			for _, s := range sentinels {
				want := false
				for _, w := range tc.want {
					want = want || w == s
				}
				if got := errors.Is(wrapped, s); got != want {
					t.Errorf("errors.Is(%v) = %v, want %v", s, got, want)
				}
			}
			if ae, ok := errors.AsType[*APIError](wrapped); !ok || ae.StatusCode != tc.e.StatusCode {
				t.Errorf("errors.As lost the status: %v", ae)
			}
		})
	}
}

func TestAPIError_Error(t *testing.T) {
	tests := []struct {
		e    APIError
		want string
	}{
		{APIError{StatusCode: 429, Code: "TooManyRequestsError", Message: "Rate limit exceeded"},
			`bluenexus: upstream status 429 TooManyRequestsError: "Rate limit exceeded"`},
		{APIError{StatusCode: 400, Code: "Bad Error\n"}, `bluenexus: upstream status 400 "Bad Error\n": "Bad Request"`},
		{APIError{StatusCode: 502}, `bluenexus: upstream status 502: "Bad Gateway"`},
		{APIError{StatusCode: 400, Message: "line\nX-Injected: yes"}, `bluenexus: upstream status 400: "line\nX-Injected: yes"`},
		{APIError{StatusCode: 799}, `bluenexus: upstream status 799`},
	}
	for _, tc := range tests {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("Error() = %s, want %s", got, tc.want)
		}
	}
}

func TestAPIError_FromResponses(t *testing.T) {
	tests := []struct {
		name   string
		status int
		ctype  string
		hdr    map[string]string
		body   string
		want   APIError
	}{
		{name: "documented body", status: 429, hdr: map[string]string{"Retry-After": "7"},
			body: `{"error":"TooManyRequestsError","message":"Rate limit exceeded","statusCode":429}`,
			want: APIError{StatusCode: 429, Code: "TooManyRequestsError", Message: "Rate limit exceeded", RetryAfter: 7 * time.Second}},
		{name: "field errors", status: 400,
			body: `{"error":"ValidationError","message":"invalid","statusCode":400,"details":{"k":"v"},"errors":[{"field":"redirectUri","message":"must be https","value":"http://x"}]}`,
			want: APIError{StatusCode: 400, Code: "ValidationError", Message: "invalid",
				Errors: []FieldError{{Field: "redirectUri", Message: "must be https"}}}},
		{name: "HTTP status wins over body", status: 503,
			body: `{"error":"X","message":"m","statusCode":200}`,
			want: APIError{StatusCode: 503, Code: "X", Message: "m"}},
		{name: "HTML body", status: 502, ctype: "text/html", body: `<html>bad gateway</html>`,
			want: APIError{StatusCode: 502}},
		{name: "empty body", status: 401, want: APIError{StatusCode: 401}},
		{name: "malformed JSON", status: 500, body: `{"error":`, want: APIError{StatusCode: 500}},
		{name: "long message truncated", status: 400,
			body: `{"message":"` + strings.Repeat("é", 2000) + `"}`,
			want: APIError{StatusCode: 400, Message: strings.Repeat("é", 512)}},
		{name: "unknown status", status: 418, body: `{"error":"Teapot"}`, want: APIError{StatusCode: 418, Code: "Teapot"}},
		{name: "OAuth shape", status: 400, body: `{"error":"invalid_grant","error_description":"Refresh token expired"}`,
			want: APIError{StatusCode: 400, Code: "invalid_grant", Message: "Refresh token expired"}},
		{name: "message wins over error_description", status: 400, body: `{"error":"E","message":"m","error_description":"d"}`,
			want: APIError{StatusCode: 400, Code: "E", Message: "m"}},
		{name: "form-encoded OAuth shape", status: 400, ctype: "application/x-www-form-urlencoded",
			body: `error=invalid_grant&error_description=Refresh+token+expired%21`,
			want: APIError{StatusCode: 400, Code: "invalid_grant", Message: "Refresh token expired!"}},
		{name: "form-encoded, the token scrubbed", status: 400, ctype: "application/x-www-form-urlencoded",
			body: `error=E&error_description=got+` + testToken.Reveal(),
			want: APIError{StatusCode: 400, Code: "E", Message: "got [REDACTED]"}},
		{name: "form body sent as JSON is not read", status: 400, body: `error=invalid_grant`, want: APIError{StatusCode: 400}},
		{name: "trailing data", status: 400, body: `{"error":"E"} {"error":"F"}`, want: APIError{StatusCode: 400}},
		{name: "the token scrubbed everywhere", status: 400,
			body: `{"error":"E ` + testToken.Reveal() + `","message":"got ` + testToken.Reveal() + `",` +
				`"errors":[{"field":"` + testToken.Reveal() + `","message":"bad ` + testToken.Reveal() + `"}]}`,
			want: APIError{StatusCode: 400, Code: "E [REDACTED]", Message: "got [REDACTED]",
				Errors: []FieldError{{Field: "[REDACTED]", Message: "bad [REDACTED]"}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
				ct := tc.ctype
				if ct == "" {
					ct = "application/json"
				}
				w.Header().Set("Content-Type", ct)
				for k, v := range tc.hdr {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				w.Write([]byte(tc.body))
			})
			c := newTestClient(t, f.URL, WithoutBreaker())
			_, err := listPage(c, context.Background(), testToken)
			ae, ok := errors.AsType[*APIError](err)
			if !ok {
				t.Fatalf("error %v (%T), want *APIError", err, err)
			}
			if ae.StatusCode != tc.want.StatusCode || ae.Code != tc.want.Code || ae.Message != tc.want.Message ||
				ae.RetryAfter != tc.want.RetryAfter ||
				fmt.Sprint(ae.Errors) != fmt.Sprint(tc.want.Errors) {
				t.Errorf("got  %#v\nwant %#v", *ae, tc.want)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		v    string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{"7", 7 * time.Second, true},
		{" 120 ", 2 * time.Minute, true},
		{"86400", 24 * time.Hour, true},
		{"86401", 24 * time.Hour, true},
		{"99999999999999999999999", 24 * time.Hour, true},
		{"-1", 0, false},
		{"1.5", 0, false},
		{"+5", 0, false},
		{"soon", 0, false},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{"Sunday, 01-Jun-25 12:01:00 GMT", time.Minute, true}, // RFC 850
		{"Sun Jun  1 12:00:30 2025", 30 * time.Second, true},  // asctime
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{now.Add(1000 * time.Hour).Format(http.TimeFormat), 24 * time.Hour, true},
	}
	for _, tc := range tests {
		got, ok := parseRetryAfter(tc.v, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tc.v, got, ok, tc.want, tc.ok)
		}
	}
}

// TestRetryAfter covers RetryAfter, which the handlers read.
func TestRetryAfter(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want time.Duration
		ok   bool
	}{
		{"nil", nil, 0, false},
		{"plain", errors.New("x"), 0, false},
		{"429 with wait", &APIError{StatusCode: 429, RetryAfter: 3 * time.Second}, 3 * time.Second, true},
		{"wrapped 503 with wait", fmt.Errorf("w: %w", &APIError{StatusCode: 503, RetryAfter: time.Minute}), time.Minute, true},
		{"429 without wait", &APIError{StatusCode: 429}, 0, false},
		{"circuit open", &circuitOpenError{wait: 12 * time.Second}, 12 * time.Second, true},
		{"wrapped circuit open", fmt.Errorf("w: %w", &circuitOpenError{}), 0, true},
	}
	for _, tc := range tests {
		got, ok := RetryAfter(tc.err)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: RetryAfter = %v, %v; want %v, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
	if !errors.Is(&circuitOpenError{}, ErrCircuitOpen) || !strings.HasPrefix((&circuitOpenError{}).Error(), "bluenexus: ") {
		t.Error("circuit open error does not match ErrCircuitOpen or lacks the prefix")
	}
}

func TestSentinelsArePrefixed(t *testing.T) {
	for _, e := range sentinels {
		if !strings.HasPrefix(e.Error(), "bluenexus: ") {
			t.Errorf("%q lacks the package prefix", e)
		}
	}
}
