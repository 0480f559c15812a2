package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/middleware"
	"github.com/handoffkit/handoffkit/session"
)

// Errors the kit hands to the error handler, besides the session package's
// (session.ErrNoFlow, session.ErrExpired, ...), middleware.ErrNoClientIP and
// the bluenexus package's. Test them with errors.Is.
var (
	// ErrNoAccessToken: the access-token function found no token; the app's
	// auth middleware did not run or the user is signed out.
	ErrNoAccessToken = errors.New("handlers: no BlueNexus access token for this request")
	// ErrBadRequest: a malformed request (duplicated or missing parameters, a
	// `next` that is not a safe local path, a `redirect` not in the allowlist,
	// a bad JSON body).
	ErrBadRequest = errors.New("handlers: bad request")
	// ErrHook: the on-return hook failed or ran out of time.
	ErrHook = errors.New("handlers: on-return hook failed")
	// ErrMethodNotAllowed: the route does not serve the request's method
	// (405, with Allow). It wraps ErrBadRequest.
	ErrMethodNotAllowed = fmt.Errorf("%w: method not allowed", ErrBadRequest)
	// ErrSession: the flow could not be saved.
	ErrSession = errors.New("handlers: flow session")
)

// OutcomeOf classifies an error from the kit into its [Outcome].
func OutcomeOf(err error) Outcome {
	switch {
	case err == nil:
		return OutcomeSuccess
	case errors.Is(err, ErrHook): // first: the hook's own error may wrap anything
		return OutcomeHookFailed
	case errors.Is(err, ErrNoAccessToken):
		return OutcomeUnauthenticated
	case errors.Is(err, session.ErrUnavailable), errors.Is(err, session.ErrGuardFull):
		return OutcomeStateUnavailable
	case errors.Is(err, middleware.ErrNoClientIP):
		return OutcomeNoClientIP
	case errors.Is(err, session.ErrMalformedState):
		return OutcomeMalformed
	case errors.Is(err, ErrBadRequest):
		return OutcomeBadRequest
	case errors.Is(err, session.ErrNoFlow):
		return OutcomeNoFlow
	case errors.Is(err, session.ErrExpired):
		return OutcomeExpired
	case errors.Is(err, session.ErrReplayed):
		return OutcomeReplayed
	case errors.Is(err, session.ErrSuperseded):
		return OutcomeSuperseded
	case errors.Is(err, session.ErrUnknownState):
		return OutcomeUnknownState
	case errors.Is(err, bluenexus.ErrCircuitOpen):
		return OutcomeUnavailable
	case errors.Is(err, ErrSession):
		return OutcomeInternal
	default:
		return OutcomeUpstreamError
	}
}

// StatusOf is the HTTP status the default error handler answers for err.
// Custom error handlers may use it to stay consistent.
func StatusOf(err error) int {
	switch OutcomeOf(err) {
	case OutcomeUnauthenticated:
		return http.StatusUnauthorized
	case OutcomeBadRequest:
		if errors.Is(err, ErrMethodNotAllowed) {
			return http.StatusMethodNotAllowed
		}
		return http.StatusBadRequest
	case OutcomeNoClientIP, OutcomeMalformed:
		return http.StatusBadRequest
	case OutcomeNoFlow, OutcomeUnknownState, OutcomeReplayed, OutcomeSuperseded:
		return http.StatusForbidden
	case OutcomeExpired:
		return http.StatusGone
	case OutcomeUnavailable, OutcomeStateUnavailable:
		return http.StatusServiceUnavailable
	case OutcomeHookFailed, OutcomeInternal:
		return http.StatusInternalServerError
	}
	if errors.Is(err, bluenexus.ErrTimeout) {
		return http.StatusGatewayTimeout
	}
	return http.StatusBadGateway
}

// userMessages are the only texts the default error handler shows.
var userMessages = map[Outcome]string{
	OutcomeUnauthenticated:  "Please sign in first.",
	OutcomeNoClientIP:       "We could not determine your network address, so the secure handoff cannot start.",
	OutcomeMalformed:        "The request was malformed.",
	OutcomeNoFlow:           "This return does not belong to a connection flow started in this browser. Please start again.",
	OutcomeUnknownState:     "This return does not match a connection flow started in this browser. Please start again.",
	OutcomeReplayed:         "This link was already used. Please start again.",
	OutcomeSuperseded:       "A newer connection flow replaced this one. Please use the latest tab or start again.",
	OutcomeExpired:          "This connection flow expired. Please start again.",
	OutcomeBlueNexusError:   "The connection service reported an error. Please try again.",
	OutcomeUnavailable:      "The connection service is unavailable right now. Please try again shortly.",
	OutcomeStateUnavailable: "We could not check this connection flow right now. Please try again shortly.",
	OutcomeHookFailed:       "Your connections changed but could not be refreshed. Please reload shortly.",
	OutcomeInternal:         "Something went wrong on our side. Please try again.",
	OutcomeUpstreamError:    "The connection service could not be reached. Please try again.",
}

// DefaultErrorHandler is the error handler used unless [WithErrorHandler]
// sets another. It writes [StatusOf](err) with a fixed message for the
// error's [Outcome], as JSON ({"error": outcome, "message": text}) when the
// request prefers application/json and as a small HTML page otherwise. It
// adds Retry-After when BlueNexus or the circuit breaker gave one. It never
// writes the error's own text. Logging is done by the kit before it calls
// the error handler.
func DefaultErrorHandler(w http.ResponseWriter, r *http.Request, err error) {
	outcome := OutcomeOf(err)
	status := StatusOf(err)
	msg := userMessages[outcome]
	if d, ok := bluenexus.RetryAfter(err); ok && (status == http.StatusServiceUnavailable || status == http.StatusBadGateway) {
		secs := int((d + 999_999_999) / 1_000_000_000)
		w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
	}
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	if wantsJSON(r) {
		h.Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write([]byte(`{"error":` + strconv.Quote(string(outcome)) + `,"message":` + strconv.Quote(msg) + "}\n"))
		return
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write([]byte(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>` +
		http.StatusText(status) + `</title></head><body><h1>` + http.StatusText(status) +
		`</h1><p>` + msg + "</p></body></html>\n"))
}

// wantsJSON reports whether the Accept header prefers application/json to
// text/html. Without an Accept header, HTML.
func wantsJSON(r *http.Request) bool {
	accept := r.Header.Get("Accept")
	if accept == "" {
		return false
	}
	for part := range strings.SplitSeq(accept, ",") {
		mt, _, _ := strings.Cut(part, ";")
		switch strings.ToLower(strings.TrimSpace(mt)) {
		case "application/json":
			return true
		case "text/html":
			return false
		}
	}
	return false
}
