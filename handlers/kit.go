package handlers

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/rs/zerolog/hlog"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/internal/obsctx"
	"github.com/handoffkit/handoffkit/internal/replay"
	"github.com/handoffkit/handoffkit/internal/urlbuild"
	"github.com/handoffkit/handoffkit/session"
)

// Config holds the settings every app must give. Optional settings are
// [Option]s.
type Config struct {
	// WhiteLabelURL is the app's white-label page, as configured in the
	// BlueNexus developer portal. Its own query parameters are kept; the code
	// is added as the "code" parameter ([WithCodeParam]). It carries the
	// code, so it is checked like a return URI: https (plain http on
	// loopback only), no userinfo or fragment.
	WhiteLabelURL string
	// ReturnURL is the absolute URL of the route that serves [Kit.Return]
	// (https, or http on loopback): the redirectUri of browser flows. The
	// flow's state is added to its query unless [WithFixedRedirectURI].
	// Register its host among the white-label client's allowed domains in
	// the BlueNexus developer portal.
	ReturnURL string
	// CookieKeys seal the flow state, newest first (see package session for
	// rotation). Load them from configuration with [session.ParseKeys]; make
	// them once with [session.GenerateKeys]. Not needed, and refused, with
	// [WithFlows], whose Manager has its own keys.
	CookieKeys []session.KeyPair
	// User names the signed-in user, typically from what the app's auth
	// middleware put in the request context (a session cookie, a bearer
	// token). Required: a flow belongs to the user who started it, and only
	// that user's return completes it. With Tokens it is also the key their
	// token pair is stored under. Returning false answers 401 before any
	// upstream call.
	User func(*http.Request) (string, bool)
	// Tokens keeps each user's access token fresh ([bluenexus.NewTokenSource]
	// on the app's token store): it refreshes an expired token once per
	// rotation across the fleet, and the kit renews once when BlueNexus
	// answers 401. For apps that keep tokens fresh themselves, set
	// AccessToken instead: one of the two is required.
	Tokens *bluenexus.TokenSource
	// AccessToken, instead of Tokens, returns the signed-in user's BlueNexus
	// access token as the app keeps it. Returning false answers 401 before
	// any upstream call; a token BlueNexus refuses answers 401
	// "token_expired".
	AccessToken func(*http.Request) (bluenexus.AccessToken, bool)
}

// Kit holds the configured handlers of the flow. Create it with [New]; it is
// safe for concurrent use.
type Kit struct {
	cfg        options
	conf       Config         // without CookieKeys, which the flows hold
	tokenObs   *obsctx.Tokens // hears the token events of this kit's calls
	whiteLabel *url.URL
	returnURL  *url.URL
	allowed    map[string]*url.URL
}

// minCodeLife is the least remaining life a freshly minted code may have
// when the browser is sent on: a code that BlueNexus says expires sooner (or
// that took long to mint) is minted once more, within the same time budget.
const minCodeLife = 10 * time.Second

// New builds a Kit from the required settings and options. Every URL is
// parsed and validated here, once; a bad value is an error naming the
// setting. Without [WithClient] it calls BlueNexus at
// https://api.bluenexus.ai with the client's secure defaults (a 5 s budget
// per handoff, a circuit breaker); without [WithFlows] it seals flows into
// their state with cfg.CookieKeys, for 10 minutes, with an in-memory replay
// guard.
func New(cfg Config, opts ...Option) (*Kit, error) {
	o := options{
		errorHandler: DefaultErrorHandler,
		logger:       zerolog.New(os.Stderr).Level(zerolog.WarnLevel).With().Timestamp().Str("component", "handoffkit").Logger(),
		codeParam:    "code",
		defaultNext:  "/",
		hookTimeout:  5 * time.Second,
		observer:     nopObserver{},
	}
	for _, opt := range opts {
		if opt == nil {
			return nil, errors.New("handlers: New: nil Option")
		}
		opt(&o)
	}
	if err := errors.Join(o.errs...); err != nil {
		return nil, err
	}
	switch {
	case cfg.User == nil:
		return nil, errors.New("handlers: Config.User is required: a flow belongs to the signed-in user")
	case cfg.AccessToken != nil && cfg.Tokens != nil:
		return nil, errors.New("handlers: Config.AccessToken and Config.Tokens are exclusive: give one")
	case cfg.AccessToken == nil && cfg.Tokens == nil:
		return nil, errors.New("handlers: Config.Tokens (or Config.AccessToken) is required")
	}
	k := &Kit{cfg: o, conf: cfg, allowed: map[string]*url.URL{}}
	k.conf.CookieKeys = nil
	var err error
	if k.whiteLabel, err = parseReturn(o.devHTTP, "Config.WhiteLabelURL", cfg.WhiteLabelURL); err != nil {
		return nil, err
	}
	if k.returnURL, err = parseReturn(o.devHTTP, "Config.ReturnURL", cfg.ReturnURL); err != nil {
		return nil, err
	}
	for _, raw := range o.returnURIs {
		if k.allowed[raw], err = parseReturn(o.devHTTP, "WithReturnURIs", raw); err != nil {
			return nil, err
		}
	}
	if err := urlbuild.CheckNext(o.defaultNext); err != nil {
		return nil, ruleError("WithDefaultNext", "must be a local path such as /settings", err)
	}
	if k.cfg.client == nil {
		if k.cfg.client, err = bluenexus.NewClient(); err != nil {
			return nil, fmt.Errorf("handlers: default client: %w", err)
		}
	}
	switch {
	case o.flows != nil && len(cfg.CookieKeys) > 0:
		return nil, errors.New("handlers: Config.CookieKeys and WithFlows: give one (the Manager has its own keys)")
	case o.flows != nil:
		if err := o.flows.Check(); err != nil {
			return nil, fmt.Errorf("handlers: WithFlows: %w", err)
		}
	case len(cfg.CookieKeys) == 0:
		return nil, errors.New("handlers: Config.CookieKeys is required (make them with session.GenerateKeys)")
	default:
		if k.cfg.flows, err = session.New(cfg.CookieKeys); err != nil {
			return nil, fmt.Errorf("handlers: Config.CookieKeys: %w", err)
		}
	}
	k.tokenObs = newTokenObserver(o.observer, o.logger)
	if o.devHTTP {
		o.logger.Warn().Str("event", "handoff.insecure_dev_http").
			Msg("plain http to private-network addresses is allowed: development only (WithInsecureDevHTTP)")
	}
	return k, nil
}

// parseReturn parses a URL that will carry a code or a state: https, or
// plain http on loopback only (and on private-network IP addresses with
// WithInsecureDevHTTP); a mobile app's own scheme only in WithReturnURIs.
func parseReturn(devHTTP bool, setting, raw string) (*url.URL, error) {
	if raw == "" {
		return nil, fmt.Errorf("handlers: %s is required", setting)
	}
	rule := "an absolute https URL (plain http only on loopback)"
	if setting == "WithReturnURIs" {
		rule = "an https URL (plain http only on loopback) or an app's own scheme,"
	}
	u, err := url.Parse(raw)
	if err == nil && setting != "WithReturnURIs" && (u.Scheme != "https" && u.Scheme != "http" || u.Host == "") {
		err = errors.New("not an absolute http(s) URL")
	}
	if err == nil {
		err = urlbuild.CheckReturnURI(raw, devHTTP)
	}
	if err != nil {
		return nil, ruleError(setting+" "+strconv.Quote(raw), "must be "+rule+" without userinfo or fragment; "+
			"plain http to a private-network address only with WithInsecureDevHTTP, for development", err)
	}
	return u, nil
}

// ruleError names the setting and its rule, with the checker's reason
// without its package prefixes.
func ruleError(setting, rule string, err error) error {
	reason := err.Error()
	if i := strings.LastIndex(reason, ": "); i >= 0 {
		reason = reason[i+2:]
	}
	return fmt.Errorf("handlers: %s: %s (%s)", setting, rule, reason)
}

// ManageConnections returns the handler for the route that starts the flow
// (GET /manage-connections). Mount it after the app's auth middleware and
// after [middleware.ClientIP].
//
// It reads the signed-in user (Config.User), the client IP and the user's
// access token, validates the optional `next` (a local path, sealed in the
// flow and used after the return) and `redirect` (one of [WithReturnURIs])
// query parameters, seals the flow into a state bound to the user, mints a
// handoff code for the redirectUri carrying that state, and answers 302 to
// the white-label URL with the code. It writes no cookie (but one per flow
// with [WithFixedRedirectURI]). A request that prefers application/json
// gets 200 {"url": ..., "expiresAt": ..., "expiresIn": ...} instead, for
// SPA and mobile clients, which need no cookies at all.
func (k *Kit) ManageConnections() http.Handler { return noStore(http.HandlerFunc(k.serveManage)) }

// Return returns the handler for the redirectUri route (GET by browsers;
// POST with a JSON body {"state": ...} by mobile apps after their deep link
// fires, authenticated as the app's API is, with no cookie needed). It
// opens the state, checks that it is unexpired, unused and sealed for the
// signed-in user, runs the on-return hook once, and answers 303 to the
// flow's `next` (JSON {"outcome": ..., "next": ...} for POST). `next` is
// checked at /manage-connections and again here; a sealed value that fails
// the check lands on the default next page.
func (k *Kit) Return() http.Handler { return noStore(http.HandlerFunc(k.serveReturn)) }

// logger returns the request's logger (zerolog.Ctx, as hlog.NewHandler
// attaches it) when one is attached, as is: hlog.RequestIDHandler mounted
// after hlog.NewHandler has already added the request id to it. Otherwise it
// returns the configured logger, with the request id added when
// hlog.RequestIDHandler provided one.
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

// done reports how a request ended to the observer and the tracing sink,
// and returns its log event with the fields every event has.
func (k *Kit) done(r *http.Request, route, event string, o Outcome, status int, start time.Time, level zerolog.Level) *zerolog.Event {
	k.cfg.observer.Outcome(route, o)
	obsctx.Report(r.Context(), route, string(o), status)
	return k.logger(r).WithLevel(level).Str("event", event).Str("route", route).Str("path", r.URL.Path).
		Str("outcome", string(o)).Int("status", status).Float64("latency_ms", float64(time.Since(start))/float64(time.Millisecond))
}

// fail logs the failure at its level and hands it to the error handler.
func (k *Kit) fail(w http.ResponseWriter, r *http.Request, route string, start time.Time, e *Error) {
	e.Next = cmp.Or(e.Next, k.cfg.defaultNext)
	ev := k.done(r, route, "handoff.failed", e.Outcome, e.Status, start, e.level)
	if e.upstream != "" {
		k.cfg.observer.UpstreamError(e.upstream)
		ev = ev.Str("upstream_error", e.upstream)
	}
	if e.upstreamStatus != 0 {
		ev = ev.Int("upstream_status", e.upstreamStatus)
	}
	if e.hint != "" {
		ev = ev.Str("hint", e.hint)
	}
	ev.Msg("handoff failed")
	if errors.Is(e.Err, replay.ErrUnderPressure) {
		k.cfg.observer.GuardPressure()
	}
	k.cfg.errorHandler(w, r, e)
}

// signedIn checks, locally, that the request has a signed-in user, and
// returns the user's id; with Config.AccessToken and withToken, that it has
// a token too, which it returns.
func (k *Kit) signedIn(r *http.Request, withToken bool) (string, bluenexus.AccessToken, *Error) {
	var tok bluenexus.AccessToken
	if withToken && k.conf.Tokens == nil {
		var ok bool
		if tok, ok = k.conf.AccessToken(r); !ok || tok == "" {
			return "", "", newError(OutcomeUnauthenticated, errors.New("no BlueNexus access token for this request"))
		}
	}
	user, ok := k.conf.User(r)
	if !ok || user == "" {
		return "", "", newError(OutcomeUnauthenticated, errors.New("no signed-in user for this request"))
	}
	return user, tok, nil
}
