package bluenexus

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/handoffkit/handoffkit/internal/bnwire"
)

// Sentinel errors. Test for them with [errors.Is]. Every error a Client
// method returns matches at most one of ErrTimeout, ErrConnection,
// ErrBadResponse and ErrCircuitOpen; BlueNexus's own non-2xx answers are an
// [*APIError] (read its StatusCode with [errors.As]), which matches
// ErrClientCriteria, ErrReauthRequired or ErrClientConfig when its answer
// means that (see [APIError.Is]). An error that matches none of them is either the
// caller's cancellation (it wraps [context.Canceled]) or a bad argument,
// rejected before any I/O with a message that starts "bluenexus: ".
var (
	// ErrClientCriteria: BlueNexus could not fingerprint the caller of
	// handoff init ("Unable to determine client criterias for secure
	// handoff"), whatever the status. It usually means the end user's IP
	// was not forwarded ([HandoffRequest.ClientIP], [WithClientIPHeader]).
	ErrClientCriteria = errors.New("bluenexus: client criteria not met")
	// ErrReauthRequired: the refresh token is dead ([Client.Refresh]): the
	// token endpoint refused it (invalid_grant) or its auth session was
	// revoked, or it was spent on a 2xx answer the client could not use.
	// Refreshing again cannot help: the user must sign in to BlueNexus
	// again.
	ErrReauthRequired = errors.New("bluenexus: the user must sign in again")
	// ErrClientConfig: the token endpoint refused the app's client
	// (invalid_client, unauthorized_client or unsupported_grant_type, at 400
	// or 401): check the id and secret of [WithClientCredentials]. The
	// user's refresh token is still good.
	ErrClientConfig = errors.New("bluenexus: the token endpoint refused the client credentials")
	// ErrTimeout: no answer in time. Either the call's own budget
	// ([WithTimeout]) or the caller's context deadline ran out (the error
	// then also matches [context.DeadlineExceeded]), or a transport timeout
	// of the HTTP client fired (dial, TLS handshake, response headers).
	// The caller's cancellation is never ErrTimeout.
	ErrTimeout = errors.New("bluenexus: timeout")
	// ErrConnection: the request failed in transport before an answer was
	// read: DNS, a refused or reset connection, TLS, a body cut short. The
	// error wraps the cause (such as a *net.OpError). The caller's
	// cancellation is never ErrConnection.
	ErrConnection = errors.New("bluenexus: connection failed")
	// ErrBadResponse: BlueNexus answered 2xx or 3xx with something the
	// client cannot use: malformed or incomplete JSON, a body over the
	// 1 MiB cap, a content type other than JSON, or a redirect (redirects
	// are never followed).
	ErrBadResponse = errors.New("bluenexus: bad response")
	// ErrCircuitOpen: the circuit breaker is open after repeated upstream
	// failures, or half-open with its probe calls in flight; no request was
	// sent.
	ErrCircuitOpen = errors.New("bluenexus: circuit open")
)

// APIError is a non-2xx, non-3xx answer from BlueNexus, built from the
// documented error body {error, message, statusCode, details?, errors?} or
// OAuth's {error, error_description}, in JSON or form-encoded. When the
// body is neither, only StatusCode (and RetryAfter) are set. It never holds
// the raw body. Every copy of a secret the call sent (the access token, the
// query values of a handoff's RedirectURI where a state travels, the
// refresh token and the client secret) and every value of a token field in
// the body (access_token, refresh_token, ...) is replaced by [REDACTED], so
// no field can carry them.
type APIError struct {
	// StatusCode is the HTTP status of the response (not the body's copy).
	StatusCode int
	// Code is the body's "error" field, such as "TooManyRequestsError" or
	// "invalid_grant", truncated to 128 bytes.
	Code string
	// Message is the body's "message" field, or else its
	// "error_description", truncated to 1 KiB.
	Message string
	// Details is the body's optional "details" value.
	Details json.RawMessage
	// Errors is the body's optional list of field errors (400 responses).
	Errors []FieldError
	// RetryAfter is the wait the Retry-After header asked for (seconds or an
	// HTTP date), zero when absent or unparseable.
	RetryAfter time.Duration

	// Set by Refresh: the answer means "sign in again", or blames the
	// app's client configuration.
	reauth, clientConfig bool
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

// Is matches [ErrClientCriteria] when the message contains BlueNexus's
// client-criteria text (ignoring case), whatever the status, and
// [ErrReauthRequired] or [ErrClientConfig] when the token endpoint's answer
// means that ([Client.Refresh]). For every other condition read StatusCode.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrClientCriteria:
		return isClientCriteria(e.Message)
	case ErrReauthRequired:
		return e.reauth
	case ErrClientConfig:
		return e.clientConfig
	}
	return false
}

// retryAfter is bnwire.RetryAfter: the time left before an open circuit
// breaker lets a call through, or the non-zero Retry-After of an
// *APIError (a 429 or 503, typically).
func retryAfter(err error) (time.Duration, bool) {
	if ce, ok := errors.AsType[*circuitOpenError](err); ok {
		return ce.wait, true
	}
	if ae, ok := errors.AsType[*APIError](err); ok && ae.RetryAfter > 0 {
		return ae.RetryAfter, true
	}
	return 0, false
}

// circuitOpenError is returned while the breaker refuses calls. wait is
// how long it stays open (bnwire.RetryAfter reads it).
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
// (unread or over the cap); ctype is its Content-Type. The body is read as
// JSON, or as a form (application/x-www-form-urlencoded, as some OAuth
// servers answer), then every copy of a secret and of the value of a token
// field anywhere in it is replaced by [REDACTED] before any field is taken.
func newAPIError(status int, retryAfter time.Duration, body []byte, ctype string, secrets []string) *APIError {
	e := &APIError{StatusCode: status, RetryAfter: retryAfter}
	doc, ok := parseErrorBody(body, ctype)
	if !ok {
		return e
	}
	secrets = slices.Clone(secrets)
	eachString(doc, false, func(s string, token bool) string {
		if token && s != "" {
			secrets = append(secrets, s) // a token the body echoes, ours or another
		}
		return s
	})
	// Longest first, so that no part of a longer secret survives a shorter
	// one's replacement.
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	clean := eachString(doc, false, func(s string, _ bool) string {
		for _, x := range secrets {
			if x != "" {
				s = strings.ReplaceAll(s, x, redacted)
			}
		}
		return s
	})
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	var eb bnwire.ErrorBody
	if enc.Encode(clean) != nil || json.Unmarshal(b.Bytes(), &eb) != nil {
		return e
	}
	e.Code = truncate(eb.Error, maxErrorCode)
	msg := eb.Message
	if msg == "" {
		msg = eb.ErrorDescription // OAuth's shape
	}
	e.Message = truncate(msg, maxErrorMessage)
	if len(eb.Details) > 0 && string(eb.Details) != "null" {
		e.Details = eb.Details
	}
	for _, fe := range eb.Errors {
		e.Errors = append(e.Errors, FieldError(fe))
	}
	return e
}

// parseErrorBody decodes an error body: a JSON object, or a form when ctype
// says so (each key's first value). Numbers stay json.Number.
func parseErrorBody(body []byte, ctype string) (any, bool) {
	if mt, _, _ := mime.ParseMediaType(ctype); mt == "application/x-www-form-urlencoded" {
		q, _ := url.ParseQuery(string(body)) // keep what parsed
		doc := make(map[string]any, len(q))
		for k, v := range q {
			doc[k] = v[0]
		}
		return doc, len(doc) > 0
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var doc map[string]any
	if len(body) == 0 || dec.Decode(&doc) != nil || doc == nil {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF { // trailing data
		return nil, false
	}
	return doc, true
}

// isTokenKey reports whether a key names a token: access_token,
// refreshToken, id_token and the like, in any case.
func isTokenKey(k string) bool {
	switch strings.ToLower(strings.ReplaceAll(k, "_", "")) {
	case "accesstoken", "refreshtoken", "idtoken":
		return true
	}
	return false
}

// eachString replaces every string of a decoded JSON value, keys included,
// with what f returns. token tells f the string is the value of a token
// field: a key that isTokenKey accepts, or the value of a field error
// whose field names a token.
func eachString(v any, token bool, f func(s string, token bool) string) any {
	switch v := v.(type) {
	case string:
		return f(v, token)
	case []any:
		for i := range v {
			v[i] = eachString(v[i], token, f)
		}
	case map[string]any:
		field, _ := v["field"].(string)
		m := make(map[string]any, len(v))
		for k, x := range v {
			m[f(k, false)] = eachString(x, isTokenKey(k) || k == "value" && isTokenKey(field), f)
		}
		return m
	}
	return v
}

// minSecretQueryValue is the shortest redirect URI query value treated as
// a secret: a state is far longer, and shorter values (page=2) are not
// worth mangling error messages for.
const minSecretQueryValue = 8

// bearerSecrets lists what a bearer call must never let come back in an
// error: the token, and the query values (raw and decoded) of the redirect
// URI of handoff init ("" for other calls).
func bearerSecrets(token AccessToken, redirectURI string) []string {
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

var lowerClientCriteria = strings.ToLower(bnwire.ClientCriteriaMessage)

// isClientCriteria reports whether msg contains bnwire.ClientCriteriaMessage,
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
