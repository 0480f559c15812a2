package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/middleware"
	"github.com/handoffkit/handoffkit/session"
	"github.com/handoffkit/handoffkit/urlbuild"
)

const routeManage = "manage"

func (k *Kit) serveManage(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	// GET only: a HEAD (a link prefetcher, a checker) must not mint a code.
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		k.fail(w, r, routeManage, start, ErrMethodNotAllowed)
		return
	}
	token, ok := k.cfg.accessToken(r)
	if !ok || token == "" {
		k.fail(w, r, routeManage, start, ErrNoAccessToken)
		return
	}
	ip, ok := k.cfg.clientIP(r)
	if !ok || !ip.IsValid() {
		reason := middleware.ClientIPError(r.Context()) // why the middleware found none, when it ran
		if reason == nil || !errors.Is(reason, middleware.ErrNoClientIP) {
			reason = middleware.ErrNoClientIP
		}
		k.fail(w, r, routeManage, start, fmt.Errorf("handlers: %w", reason))
		return
	}
	var query url.Values // nil without a query: no map to allocate
	if r.URL.RawQuery != "" {
		query = r.URL.Query()
	}
	next, err := single(query, "next", k.cfg.defaultNext)
	if err == nil && next != k.cfg.defaultNext {
		err = urlbuild.CheckNext(next)
	}
	if err != nil {
		k.fail(w, r, routeManage, start, fmt.Errorf("%w: next: %w", ErrBadRequest, err))
		return
	}
	base := k.returnURL
	choice, err := single(query, "redirect", "")
	if _, given := query["redirect"]; err == nil && given { // given empty is refused too
		var found bool
		if base, found = k.allowed[choice]; !found {
			err = urlbuild.ErrUnsafeURI
		}
	}
	if err != nil {
		k.fail(w, r, routeManage, start, fmt.Errorf("%w: redirect: %w", ErrBadRequest, err))
		return
	}

	flow, err := k.flows.Begin(w, r, session.Params{Intent: string(k.cfg.intent), Next: next, ReturnURI: choice})
	if err != nil {
		k.fail(w, r, routeManage, start, fmt.Errorf("%w: %w", ErrSession, err))
		return
	}
	var redirectURI string
	switch {
	case !k.cfg.fixedRedirect:
		redirectURI = urlbuild.RedirectURI(base, flow.State.Reveal())
	case choice != "":
		redirectURI = choice // byte for byte as allowlisted
	default:
		redirectURI = k.cfg.returnURL // byte for byte as configured
	}
	h, err := k.mint(r.Context(), token, bluenexus.HandoffRequest{RedirectURI: redirectURI, Intent: k.cfg.intent, ClientIP: ip})
	if err != nil {
		k.cfg.observer.UpstreamError(upstreamClass(err))
		k.fail(w, r, routeManage, start, err)
		return
	}
	target := urlbuild.WhiteLabelURL(k.whiteLabel, k.cfg.codeParam, h.Code.Reveal())

	k.cfg.observer.Outcome(routeManage, OutcomeMinted)
	k.logger(r).Info().Str("event", "handoff.minted").Str("route", routeManage).Str("path", r.URL.Path).
		Str("outcome", string(OutcomeMinted)).Dur("latency", time.Since(start)).Msg("handoff code minted")

	if wantsJSON(r) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"url":` + strconv.Quote(target) + `,"expiresAt":"` + h.ExpiresAt.UTC().Format(time.RFC3339) + `"}` + "\n"))
		return
	}
	w.Header().Set("Location", target)
	w.WriteHeader(http.StatusFound)
}

// mint calls handoff init, and once more when the code came back with less
// than the minimum life left (a slow call, or a short-lived code). Both
// calls share one time budget, the client's.
func (k *Kit) mint(ctx context.Context, token bluenexus.AccessToken, req bluenexus.HandoffRequest) (bluenexus.Handoff, error) {
	ctx, cancel := context.WithTimeout(ctx, k.client.Timeout())
	defer cancel()
	for attempt := 0; ; attempt++ {
		t0 := time.Now()
		h, err := k.client.InitHandoff(ctx, token, req)
		if err != nil {
			return h, err
		}
		k.cfg.observer.Minted(time.Since(t0))
		if attempt > 0 || h.ExpiresAt.Sub(k.now()) >= k.cfg.minCodeLife {
			return h, nil
		}
	}
}

// single returns the one value of a query parameter, def when absent, and
// an error when it is repeated.
func single(q map[string][]string, name, def string) (string, error) {
	switch v := q[name]; len(v) {
	case 0:
		return def, nil
	case 1:
		return v[0], nil
	default:
		return "", fmt.Errorf("parameter %q given %d times", name, len(v))
	}
}
