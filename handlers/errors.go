package handlers

import (
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
	guardPressure  bool   // refused by a full in-memory replay guard
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

// newError builds an Error with the outcome's level and message.
func newError(o Outcome, status int, err error) *Error {
	level, ok := levels[o]
	if !ok {
		level = zerolog.InfoLevel // what the user or the browser did
	}
	return &Error{Outcome: o, Status: status, Message: messages[o], Err: err, level: level}
}

// userMessages are the only texts the default error handler shows.
var messages = map[Outcome]string{
	OutcomeUnauthenticated:  "Please sign in first.",
	OutcomeTokenExpired:     "Your session with the connection service has expired. Please sign in again.",
	OutcomeReauthRequired:   "Please sign in again.",
	OutcomeBadRequest:       "The request was malformed.",
	OutcomeNoClientIP:       "We could not determine your network address, so the secure handoff cannot start.",
	OutcomeClientCriteria:   "The connection service could not verify your network for the secure handoff. If you use a VPN or proxy, try without it, or try again from another network.",
	OutcomeForbidden:        "The connection service is not set up correctly for this app. Please contact support.",
	OutcomeUnavailable:      "The connection service is busy or unavailable right now. Please try again shortly.",
	OutcomeUpstreamError:    "The connection service failed to answer. Please try again.",
	OutcomeBadResponse:      "The connection service sent an answer we could not use. Please try again.",
	OutcomeMalformed:        "The request was malformed.",
	OutcomeNoFlow:           "This return does not belong to a connection flow started in this browser. Please start again.",
	OutcomeUnknownState:     "This return does not match a connection flow of this app. Please start again.",
	OutcomeWrongUser:        "This connection flow was started by another account. Please sign in with that account, or start again.",
	OutcomeReplayed:         "This link was already used. Please start again.",
	OutcomeExpired:          "This connection flow expired. Please start again.",
	OutcomeStateUnavailable: "We could not check this connection flow right now. Please try again shortly.",
	OutcomeHookFailed:       "Your connections changed but could not be refreshed. Please reload shortly.",
	OutcomeClientGone:       "The request was cancelled.",
	OutcomeInternal:         "Something went wrong on our side. Please try again.",
}

var levels = map[Outcome]zerolog.Level{
	OutcomeNoClientIP:       zerolog.WarnLevel,
	OutcomeClientCriteria:   zerolog.WarnLevel,
	OutcomeUnavailable:      zerolog.WarnLevel,
	OutcomeUpstreamError:    zerolog.WarnLevel,
	OutcomeBadResponse:      zerolog.WarnLevel,
	OutcomeStateUnavailable: zerolog.WarnLevel,
	OutcomeHookFailed:       zerolog.WarnLevel,
	OutcomeForbidden:        zerolog.ErrorLevel,
	OutcomeInternal:         zerolog.ErrorLevel,
}

// upstreamError classifies a failed BlueNexus call, once, where it failed.
// ctx is the request's: a call that ended because the browser left is
// client_gone, whatever the client reported.
func upstreamError(ctx context.Context, err error) *Error {
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return newError(OutcomeClientGone, 499, err)
	}
	var api *bluenexus.APIError
	if errors.As(err, &api) {
		e := apiError(api, err)
		e.upstreamStatus = api.StatusCode
		return e
	}
	var e *Error
	switch {
	case errors.Is(err, bluenexus.ErrCircuitOpen):
		e = newError(OutcomeUnavailable, http.StatusServiceUnavailable, err)
		e.upstream = "circuit_open"
		if d, ok := bluenexus.RetryAfter(err); ok {
			e.RetryAfter = min(d, maxRetryAfter)
		}
	case errors.Is(err, bluenexus.ErrTimeout):
		e = newError(OutcomeUpstreamError, http.StatusGatewayTimeout, err)
		e.Message = "The connection service did not answer in time. Please try again."
		e.upstream = "timeout"
	case errors.Is(err, bluenexus.ErrConnection):
		e = newError(OutcomeUpstreamError, http.StatusBadGateway, err)
		e.Message = "The connection service could not be reached. Please try again."
		e.upstream = "connection"
	case errors.Is(err, bluenexus.ErrBadResponse):
		e = newError(OutcomeBadResponse, http.StatusBadGateway, err)
		e.upstream = "bad_response"
	default: // not recognised: the kit's own failure, not BlueNexus's
		e = newError(OutcomeInternal, http.StatusInternalServerError, err)
	}
	return e
}

// tokenError classifies a failure to get the user's access token from the
// token source, once, where it failed: "sign in again", the app's client
// refused, or the refresh's own upstream failure.
func tokenError(ctx context.Context, err error) *Error {
	api, isAPI := errors.AsType[*bluenexus.APIError](err)
	var e *Error
	switch {
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		return newError(OutcomeClientGone, 499, err)
	case errors.Is(err, bluenexus.ErrReauthRequired) && errors.Is(err, bluenexus.ErrBadResponse):
		// A 2xx the kit could not use spent the refresh token.
		e = newError(OutcomeReauthRequired, http.StatusUnauthorized, err)
		e.level = zerolog.ErrorLevel
		e.upstream = "bad_response"
		e.hint = "the token endpoint answered 2xx without a token pair the kit can use; the refresh token is spent, so the user must sign in again"
	case errors.Is(err, bluenexus.ErrReauthRequired):
		e = newError(OutcomeReauthRequired, http.StatusUnauthorized, err)
	case errors.Is(err, bluenexus.ErrClientConfig):
		// Not the user's session: signing in again would end the same way.
		e = newError(OutcomeForbidden, http.StatusBadGateway, err)
		e.upstream = "forbidden"
		e.hint = "check BLUENEXUS_CLIENT_ID/secret: the token endpoint refused the app's client credentials (bluenexus.WithClientCredentials)"
	case errors.Is(err, flow.ErrUnavailable):
		// The shared token store (Redis) did not answer: fail closed, as
		// the replay guard does; no refresh without its lock.
		e = newError(OutcomeStateUnavailable, http.StatusServiceUnavailable, err)
		e.Message = "We could not check your session right now. Please try again shortly."
		e.RetryAfter = time.Second
	case isAPI && api.StatusCode >= 400 && api.StatusCode <= 499 && api.StatusCode != http.StatusTooManyRequests:
		// Any other refusal by the token endpoint (a 401 from a gateway,
		// invalid_request): the pair is kept, the user may try again.
		e = newError(OutcomeUpstreamError, http.StatusBadGateway, err)
		e.Message = "The connection service refused the request. Please try again later."
		e.upstream = "refused"
	default:
		return upstreamError(ctx, err)
	}
	if isAPI {
		e.upstreamStatus = api.StatusCode
	}
	return e
}

// apiError classifies an answer with an error status from BlueNexus.
func apiError(api *bluenexus.APIError, err error) *Error {
	var e *Error
	switch code := api.StatusCode; {
	case errors.Is(api, bluenexus.ErrClientCriteria):
		e = newError(OutcomeClientCriteria, http.StatusBadGateway, err)
		e.upstream = "client_criteria"
		e.hint = "BlueNexus could not match the end user's IP: check that the client IP is forwarded (docs/client-ip.md)"
	case code == http.StatusUnauthorized:
		e = newError(OutcomeTokenExpired, http.StatusUnauthorized, err)
		e.upstream = "unauthorized"
	case code == http.StatusForbidden:
		e = newError(OutcomeForbidden, http.StatusBadGateway, err)
		e.upstream = "forbidden"
		e.hint = "BlueNexus answered 403: the access token was not issued to a white-label customer auth client; check the app's BlueNexus client configuration"
	case code == http.StatusTooManyRequests, code == http.StatusServiceUnavailable:
		e = newError(OutcomeUnavailable, http.StatusServiceUnavailable, err)
		e.upstream = "rate_limited"
		if code == http.StatusServiceUnavailable {
			e.upstream = "server"
		}
		e.RetryAfter = min(api.RetryAfter, maxRetryAfter)
		if e.RetryAfter <= 0 {
			e.RetryAfter = time.Second
		}
	case code >= 500:
		e = newError(OutcomeUpstreamError, http.StatusBadGateway, err)
		e.Message = "The connection service reported an error. Please try again."
		e.upstream = "server"
	default:
		e = newError(OutcomeUpstreamError, http.StatusBadGateway, err)
		e.Message = "The connection service refused the request. Please try again later."
		e.upstream = "refused"
	}
	return e
}

// flowError classifies a failure of the flow state at /return, once, where
// it failed.
func flowError(ctx context.Context, err error) *Error {
	switch {
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		return newError(OutcomeClientGone, 499, err)
	case errors.Is(err, flow.ErrMalformedState):
		return newError(OutcomeMalformed, http.StatusBadRequest, err)
	case errors.Is(err, flow.ErrNoFlow):
		return newError(OutcomeNoFlow, http.StatusForbidden, err)
	case errors.Is(err, flow.ErrUnknownState):
		return newError(OutcomeUnknownState, http.StatusForbidden, err)
	case errors.Is(err, flow.ErrWrongUser):
		return newError(OutcomeWrongUser, http.StatusForbidden, err)
	case errors.Is(err, flow.ErrReplayed):
		return newError(OutcomeReplayed, http.StatusForbidden, err)
	case errors.Is(err, replay.ErrUnderPressure):
		// Refused as expired by a full in-memory replay guard: the effective
		// TTL shrank. Heard at Warn and counted: the guard needs a bigger
		// bound, or the fleet a shared guard.
		e := newError(OutcomeExpired, http.StatusGone, err)
		e.level = zerolog.WarnLevel
		e.hint = "the in-memory replay guard is full and refuses the oldest flows as expired; use a shared guard (session/redisflow) or fewer returns per instance"
		e.guardPressure = true
		return e
	case errors.Is(err, flow.ErrExpired):
		return newError(OutcomeExpired, http.StatusGone, err)
	case errors.Is(err, flow.ErrUnavailable):
		e := newError(OutcomeStateUnavailable, http.StatusServiceUnavailable, err)
		e.RetryAfter = time.Second
		return e
	}
	return newError(OutcomeInternal, http.StatusInternalServerError, err)
}
