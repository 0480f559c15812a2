package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"time"

	"github.com/rs/zerolog"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/internal/flow"
	"github.com/handoffkit/handoffkit/internal/urlbuild"
)

const routeReturn = "return"

// ReturnEvent is what the on-return hook receives after a successful return.
type ReturnEvent struct {
	// User is the id Config.User gave for the signed-in user, who is the
	// user the flow was started for: the return checked it.
	User string
	// Intent is the flow's intent.
	Intent bluenexus.Intent
	// Next is the local path the user lands on afterwards.
	Next string
	// ReturnURI is the allowlisted redirectUri the flow used, or "" for the
	// configured return URL.
	ReturnURI string
	// IssuedAt is when the flow began.
	IssuedAt time.Time
	// Request is the /return request. The hook's own ctx argument outlives
	// it: use ctx, not Request.Context(), for the hook's calls.
	Request *http.Request

	kit    *Kit
	handed *handed // the access tokens handed to the hook
}

// AccessToken returns the user's BlueNexus access token, so the hook can
// read the connections again: from the token source (Config.Tokens), fresh
// even when the user spent longer on the white-label page than the token
// lives, or from Config.AccessToken on the return request. Pass the hook's
// ctx. An error matching bluenexus.ErrReauthRequired means the user must
// sign in again.
func (e ReturnEvent) AccessToken(ctx context.Context) (bluenexus.AccessToken, error) {
	if e.kit == nil || e.Request == nil || e.User == "" {
		return "", errors.New("handlers: ReturnEvent.AccessToken: not an event of the kit")
	}
	k := e.kit
	if k.conf.Tokens == nil {
		tok, ok := k.conf.AccessToken(e.Request)
		if !ok || tok == "" {
			return "", errors.New("handlers: no BlueNexus access token for the return request")
		}
		return e.handed.add(tok), nil
	}
	tok, err := k.conf.Tokens.Token(k.tokenCtx(ctx), e.User)
	return e.handed.add(tok), err
}

// Connections reads all of the user's connections, as they are now, with
// [ReturnEvent.AccessToken] and the kit's client (every page of
// bluenexus.Client.AllConnections). Pass the hook's ctx; compare the result
// with the app's copy with bluenexus.Diff.
func (e ReturnEvent) Connections(ctx context.Context) ([]bluenexus.Connection, error) {
	tok, err := e.AccessToken(ctx)
	if err != nil {
		return nil, err
	}
	var conns []bluenexus.Connection
	for c, err := range e.kit.cfg.client.AllConnections(ctx, tok) {
		if err != nil {
			return nil, err
		}
		conns = append(conns, c)
	}
	return conns, nil
}

// maxReturnBody bounds the JSON body of a POST return.
const maxReturnBody = 4 << 10

func (k *Kit) serveReturn(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	fail := func(e *Error) { k.fail(w, r, routeReturn, start, e) }
	asJSON := r.Method == http.MethodPost
	var p returnParams
	var err error
	switch r.Method {
	case http.MethodGet: // not HEAD: a prefetch must not consume the flow
		p, err = queryParams(r.URL.RawQuery)
	case http.MethodPost:
		p, err = bodyParams(w, r)
	default:
		fail(methodError(w, r, "GET, POST"))
		return
	}
	if err != nil {
		fail(newError(OutcomeMalformed, err))
		return
	}
	user, _, e := k.signedIn(r, false)
	if e != nil {
		fail(e)
		return
	}
	var f flow.Flow
	if k.cfg.fixedRedirect {
		f, err = k.cfg.flows.OpenCookie(r.Context(), w, r, user)
	} else {
		f, err = k.cfg.flows.Open(r.Context(), p.State, user)
	}
	if err != nil {
		fail(classify(r.Context(), err, false))
		return
	}
	// next was checked at /manage-connections; the state is authenticated,
	// and it is checked again here all the same.
	next := f.Next
	if next == "" || urlbuild.CheckNext(next) != nil {
		next = k.cfg.defaultNext
	}

	outcome := OutcomeSuccess
	bnError := p.bnError()
	switch {
	case bnError != nil:
		outcome = OutcomeBlueNexusError
	case k.cfg.onReturn != nil:
		ev := ReturnEvent{User: user, Intent: bluenexus.Intent(f.Intent), Next: next,
			ReturnURI: f.ReturnURI, IssuedAt: f.IssuedAt, Request: r, kit: k, handed: &handed{}}
		if herr := k.runHook(r, p.State, ev); herr != nil {
			if !k.cfg.hookLogOnly {
				e := newError(OutcomeHookFailed, herr)
				e.Next = next
				fail(e)
				return
			}
			outcome = OutcomeHookFailed
			k.logger(r).Warn().Str("event", "handoff.hook_failed").Str("route", routeReturn).
				Str("path", r.URL.Path).Err(herr).Msg("on-return hook failed; the user lands on next")
		}
	}

	if !asJSON {
		http.SetCookie(w, k.flash(string(outcome), 60)) // for the `next` page: [Kit.TakeOutcome]
	}
	status := respond(w, asJSON, http.StatusSeeOther, next, struct {
		Outcome Outcome `json:"outcome"`
		Next    string  `json:"next"`
		*bnReturnError
	}{outcome, next, bnError})
	ev := k.done(r, routeReturn, "handoff.returned", outcome, status, start, zerolog.InfoLevel)
	if bnError != nil {
		ev = ev.Str("bluenexus_error", bnError.Code)
	}
	ev.Msg("handoff returned")
}

// returnParams are the return's parameters: exactly one state (possibly
// empty, which the flow rejects as malformed), and BlueNexus's optional
// error parameters.
type returnParams struct {
	State            string
	Error            string
	ErrorDescription string
}

// fields maps the parameters' names to p's fields.
func (p *returnParams) fields() map[string]*string {
	return map[string]*string{"state": &p.State, "error": &p.Error, "error_description": &p.ErrorDescription}
}

// queryParams reads the GET return's query. A query that url.ParseQuery
// rejects (a `;`, a bad escape) is malformed, never silently cut short.
func queryParams(raw string) (returnParams, error) {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return returnParams{}, fmt.Errorf("query: %w", err)
	}
	var p returnParams
	for name, dst := range p.fields() {
		if *dst, err = single(q, name, ""); err != nil {
			return returnParams{}, err
		}
	}
	return p, nil
}

// bodyParams reads the POST return's JSON body: an object with the string
// members state, error and error_description, each at most once, and
// nothing else. A state in the query as well is refused: one request, one
// state.
func bodyParams(w http.ResponseWriter, r *http.Request) (returnParams, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return returnParams{}, fmt.Errorf("query: %w", err)
	}
	if _, ok := q["state"]; ok {
		return returnParams{}, errors.New("state in the query of a POST return")
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return returnParams{}, errors.New("content type must be application/json")
	}
	// encoding/json keeps the last of duplicated keys; a walk over the
	// tokens of one object of string members refuses them instead.
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxReturnBody))
	bad := errors.New("body must be one JSON object with the string members state, error and error_description, each at most once")
	var p returnParams
	fields := p.fields()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return returnParams{}, bad
	}
	for dec.More() {
		key, _ := dec.Token()
		name, _ := key.(string)
		value, err := dec.Token()
		s, isString := value.(string)
		if err != nil || fields[name] == nil || !isString {
			return returnParams{}, bad
		}
		*fields[name] = s
		delete(fields, name) // a second time is refused
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return returnParams{}, bad
	}
	if _, err := dec.Token(); err != io.EOF {
		return returnParams{}, bad
	}
	return p, nil
}

// bnReturnError is BlueNexus's `error` and `error_description` from a
// return. A valid state with them consumes the flow, skips the hook and
// lands the user on `next` with outcome bluenexus_error. The code (64
// printable bytes at most) goes to the log; both go back in the JSON
// answer to the client that sent them, never to the log.
type bnReturnError struct {
	Code        string `json:"error"`
	Description string `json:"error_description"`
}

// bnError sanitises BlueNexus's error parameters: printable ASCII only,
// bounded length. No error code means no error.
func (p returnParams) bnError() *bnReturnError {
	if p.Error == "" {
		return nil
	}
	return &bnReturnError{Code: printable(p.Error, 64), Description: printable(p.ErrorDescription, 256)}
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
