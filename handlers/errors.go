package handlers

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/rs/zerolog"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/internal/flow"
	"github.com/handoffkit/handoffkit/internal/replay"
)

// Error is every failure the kit hands to the error handler. It is built
// once, where the failure happens, and carries what the answer needs: get
// it with errors.As. Its Error method is for logs: it never holds a code,
// state, token or cookie.
type Error struct {
	// Outcome names the failure (see [Outcome]).
	Outcome Outcome
	// Status is the HTTP status to answer.
	Status int
	// Message is a short text for the user, safe to show.
	Message string
	// RetryAfter, when positive, is how long the user should wait before
	// trying again (BlueNexus's Retry-After, capped at 60 s, or the circuit
	// breaker's remaining open time).
	RetryAfter time.Duration
	// Next is a local path the error page may link back to: the request's
	// validated `next`, the flow's, or the default next page.
	Next string
	// Err is the underlying error.
	Err error

	level          zerolog.Level
	upstream       string // upstream error class for logs and metrics
	upstreamStatus int
	hint           string // operator advice for the log
}

func (e *Error) Error() string {
	if e.Err == nil {
		return "handlers: " + string(e.Outcome)
	}
	return "handlers: " + string(e.Outcome) + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// maxRetryAfter caps the Retry-After the kit passes on.
const maxRetryAfter = 60 * time.Second

// outcomes holds each failure's default status, log level and the only
// text the default error handler shows for it.
var outcomes = map[Outcome]struct {
	status int
	level  zerolog.Level
	msg    string
}{
	OutcomeUnauthenticated:  {http.StatusUnauthorized, zerolog.InfoLevel, "Please sign in first."},
	OutcomeTokenExpired:     {http.StatusUnauthorized, zerolog.InfoLevel, "Your session with the connection service has expired. Please sign in again."},
	OutcomeReauthRequired:   {http.StatusUnauthorized, zerolog.InfoLevel, "Please sign in again."},
	OutcomeBadRequest:       {http.StatusBadRequest, zerolog.InfoLevel, "The request was malformed."},
	OutcomeNoClientIP:       {http.StatusBadRequest, zerolog.WarnLevel, "We could not determine your network address, so the secure handoff cannot start."},
	OutcomeClientCriteria:   {http.StatusBadGateway, zerolog.WarnLevel, "The connection service could not verify your network for the secure handoff. If you use a VPN or proxy, try without it, or try again from another network."},
	OutcomeForbidden:        {http.StatusBadGateway, zerolog.ErrorLevel, "The connection service is not set up correctly for this app. Please contact support."},
	OutcomeUnavailable:      {http.StatusServiceUnavailable, zerolog.WarnLevel, "The connection service is busy or unavailable right now. Please try again shortly."},
	OutcomeUpstreamError:    {http.StatusBadGateway, zerolog.WarnLevel, "The connection service failed to answer. Please try again."},
	OutcomeBadResponse:      {http.StatusBadGateway, zerolog.WarnLevel, "The connection service sent an answer we could not use. Please try again."},
	OutcomeMalformed:        {http.StatusBadRequest, zerolog.InfoLevel, "The request was malformed."},
	OutcomeNoFlow:           {http.StatusForbidden, zerolog.InfoLevel, "This return does not belong to a connection flow started in this browser. Please start again."},
	OutcomeUnknownState:     {http.StatusForbidden, zerolog.InfoLevel, "This return does not match a connection flow of this app. Please start again."},
	OutcomeWrongUser:        {http.StatusForbidden, zerolog.InfoLevel, "This connection flow was started by another account. Please sign in with that account, or start again."},
	OutcomeReplayed:         {http.StatusForbidden, zerolog.InfoLevel, "This link was already used. Please start again."},
	OutcomeExpired:          {http.StatusGone, zerolog.InfoLevel, "This connection flow expired. Please start again."},
	OutcomeStateUnavailable: {http.StatusServiceUnavailable, zerolog.WarnLevel, "We could not check this connection flow right now. Please try again shortly."},
	OutcomeHookFailed:       {http.StatusInternalServerError, zerolog.WarnLevel, "Your connections changed but could not be refreshed. Please reload shortly."},
	OutcomeClientGone:       {499, zerolog.InfoLevel, "The request was cancelled."},
	OutcomeInternal:         {http.StatusInternalServerError, zerolog.ErrorLevel, "Something went wrong on our side. Please try again."},
}

// newError builds an Error with the outcome's status, level and message.
func newError(o Outcome, err error) *Error {
	d := outcomes[o]
	return &Error{Outcome: o, Status: d.status, Message: d.msg, Err: err, level: d.level}
}

// classify turns a failure into its Error, once, where it failed: a call to
// BlueNexus, to the token source (fromTokens) or to the flow state. ctx is
// the request's: a call that ended because the browser left is client_gone,
// whatever the callee reported.
func classify(ctx context.Context, err error, fromTokens bool) *Error {
	api, isAPI := errors.AsType[*bluenexus.APIError](err)
	code := 0
	if isAPI {
		code = api.StatusCode
	}
	var (
		o                   Outcome
		upstream, hint, msg string
		status              int
		retry               time.Duration
		level               zerolog.Level // DebugLevel (zero): the outcome's
	)
	switch {
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		o = OutcomeClientGone
	case errors.Is(err, bluenexus.ErrReauthRequired) && errors.Is(err, bluenexus.ErrBadResponse):
		// A 2xx the kit could not use spent the refresh token.
		o, upstream, level = OutcomeReauthRequired, "bad_response", zerolog.ErrorLevel
		hint = "the token endpoint answered 2xx without a token pair the kit can use; the refresh token is spent, so the user must sign in again"
	case errors.Is(err, bluenexus.ErrReauthRequired):
		o = OutcomeReauthRequired
	case errors.Is(err, bluenexus.ErrClientConfig):
		// Not the user's session: signing in again would end the same way.
		o, upstream = OutcomeForbidden, "forbidden"
		hint = "check BLUENEXUS_CLIENT_ID/secret: the token endpoint refused the app's client credentials (bluenexus.WithClientCredentials)"
	case errors.Is(err, flow.ErrUnavailable):
		// A shared guard or token store (Redis) did not answer: fail closed;
		// no refresh without its lock.
		o, retry = OutcomeStateUnavailable, time.Second
		if fromTokens {
			msg = "We could not check your session right now. Please try again shortly."
		}
	case fromTokens && code >= 400 && code <= 499 && code != http.StatusTooManyRequests:
		// Any other refusal by the token endpoint (a 401 from a gateway,
		// invalid_request): the pair is kept, the user may try again.
		o, upstream, msg = OutcomeUpstreamError, "refused", "The connection service refused the request. Please try again later."
	case errors.Is(err, flow.ErrMalformedState):
		o = OutcomeMalformed
	case errors.Is(err, flow.ErrNoFlow):
		o = OutcomeNoFlow
	case errors.Is(err, flow.ErrUnknownState):
		o = OutcomeUnknownState
	case errors.Is(err, flow.ErrWrongUser):
		o = OutcomeWrongUser
	case errors.Is(err, flow.ErrReplayed):
		o = OutcomeReplayed
	case errors.Is(err, replay.ErrUnderPressure):
		// Refused as expired by a full in-memory replay guard: the effective
		// TTL shrank. Heard at Warn and counted.
		o, level = OutcomeExpired, zerolog.WarnLevel
		hint = "the in-memory replay guard is full and refuses the oldest flows as expired; use a shared guard (session/redisflow) or fewer returns per instance"
	case errors.Is(err, flow.ErrExpired):
		o = OutcomeExpired
	case isAPI && errors.Is(api, bluenexus.ErrClientCriteria):
		o, upstream = OutcomeClientCriteria, "client_criteria"
		hint = "BlueNexus could not match the end user's IP: check that the client IP is forwarded (docs/client-ip.md)"
	case code == http.StatusUnauthorized:
		o, upstream = OutcomeTokenExpired, "unauthorized"
	case code == http.StatusForbidden:
		o, upstream = OutcomeForbidden, "forbidden"
		hint = "BlueNexus answered 403: the access token was not issued to a white-label customer auth client; check the app's BlueNexus client configuration"
	case code == http.StatusTooManyRequests, code == http.StatusServiceUnavailable:
		o, upstream, retry = OutcomeUnavailable, "rate_limited", min(api.RetryAfter, maxRetryAfter)
		if code == http.StatusServiceUnavailable {
			upstream = "server"
		}
		if retry <= 0 {
			retry = time.Second
		}
	case code >= 500:
		o, upstream, msg = OutcomeUpstreamError, "server", "The connection service reported an error. Please try again."
	case isAPI:
		o, upstream, msg = OutcomeUpstreamError, "refused", "The connection service refused the request. Please try again later."
	case errors.Is(err, bluenexus.ErrCircuitOpen):
		o, upstream = OutcomeUnavailable, "circuit_open"
		if d, ok := bluenexus.RetryAfter(err); ok {
			retry = min(d, maxRetryAfter)
		}
	case errors.Is(err, bluenexus.ErrTimeout):
		o, upstream, status = OutcomeUpstreamError, "timeout", http.StatusGatewayTimeout
		msg = "The connection service did not answer in time. Please try again."
	case errors.Is(err, bluenexus.ErrConnection):
		o, upstream, msg = OutcomeUpstreamError, "connection", "The connection service could not be reached. Please try again."
	case errors.Is(err, bluenexus.ErrBadResponse):
		o, upstream = OutcomeBadResponse, "bad_response"
	default: // not recognised: the kit's own failure, not BlueNexus's
		o = OutcomeInternal
	}
	e := newError(o, err)
	e.upstream, e.upstreamStatus, e.hint, e.RetryAfter = upstream, code, hint, retry
	e.Message = cmp.Or(msg, e.Message)
	e.Status = cmp.Or(status, e.Status)
	e.level = cmp.Or(level, e.level)
	return e
}
