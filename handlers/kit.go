package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"time"

	"github.com/rs/zerolog"
	"github.com/rs/zerolog/hlog"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/middleware"
	"github.com/handoffkit/handoffkit/session"
	"github.com/handoffkit/handoffkit/urlbuild"
)

// Kit holds the configured handlers of the flow. Create it with [New]; it is
// safe for concurrent use.
type Kit struct {
	cfg        config
	client     *bluenexus.Client
	flows      *session.Manager
	whiteLabel *url.URL
	returnURL  *url.URL
	allowed    map[string]*url.URL
	now        func() time.Time
	manage     http.Handler
	ret        http.Handler
}

// New builds a Kit from the BlueNexus client, the flow manager and options.
// [WithWhiteLabelURL], [WithReturnURL] and [WithAccessToken] are required.
// Every URL is parsed and validated here, once; a bad value is an error
// naming the option.
func New(client *bluenexus.Client, flows *session.Manager, opts ...Option) (*Kit, error) {
	cfg := config{
		clientIP:     func(r *http.Request) (netip.Addr, bool) { return middleware.GetClientIP(r.Context()) },
		errorHandler: DefaultErrorHandler,
		logger:       zerolog.Nop(),
		intent:       bluenexus.IntentConnections,
		codeParam:    "code",
		defaultNext:  "/",
		hookTimeout:  5 * time.Second,
		minCodeLife:  10 * time.Second,
		observer:     nopObserver{},
	}
	for _, opt := range opts {
		opt(&cfg)
	}
	if client == nil {
		return nil, errors.New("handlers: New: nil *bluenexus.Client")
	}
	if flows == nil {
		return nil, errors.New("handlers: New: nil *session.Manager")
	}
	k := &Kit{cfg: cfg, client: client, flows: flows, now: time.Now, allowed: map[string]*url.URL{}}
	var err error
	if k.whiteLabel, err = parseAbsolute("WithWhiteLabelURL", cfg.whiteLabelURL); err != nil {
		return nil, err
	}
	if k.returnURL, err = parseAbsolute("WithReturnURL", cfg.returnURL); err != nil {
		return nil, err
	}
	if len(cfg.returnURIs) > 0 {
		if _, err := urlbuild.NewAllowlist(cfg.returnURIs...); err != nil {
			return nil, fmt.Errorf("handlers: WithReturnURIs: %w", err)
		}
	}
	for _, raw := range cfg.returnURIs {
		u, err := url.Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("handlers: WithReturnURIs: %w", err)
		}
		k.allowed[raw] = u
	}
	switch {
	case cfg.accessToken == nil:
		return nil, errors.New("handlers: WithAccessToken is required")
	case cfg.clientIP == nil:
		return nil, errors.New("handlers: WithClientIP: nil function")
	case cfg.errorHandler == nil:
		return nil, errors.New("handlers: WithErrorHandler: nil function")
	case cfg.intent == "":
		return nil, errors.New("handlers: WithIntent: empty intent")
	case cfg.codeParam == "" || url.QueryEscape(cfg.codeParam) != cfg.codeParam:
		return nil, fmt.Errorf("handlers: WithCodeParam: %q is not a plain query parameter name", cfg.codeParam)
	case cfg.hookTimeout <= 0:
		return nil, errors.New("handlers: WithHookTimeout: must be positive")
	case cfg.minCodeLife < 0 || cfg.minCodeLife >= 25*time.Second:
		return nil, errors.New("handlers: WithMinCodeLife: must be between 0 and 25s")
	case cfg.observer == nil:
		return nil, errors.New("handlers: WithObserver: nil observer")
	}
	if err := urlbuild.CheckNext(cfg.defaultNext); err != nil {
		return nil, fmt.Errorf("handlers: WithDefaultNext: %w", err)
	}
	// The outcome flash cookie is as secure as the flow cookie: Secure with
	// the __Host- prefix unless the flows run on plain http for development.
	k.cfg.flashName, k.cfg.flashSecure = "__Host-handoffkit-outcome", flows.Secure()
	if !k.cfg.flashSecure {
		k.cfg.flashName = "handoffkit-outcome"
	}
	k.manage = middleware.NoStore(http.HandlerFunc(k.serveManage))
	k.ret = middleware.NoStore(http.HandlerFunc(k.serveReturn))
	return k, nil
}

func parseAbsolute(option, raw string) (*url.URL, error) {
	if raw == "" {
		return nil, fmt.Errorf("handlers: %s is required", option)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("handlers: %s: %w", option, err)
	}
	if u.Scheme != "https" && u.Scheme != "http" || u.Host == "" || u.User != nil || u.Fragment != "" {
		return nil, fmt.Errorf("handlers: %s: %q must be an absolute http(s) URL without userinfo or fragment", option, raw)
	}
	// It carries a code or a state: https, or plain http on loopback only,
	// by the same rules as every return URI.
	if err := urlbuild.CheckReturnURI(raw); err != nil {
		return nil, fmt.Errorf("handlers: %s: %w", option, err)
	}
	return u, nil
}

// ManageConnections returns the handler for the route that starts the flow
// (GET /manage-connections). Mount it after the app's auth middleware and
// after [middleware.ClientIP].
//
// It reads the token ([WithAccessToken]) and client IP, validates the
// optional `next` (a local path, stored in the flow and used after the
// return) and `redirect` (one of [WithReturnURIs]) query parameters, begins
// a flow (its cookie is saved first), mints a handoff code for the
// redirectUri with the state, and answers 302 to the white-label URL with the
// code. A request that prefers application/json gets 200
// {"url": ..., "expiresAt": ...} instead, for SPA and mobile clients.
func (k *Kit) ManageConnections() http.Handler { return k.manage }

// Return returns the handler for the redirectUri route (GET /return by
// browsers; POST with a JSON body {"state": ...} by mobile apps after their
// deep link fires). It verifies the state against this browser's flow, runs
// the on-return hook once, and answers 303 to the flow's `next` (JSON
// {"outcome": ..., "next": ...} for POST).
func (k *Kit) Return() http.Handler { return k.ret }

// logger returns the request's logger (zerolog.Ctx, as hlog.NewHandler
// attaches it) when one is attached, as is: hlog.RequestIDHandler mounted
// after hlog.NewHandler has already added the request id to it, and adding
// it again would repeat the field. Otherwise it returns the configured
// logger, with the request id added when hlog.RequestIDHandler provided one.
func (k *Kit) logger(r *http.Request) *zerolog.Logger {
	if l := zerolog.Ctx(r.Context()); l.GetLevel() != zerolog.Disabled {
		return l
	}
	l := &k.cfg.logger
	if id, ok := hlog.IDFromRequest(r); ok {
		ll := l.With().Str("request_id", id.String()).Logger()
		return &ll
	}
	return l
}

// fail logs the failure and hands it to the error handler.
func (k *Kit) fail(w http.ResponseWriter, r *http.Request, route string, start time.Time, err error) {
	outcome := OutcomeOf(err)
	ev := k.logger(r).Warn().Str("event", "handoff.failed").Str("route", route).
		Str("path", r.URL.Path).Str("outcome", string(outcome)).Dur("latency", time.Since(start))
	if outcome == OutcomeUpstreamError || outcome == OutcomeUnavailable {
		ev = ev.Str("upstream_error", upstreamClass(err))
	}
	var apiErr *bluenexus.APIError
	if errors.As(err, &apiErr) {
		ev = ev.Int("upstream_status", apiErr.StatusCode)
	}
	ev.Msg("handoff failed")
	k.cfg.observer.Outcome(route, outcome)
	k.cfg.errorHandler(w, r, err)
}

// upstreamClass names an upstream error for metrics.
func upstreamClass(err error) string {
	switch {
	case errors.Is(err, bluenexus.ErrCircuitOpen):
		return "circuit_open"
	case errors.Is(err, bluenexus.ErrTimeout):
		return "timeout"
	case errors.Is(err, bluenexus.ErrConnection):
		return "connection"
	case errors.Is(err, bluenexus.ErrClientCriteria):
		return "client_criteria"
	case errors.Is(err, bluenexus.ErrRateLimited):
		return "rate_limited"
	case errors.Is(err, bluenexus.ErrUnauthorized):
		return "unauthorized"
	case errors.Is(err, bluenexus.ErrForbidden):
		return "forbidden"
	case errors.Is(err, bluenexus.ErrServer):
		return "server"
	case errors.Is(err, bluenexus.ErrBadResponse):
		return "bad_response"
	}
	return "other"
}
