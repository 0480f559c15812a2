package bluenexus

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Sentinel errors. Test for them with [errors.Is]; an [*APIError] matches
// the ones that describe its status and message (see [APIError.Is]).
var (
	// ErrUnauthorized: BlueNexus answered 401 (missing or expired access token).
	ErrUnauthorized = errors.New("bluenexus: unauthorized")
	// ErrForbidden: BlueNexus answered 403 (for handoff init: a token that was
	// not issued to a white-label auth client).
	ErrForbidden = errors.New("bluenexus: forbidden")
	// ErrRateLimited: BlueNexus answered 429. [RetryAfter] tells how long to
	// wait when the response said so.
	ErrRateLimited = errors.New("bluenexus: rate limited")
	// ErrClientCriteria: BlueNexus could not fingerprint the caller of
	// handoff init ([ClientCriteriaMessage]), whatever the status. It usually
	// means the end user's IP was not forwarded.
	ErrClientCriteria = errors.New("bluenexus: client criteria not met")
	// ErrServer: BlueNexus answered with a 5xx status.
	ErrServer = errors.New("bluenexus: server error")
	// ErrTimeout: the call did not finish within its time budget or a
	// transport timeout fired. When a context deadline was the cause the
	// error also matches [context.DeadlineExceeded].
	ErrTimeout = errors.New("bluenexus: timeout")
	// ErrConnection: the request failed in transport (dial, TLS, reset).
	ErrConnection = errors.New("bluenexus: connection failed")
	// ErrBadResponse: the response was malformed, over the size cap, not
	// JSON, or a redirect (redirects are never followed).
	ErrBadResponse = errors.New("bluenexus: bad response")
	// ErrCircuitOpen: the circuit breaker is open after repeated upstream
	// failures; no request was sent. [RetryAfter] tells how long it stays open.
	ErrCircuitOpen = errors.New("bluenexus: circuit open")
	// ErrInvalidRequest: the arguments were rejected before any I/O (an empty
	// token, redirect URI or intent, a bad list option or connection id).
	ErrInvalidRequest = errors.New("bluenexus: invalid request")
)

// APIError is a non-2xx answer from BlueNexus, built from the documented
// error body {error, message, statusCode, details?, errors?}. When the body
// is not that JSON document, only StatusCode (and RetryAfter) are set. It
// never holds the raw body. Before decoding, every copy of the caller's
// access token in the body, and of the query values of a handoff's
// RedirectURI (where a state travels), is replaced by [REDACTED], so no
// field can echo them.
type APIError struct {
	// StatusCode is the HTTP status of the response (not the body's copy).
	StatusCode int
	// Code is the body's "error" field, such as "TooManyRequestsError".
	Code string
	// Message is the body's "message" field, truncated to 1 KiB.
	Message string
	// Details is the body's optional "details" value.
	Details json.RawMessage
	// Errors is the body's optional list of field errors (400 responses).
	Errors []FieldError
	// RetryAfter is the wait the Retry-After header asked for (seconds or an
	// HTTP date), zero when absent or unparseable.
	RetryAfter time.Duration
}

// Error describes the status, error code and message. It is safe to log:
// the message (and an unusual code) is quoted, and secrets were scrubbed.
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("bluenexus: upstream status ")
	b.WriteString(strconv.Itoa(e.StatusCode))
	if e.Code != "" {
		b.WriteString(" ")
		if isIdentifier(e.Code) {
			b.WriteString(e.Code)
		} else {
			b.WriteString(strconv.Quote(e.Code))
		}
	}
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.StatusCode)
	}
	if msg != "" {
		b.WriteString(": ")
		b.WriteString(strconv.Quote(msg))
	}
	return b.String()
}

// Is maps the error to the package sentinels: 401 is [ErrUnauthorized], 403
// [ErrForbidden], 429 [ErrRateLimited], any 5xx [ErrServer], and any status
// whose message contains [ClientCriteriaMessage] (ignoring case) is
// [ErrClientCriteria]. A client-criteria error may match a status sentinel
// too, so test for [ErrClientCriteria] first.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized
	case ErrForbidden:
		return e.StatusCode == http.StatusForbidden
	case ErrRateLimited:
		return e.StatusCode == http.StatusTooManyRequests
	case ErrServer:
		return e.StatusCode >= 500 && e.StatusCode <= 599
	case ErrClientCriteria:
		return isClientCriteria(e.Message)
	}
	return false
}

// RetryAfter reports how long to wait before calling again: the Retry-After
// of an [*APIError] (a 429 or 503, typically) when BlueNexus sent a non-zero
// one, or the time left before an open circuit breaker lets a call through
// ([ErrCircuitOpen]).
// It returns false when the error carries no such hint.
func RetryAfter(err error) (time.Duration, bool) {
	if ce, ok := errors.AsType[*circuitOpenError](err); ok {
		return ce.wait, true
	}
	if ae, ok := errors.AsType[*APIError](err); ok && ae.RetryAfter > 0 {
		return ae.RetryAfter, true
	}
	return 0, false
}

// circuitOpenError is returned while the breaker refuses calls.
type circuitOpenError struct {
	wait time.Duration
}

func (e *circuitOpenError) Error() string {
	return ErrCircuitOpen.Error() + ": upstream calls paused after repeated failures"
}

func (e *circuitOpenError) Is(target error) bool { return target == ErrCircuitOpen }

// Limits on what an error body may put into an APIError.
const (
	maxErrorCode    = 128
	maxErrorMessage = 1024
	maxRetryAfter   = 24 * time.Hour
)

// newAPIError builds the APIError for a non-2xx response. body may be nil
// (unread or over the cap). Every copy of a secret in the body is replaced
// by [REDACTED] before decoding, so no field can carry it.
func newAPIError(status int, retryAfter time.Duration, body []byte, secrets []string) *APIError {
	e := &APIError{StatusCode: status, RetryAfter: retryAfter}
	if len(body) == 0 || firstByte(body) != '{' {
		return e
	}
	for _, s := range secrets {
		body = scrub(body, s)
	}
	var eb ErrorBody
	if json.Unmarshal(body, &eb) != nil {
		return e
	}
	if bytes.IndexByte(body, '\\') >= 0 {
		// JSON escapes may have hidden a secret from the raw scrub.
		eb = scrubDecoded(eb, secrets)
	}
	e.Code = truncate(eb.Error, maxErrorCode)
	e.Message = truncate(eb.Message, maxErrorMessage)
	if len(eb.Details) > 0 && string(eb.Details) != "null" {
		e.Details = eb.Details
	}
	e.Errors = eb.Errors
	return e
}

// scrubDecoded replaces secrets in every decoded string of eb, and
// re-encodes Details without escapes.
func scrubDecoded(eb ErrorBody, secrets []string) ErrorBody {
	str := func(s string) string {
		for _, x := range secrets {
			if x != "" {
				s = strings.ReplaceAll(s, x, redacted)
			}
		}
		return s
	}
	var walk func(any) any
	walk = func(v any) any {
		switch v := v.(type) {
		case string:
			return str(v)
		case []any:
			for i := range v {
				v[i] = walk(v[i])
			}
		case map[string]any:
			m := make(map[string]any, len(v))
			for k, x := range v {
				m[str(k)] = walk(x)
			}
			return m
		}
		return v
	}
	eb.Error, eb.Message = str(eb.Error), str(eb.Message)
	for i := range eb.Errors {
		fe := &eb.Errors[i]
		fe.Field, fe.Message, fe.Value = str(fe.Field), str(fe.Message), walk(fe.Value)
	}
	if len(eb.Details) > 0 {
		var d any
		if json.Unmarshal(eb.Details, &d) != nil {
			eb.Details = nil
		} else if b, err := json.Marshal(walk(d)); err == nil {
			eb.Details = b
		} else {
			eb.Details = nil
		}
	}
	return eb
}

// scrub replaces every occurrence of secret in b with [REDACTED].
func scrub(b []byte, secret string) []byte {
	if secret == "" || !strings.Contains(string(b), secret) {
		return b
	}
	return []byte(strings.ReplaceAll(string(b), secret, redacted))
}

// minSecretQueryValue is the shortest redirect URI query value treated as
// a secret: a state is far longer, and shorter values (page=2) are not
// worth mangling error messages for.
const minSecretQueryValue = 8

// secrets lists what must never come back in an error: the token, and the
// query values (raw and decoded) of the redirect URI.
func secrets(token AccessToken, redirectURI string) []string {
	s := []string{token.Reveal()}
	_, rawQuery, ok := strings.Cut(redirectURI, "?")
	if !ok {
		return s
	}
	rawQuery, _, _ = strings.Cut(rawQuery, "#")
	for pair := range strings.SplitSeq(rawQuery, "&") {
		_, raw, _ := strings.Cut(pair, "=")
		if len(raw) < minSecretQueryValue {
			continue
		}
		s = append(s, raw)
		if v, err := url.QueryUnescape(raw); err == nil && v != raw {
			s = append(s, v)
		}
	}
	return s
}

// parseRetryAfter reads a Retry-After value: delay-seconds or an HTTP date
// (RFC 9110 §10.2.3). Dates in the past mean zero; waits are capped at 24 h.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if isDigits(v) {
		if len(v) > 6 { // more than 11 days: cap without overflow
			return maxRetryAfter, true
		}
		n, _ := strconv.Atoi(v)
		return min(time.Duration(n)*time.Second, maxRetryAfter), true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return min(max(t.Sub(now), 0), maxRetryAfter), true
}

// isIdentifier reports whether s is safe to print unquoted, like
// "TooManyRequestsError".
func isIdentifier(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return s != ""
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

var lowerClientCriteria = strings.ToLower(ClientCriteriaMessage)

// isClientCriteria reports whether msg contains [ClientCriteriaMessage],
// ignoring case.
func isClientCriteria(msg string) bool {
	return len(msg) >= len(lowerClientCriteria) &&
		strings.Contains(strings.ToLower(msg), lowerClientCriteria)
}

// firstByte returns the first non-whitespace byte of b, or 0.
func firstByte(b []byte) byte {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return c
	}
	return 0
}
