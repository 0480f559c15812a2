package handlers

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/rs/zerolog"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/internal/flow"
	"github.com/handoffkit/handoffkit/internal/urlbuild"
	"github.com/handoffkit/handoffkit/middleware"
)

const routeManage = "manage"

func (k *Kit) serveManage(w http.ResponseWriter, r *http.Request) {
	start, back := time.Now(), k.cfg.defaultNext // back: where an error page links
	fail := func(e *Error) {
		e.Next = cmp.Or(e.Next, back)
		k.fail(w, r, routeManage, start, e)
	}
	// GET only: a HEAD (a link prefetcher, a checker) must not mint a code.
	if r.Method != http.MethodGet {
		fail(methodError(w, r, "GET"))
		return
	}
	// Nor a prefetch: the code would die unseen, spending a flow and a
	// BlueNexus rate-limit slot on a page the user may never open.
	if isPrefetch(r) {
		// A bare 503 (docs/operations.md says why): no code, no flow, no
		// cookie, no upstream call, and no Retry-After, which would hold
		// back every prefetch to the site.
		k.done(r, routeManage, "handoff.prefetch", OutcomePrefetch, http.StatusServiceUnavailable, start, zerolog.InfoLevel).Msg("prefetch declined")
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		fail(newError(OutcomeBadRequest, fmt.Errorf("query: %w", err)))
		return
	}
	next, nextErr := single(query, "next", k.cfg.defaultNext)
	if nextErr == nil && next != k.cfg.defaultNext {
		nextErr = urlbuild.CheckNext(next)
	}
	if nextErr == nil {
		back = next // a checked `next` only
	}
	user, token, e := k.signedIn(r, true)
	if e != nil {
		fail(e)
		return
	}
	ip, ok := middleware.GetClientIP(r.Context())
	if k.cfg.clientIP != nil {
		ip, ok = k.cfg.clientIP(r)
	}
	if !ok || !ip.IsValid() {
		// Why the middleware found none (never a header value), or that the
		// app's own function did.
		reason, fix := middleware.ClientIPError(r.Context()), "mount middleware.ClientIP with the strategy for your proxies before the kit"
		if k.cfg.clientIP != nil {
			reason, fix = fmt.Errorf("%w: the WithClientIP function found none", middleware.ErrNoClientIP), "check what the WithClientIP function reads"
		}
		e := newError(OutcomeNoClientIP, reason)
		e.hint = reason.Error() + ": " + fix + " (docs/client-ip.md)"
		fail(e)
		return
	}
	if nextErr != nil {
		fail(newError(OutcomeBadRequest, fmt.Errorf("next: %w", nextErr)))
		return
	}
	base := k.returnURL
	choice, err := single(query, "redirect", "")
	if _, given := query["redirect"]; err == nil && given { // given empty is refused too
		var found bool
		if base, found = k.allowed[choice]; !found {
			err = errors.New("not one of WithReturnURIs")
		}
	}
	if err != nil {
		fail(newError(OutcomeBadRequest, fmt.Errorf("redirect: %w", err)))
		return
	}
	params := flow.Params{Intent: string(bluenexus.IntentConnections), Next: next, ReturnURI: choice}
	state, err := k.cfg.flows.Seal(user, params)
	if err != nil { // a next too long for the state, among others
		e := newError(OutcomeBadRequest, err)
		e.Next = k.cfg.defaultNext
		fail(e)
		return
	}

	// Every local check passed: only now may the token source call
	// BlueNexus (a refresh), so that a bad request costs no upstream call.
	if k.conf.Tokens != nil {
		if token, err = k.conf.Tokens.Token(k.tokenCtx(r.Context()), user); err != nil {
			fail(classify(r.Context(), err, true))
			return
		}
	}
	redirectURI := cmp.Or(choice, k.conf.ReturnURL) // fixed: byte for byte as allowlisted or configured
	if !k.cfg.fixedRedirect {
		redirectURI = urlbuild.WithParam(base, "state", state.Reveal())
	}
	h, e := k.mint(r.Context(), user, token, bluenexus.HandoffRequest{RedirectURI: redirectURI, Intent: bluenexus.IntentConnections, ClientIP: ip})
	if e != nil {
		fail(e)
		return
	}
	// A fixed redirectUri cannot carry the state: a cookie of this flow's
	// own does, written only now, with a code minted for it.
	if k.cfg.fixedRedirect {
		if err := k.cfg.flows.SetCookie(w, r, state); err != nil {
			fail(newError(OutcomeInternal, err))
			return
		}
	}
	target := urlbuild.WithParam(k.whiteLabel, k.cfg.codeParam, h.Code.Reveal())

	// Both by this server's clock, on which mint judged the code: expiresAt
	// matches this answer's Date header, and expiresIn needs no clock at
	// all (docs/operations.md).
	status := respond(w, wantsJSON(r), http.StatusFound, target, struct {
		URL       string    `json:"url"`
		ExpiresAt time.Time `json:"expiresAt"`
		ExpiresIn int       `json:"expiresIn"`
	}{target, h.ExpiresAt.UTC().Truncate(time.Second), int(h.ExpiresAt.Sub(time.Now()) / time.Second)})
	k.done(r, routeManage, "handoff.minted", OutcomeMinted, status, start, zerolog.InfoLevel).Msg("handoff code minted")
}

// respond answers 200 with body as JSON when asJSON, and otherwise
// redirects with status to location. It returns the status it answered.
func respond(w http.ResponseWriter, asJSON bool, status int, location string, body any) int {
	if asJSON {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(body)
		return http.StatusOK
	}
	w.Header().Set("Location", location)
	w.WriteHeader(status)
	return status
}

// methodError refuses a method the route does not serve: 405 bad_request,
// with Allow.
func methodError(w http.ResponseWriter, r *http.Request, allow string) *Error {
	w.Header().Set("Allow", allow)
	e := newError(OutcomeBadRequest, fmt.Errorf("method %s not allowed", r.Method))
	e.Status = http.StatusMethodNotAllowed
	return e
}

// mint calls handoff init, and once more when the code came back with less
// than the minimum life left (a slow call, a short-lived or already expired
// code). With a token source, a 401 renews the access token once and mints
// again. All calls share one time budget, the client's. A code still too
// short-lived after a second mint is a bad_response: a dead code is never
// handed to the browser.
func (k *Kit) mint(ctx context.Context, user string, token bluenexus.AccessToken, req bluenexus.HandoffRequest) (bluenexus.Handoff, *Error) {
	callCtx, cancel := context.WithTimeout(ctx, k.cfg.client.Timeout())
	defer cancel()
	renewed, reminted := false, false
	for {
		t0 := time.Now()
		h, err := k.cfg.client.InitHandoff(callCtx, token, req)
		if err != nil {
			e := classify(ctx, err, false)
			if e.Outcome != OutcomeTokenExpired || k.conf.Tokens == nil || renewed {
				return h, e
			}
			// BlueNexus refused the token before its expiry (revoked, or
			// the clocks disagree): renew once, within the same budget.
			renewed = true
			k.cfg.observer.UpstreamError(e.upstream)
			if token, err = k.conf.Tokens.Renew(k.tokenCtx(callCtx), user, token); err != nil {
				return h, classify(ctx, err, true)
			}
			continue
		}
		k.cfg.observer.Minted(time.Since(t0))
		life := h.ExpiresAt.Sub(time.Now())
		if life >= minCodeLife {
			return h, nil
		}
		if reminted {
			e := newError(OutcomeBadResponse, fmt.Errorf("handoff code expires in %v, twice", life.Round(time.Millisecond)))
			e.upstream = "bad_response"
			return h, e
		}
		reminted = true
	}
}

// single returns the one value of a query parameter, def when absent, and
// an error when it is repeated.
func single(q url.Values, name, def string) (string, error) {
	switch v := q[name]; len(v) {
	case 0:
		return def, nil
	case 1:
		return v[0], nil
	default:
		return "", fmt.Errorf("parameter %q given %d times", name, len(v))
	}
}
