package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/session"
)

const routeReturn = "return"

// ReturnEvent is what the on-return hook receives after a successful return.
type ReturnEvent struct {
	// Outcome is OutcomeSuccess: the hook runs for successful returns only.
	Outcome Outcome
	// Intent is the flow's intent.
	Intent bluenexus.Intent
	// Next is the local path the user lands on afterwards.
	Next string
	// ReturnURI is the allowlisted redirectUri the flow used, or "" for the
	// configured return URL.
	ReturnURI string
	// IssuedAt is when the flow began.
	IssuedAt time.Time
	// Request is the /return request. Its context is the request's; the hook's
	// own ctx argument adds the hook time limit.
	Request *http.Request

	token func(*http.Request) (bluenexus.AccessToken, bool)
}

// AccessToken returns the signed-in user's BlueNexus access token, read the
// same way as at /manage-connections, so the hook can re-read connections.
func (e ReturnEvent) AccessToken() (bluenexus.AccessToken, bool) {
	if e.token == nil || e.Request == nil {
		return "", false
	}
	return e.token(e.Request)
}

// maxReturnBody bounds the JSON body of a POST return.
const maxReturnBody = 4 << 10

func (k *Kit) serveReturn(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	var (
		state   string
		bnError *bnReturnError
		err     error
		asJSON  bool
	)
	switch r.Method {
	case http.MethodGet: // not HEAD: a prefetch must not consume the flow
		state, bnError, err = returnParams(r.URL.Query())
	case http.MethodPost:
		asJSON = true
		state, bnError, err = returnBody(w, r)
	default:
		w.Header().Set("Allow", "GET, POST")
		err = ErrMethodNotAllowed
	}
	if err != nil {
		k.fail(w, r, routeReturn, start, err)
		return
	}
	var flow session.Flow
	if k.cfg.fixedRedirect {
		flow, err = k.flows.FinishLatest(w, r)
	} else {
		flow, err = k.flows.Finish(w, r, state)
	}
	if err != nil {
		k.fail(w, r, routeReturn, start, fmt.Errorf("%w: %w", ErrSession, err))
		return
	}
	next := flow.Next
	if next == "" {
		next = k.cfg.defaultNext
	}

	outcome := OutcomeSuccess
	switch {
	case bnError != nil:
		outcome = OutcomeBlueNexusError
	case k.cfg.onReturn != nil:
		ev := ReturnEvent{Outcome: OutcomeSuccess, Intent: bluenexus.Intent(flow.Intent), Next: next,
			ReturnURI: flow.ReturnURI, IssuedAt: flow.IssuedAt, Request: r, token: k.cfg.accessToken}
		if herr := k.runHook(r.Context(), ev); herr != nil {
			if !k.cfg.hookLogOnly {
				k.fail(w, r, routeReturn, start, herr)
				return
			}
			outcome = OutcomeHookFailed
		}
	}

	k.cfg.observer.Outcome(routeReturn, outcome)
	ev := k.logger(r).Info().Str("event", "handoff.returned").Str("route", routeReturn).Str("path", r.URL.Path).
		Str("outcome", string(outcome)).Dur("latency", time.Since(start))
	if bnError != nil {
		ev = ev.Str("bluenexus_error", bnError.code)
	}
	ev.Msg("handoff returned")

	if asJSON {
		w.Header().Set("Content-Type", "application/json")
		body := `{"outcome":` + strconv.Quote(string(outcome)) + `,"next":` + strconv.Quote(next)
		if bnError != nil {
			body += `,"error":` + strconv.Quote(bnError.code) + `,"error_description":` + strconv.Quote(bnError.description)
		}
		w.Write([]byte(body + "}\n"))
		return
	}
	k.setFlash(w, outcome)
	w.Header().Set("Location", next)
	w.WriteHeader(http.StatusSeeOther)
}

// runHook runs the on-return hook under its time limit, turning a panic-free
// error or a deadline into ErrHook.
func (k *Kit) runHook(ctx context.Context, ev ReturnEvent) error {
	ctx, cancel := context.WithTimeout(ctx, k.cfg.hookTimeout)
	defer cancel()
	if err := k.cfg.onReturn(ctx, ev); err != nil {
		return fmt.Errorf("%w: %w", ErrHook, err)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%w: %w", ErrHook, ctx.Err())
	}
	return nil
}

// returnParams reads the GET return's query: exactly one state (possibly
// empty, which the session rejects as malformed), and BlueNexus's optional
// error parameters.
func returnParams(q map[string][]string) (string, *bnReturnError, error) {
	state, err := single(q, "state", "")
	if err != nil {
		return "", nil, fmt.Errorf("%w: %w: %w", ErrBadRequest, session.ErrMalformedState, err)
	}
	code, err := single(q, "error", "")
	if err != nil {
		return "", nil, fmt.Errorf("%w: %w: %w", ErrBadRequest, session.ErrMalformedState, err)
	}
	desc, err := single(q, "error_description", "")
	if err != nil {
		return "", nil, fmt.Errorf("%w: %w: %w", ErrBadRequest, session.ErrMalformedState, err)
	}
	return state, returnError(code, desc), nil
}

type returnJSON struct {
	State            string `json:"state"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

// returnBody reads the POST return's JSON body.
func returnBody(w http.ResponseWriter, r *http.Request) (string, *bnReturnError, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return "", nil, fmt.Errorf("%w: %w: content type must be application/json", ErrBadRequest, session.ErrMalformedState)
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxReturnBody))
	dec.DisallowUnknownFields()
	var body returnJSON
	if err := dec.Decode(&body); err != nil {
		return "", nil, fmt.Errorf("%w: %w: body is not valid JSON", ErrBadRequest, session.ErrMalformedState)
	}
	if _, err := dec.Token(); err != io.EOF {
		return "", nil, fmt.Errorf("%w: %w: trailing data after the JSON body", ErrBadRequest, session.ErrMalformedState)
	}
	return body.State, returnError(body.Error, body.ErrorDescription), nil
}

// bnReturnError is BlueNexus's `error` and `error_description` from a
// return. A valid state with them consumes the flow, skips the hook and
// lands the user on `next` with [OutcomeBlueNexusError]. The code (64
// printable bytes at most) goes to the log; both go back in the JSON
// answer to the client that sent them, never to the log.
type bnReturnError struct{ code, description string }

// returnError sanitises BlueNexus's error parameters: printable ASCII only,
// bounded length. No error code means no error.
func returnError(code, desc string) *bnReturnError {
	if code == "" {
		return nil
	}
	return &bnReturnError{code: printable(code, 64), description: printable(desc, 256)}
}

func printable(s string, n int) string {
	b := make([]byte, 0, min(len(s), n))
	for i := 0; i < len(s) && len(b) < n; i++ {
		if c := s[i]; c >= 0x20 && c < 0x7f {
			b = append(b, c)
		}
	}
	return string(b)
}
