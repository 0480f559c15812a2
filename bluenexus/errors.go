package bluenexus

import (
	"cmp"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/handoffkit/handoffkit/internal/bnwire"
)

// Sentinel errors, for [errors.Is]. An error of a [Client] method matches
// at most one of ErrTimeout, ErrConnection, ErrBadResponse and
// ErrCircuitOpen; BlueNexus's own error answers are an [*APIError]. The
// caller's cancellation wraps [context.Canceled] only. docs/BLUENEXUS.md
// says what each means.
var (
	// ErrClientCriteria: BlueNexus could not fingerprint the caller of
	// handoff init; usually the end user's IP was not forwarded.
	ErrClientCriteria = errors.New("bluenexus: client criteria not met")
	// ErrReauthRequired: the refresh token is dead (refused, revoked or
	// spent on an unusable answer): the user must sign in again.
	ErrReauthRequired = errors.New("bluenexus: the user must sign in again")
	// ErrClientConfig: the token endpoint refused the app's client
	// ([WithClientCredentials]); the user's refresh token is still good.
	ErrClientConfig = errors.New("bluenexus: the token endpoint refused the client credentials")
	// ErrTimeout: no answer within [WithTimeout], the caller's deadline or
	// a transport timeout.
	ErrTimeout = errors.New("bluenexus: timeout")
	// ErrConnection: the request failed in transport before an answer.
	ErrConnection = errors.New("bluenexus: connection failed")
	// ErrBadResponse: a 2xx or 3xx answer the client cannot use.
	ErrBadResponse = errors.New("bluenexus: bad response")
	// ErrCircuitOpen: the circuit breaker is open; no request was sent.
	ErrCircuitOpen = errors.New("bluenexus: circuit open")
)

// APIError is a non-2xx, non-3xx answer from BlueNexus, read from its error
// body (JSON or form-encoded) when it has one. Copies of the secrets the call
// sent are replaced by [REDACTED]; for [Client.Refresh] only the status and
// the error code are kept (docs/tokens.md).
type APIError struct {
	// StatusCode is the HTTP status of the response.
	StatusCode int
	// Code is the body's "error" field, such as "invalid_grant", at most
	// 128 bytes.
	Code string
	// Message is the body's "message", else its "error_description", at
	// most 1 KiB.
	Message string
	// Errors is the body's list of field errors (400 responses).
	Errors []FieldError
	// RetryAfter is the wait the Retry-After header asked for, zero when
	// absent or unreadable.
	RetryAfter time.Duration

	reauth, clientConfig bool // set by Refresh
}

// Error describes the status, error code and message, quoted.
func (e *APIError) Error() string {
	s := "bluenexus: upstream status " + strconv.Itoa(e.StatusCode)
	if e.Code != "" && strings.Trim(e.Code, alnum+"_-.") == "" { // safe unquoted, like TooManyRequestsError
		s += " " + e.Code
	} else if e.Code != "" {
		s += " " + strconv.Quote(e.Code)
	}
	if msg := cmp.Or(e.Message, http.StatusText(e.StatusCode)); msg != "" {
		s += ": " + strconv.Quote(msg)
	}
	return s
}

// Is matches [ErrClientCriteria] when the message holds BlueNexus's
// client-criteria text, and [ErrReauthRequired] or [ErrClientConfig] when
// the token endpoint's answer means that.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrClientCriteria:
		return strings.Contains(strings.ToLower(e.Message), lowerClientCriteria)
	case ErrReauthRequired:
		return e.reauth
	case ErrClientConfig:
		return e.clientConfig
	}
	return false
}

var lowerClientCriteria = strings.ToLower(bnwire.ClientCriteriaMessage)

// RetryAfter reports how long to wait before calling BlueNexus again after
// err, an error of a [Client] method: the time left before an open circuit
// breaker lets calls through, or an [*APIError]'s non-zero RetryAfter.
func RetryAfter(err error) (time.Duration, bool) {
	if ce, ok := errors.AsType[*circuitOpenError](err); ok {
		return ce.wait, true
	}
	if ae, ok := errors.AsType[*APIError](err); ok && ae.RetryAfter > 0 {
		return ae.RetryAfter, true
	}
	return 0, false
}

// circuitOpenError is returned while the breaker refuses calls; wait is
// how long it stays open.
type circuitOpenError struct {
	wait time.Duration
}

func (e *circuitOpenError) Error() string { return ErrCircuitOpen.Error() }

func (e *circuitOpenError) Is(target error) bool { return target == ErrCircuitOpen }

// Limits on what an error answer may put into an APIError.
const (
	maxErrorCode    = 128
	maxErrorMessage = 1024
	maxRetryAfter   = 24 * time.Hour
)

// newAPIError builds the APIError for a non-2xx response. body may be nil;
// ctype is its Content-Type. Every copy of a secret is replaced by
// [REDACTED], longest first.
func newAPIError(status int, retryAfter time.Duration, body []byte, ctype string, secrets []string) *APIError {
	e := &APIError{StatusCode: status, RetryAfter: retryAfter}
	var eb bnwire.ErrorBody
	if mt, _, _ := mime.ParseMediaType(ctype); mt == "application/x-www-form-urlencoded" {
		q, _ := url.ParseQuery(string(body)) // keep what parsed
		eb = bnwire.ErrorBody{Error: q.Get("error"), Message: q.Get("message"), ErrorDescription: q.Get("error_description")}
	} else if json.Unmarshal(body, &eb) != nil {
		return e
	}
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	scrub := func(s string, n int) string {
		for _, x := range secrets {
			if x != "" {
				s = strings.ReplaceAll(s, x, redacted)
			}
		}
		return truncate(s, n)
	}
	e.Code = scrub(eb.Error, maxErrorCode)
	e.Message = scrub(cmp.Or(eb.Message, eb.ErrorDescription), maxErrorMessage)
	for _, fe := range eb.Errors {
		e.Errors = append(e.Errors, FieldError{Field: scrub(fe.Field, maxErrorCode), Message: scrub(fe.Message, maxErrorMessage)})
	}
	return e
}

// minSecretQueryValue is the shortest redirect URI query value treated as
// a secret: a state is far longer.
const minSecretQueryValue = 8

// bearerSecrets lists what a bearer call must never let come back in an
// error: the token, and the query values (raw and decoded) of the
// redirect URI of handoff init ("" for other calls).
func bearerSecrets(token AccessToken, redirectURI string) []string {
	s := []string{token.Reveal()}
	_, rawQuery, _ := strings.Cut(redirectURI, "?")
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
	if n, err := strconv.ParseUint(v, 10, 32); err == nil || errors.Is(err, strconv.ErrRange) {
		return min(time.Duration(n)*time.Second, maxRetryAfter), true // n saturates at 2^32-1
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return min(max(t.Sub(now), 0), maxRetryAfter), true
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
