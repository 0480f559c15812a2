package handlers

import (
	"context"
	"net/http"
	"net/netip"
	"time"

	"github.com/rs/zerolog"

	"github.com/handoffkit/handoffkit/bluenexus"
)

// Option configures a [Kit]. Options apply in order after the defaults;
// [New] validates the result.
type Option func(*config)

type config struct {
	whiteLabelURL string
	returnURL     string
	returnURIs    []string
	accessToken   func(*http.Request) (bluenexus.AccessToken, bool)
	clientIP      func(*http.Request) (netip.Addr, bool)
	onReturn      func(context.Context, ReturnEvent) error
	errorHandler  func(http.ResponseWriter, *http.Request, error)
	logger        zerolog.Logger
	intent        bluenexus.Intent
	codeParam     string
	defaultNext   string
	fixedRedirect bool
	hookTimeout   time.Duration
	hookLogOnly   bool
	minCodeLife   time.Duration
	observer      Observer
	flashName     string
	flashSecure   bool
}

// WithWhiteLabelURL sets the app's white-label page URL, as configured in the
// BlueNexus developer portal. Required; its own query parameters are kept.
// It carries the code, so it is checked like a return URI: https (plain http
// on loopback only), canonical form, no userinfo or fragment.
func WithWhiteLabelURL(u string) Option { return func(c *config) { c.whiteLabelURL = u } }

// WithReturnURL sets the redirectUri for browser flows: the absolute URL of
// the route that serves [Kit.Return] (https, or http on loopback). Required.
// The flow's state is added to its query unless [WithFixedRedirectURI].
func WithReturnURL(u string) Option { return func(c *config) { c.returnURL = u } }

// WithReturnURIs allows more redirectUris, chosen per request by the
// `redirect` query parameter of /manage-connections: typically mobile deep
// links such as "yourapp://connections" or an SPA's return page. Matching is
// by exact string; each URI is validated at construction (https, http on
// loopback, or an app scheme; no userinfo, fragment, whitespace or
// backslashes). Default: none.
func WithReturnURIs(uris ...string) Option {
	return func(c *config) { c.returnURIs = append(c.returnURIs, uris...) }
}

// WithAccessToken sets how the kit finds the signed-in user's BlueNexus
// access token, typically from what the app's auth middleware put in the
// request context. Required. Returning false answers 401 before any upstream
// call.
func WithAccessToken(f func(*http.Request) (bluenexus.AccessToken, bool)) Option {
	return func(c *config) { c.accessToken = f }
}

// WithClientIP sets where the kit reads the end user's IP. Default:
// [middleware.GetClientIP] on the request context, so [middleware.ClientIP]
// must run before the kit's routes. Use it to take the IP from another
// middleware, for example chi's:
//
//	handlers.WithClientIP(func(r *http.Request) (netip.Addr, bool) {
//		a := chimw.GetClientIPAddr(r.Context()) // after chimw.ClientIPFromXFF(...)
//		return a.Unmap(), a.IsValid()
//	})
//
// Returning false fails the request with middleware.ErrNoClientIP before any
// upstream call: the kit never falls back to another address.
func WithClientIP(f func(*http.Request) (netip.Addr, bool)) Option {
	return func(c *config) { c.clientIP = f }
}

// WithOnReturn sets the hook that runs once for each successful return,
// typically to re-read the user's connections. It runs under its own time
// limit ([WithHookTimeout]). Default: none.
func WithOnReturn(f func(ctx context.Context, ev ReturnEvent) error) Option {
	return func(c *config) { c.onReturn = f }
}

// WithErrorHandler sets the one function every failure of both routes goes
// through, after the kit has logged it and set the no-store headers.
// Default: [DefaultErrorHandler]. It must write a local response and never
// redirect to a URL taken from the request.
func WithErrorHandler(f func(http.ResponseWriter, *http.Request, error)) Option {
	return func(c *config) { c.errorHandler = f }
}

// WithLogger sets the logger used when the request's context carries none
// (zerolog.Ctx, as hlog.NewHandler attaches it). Default: a disabled logger.
//
// The kit logs one event per request: "handoff.minted" and
// "handoff.returned" at Info, "handoff.failed" at Warn, each with route,
// path, outcome and latency. A failed upstream call adds upstream_error (its
// class, as [Observer.UpstreamError] gets it) and, when BlueNexus answered
// with an error status, upstream_status; a BlueNexus error return adds
// bluenexus_error. No event carries a code, state, token, cookie or query
// string. The configured logger gets request_id from hlog.RequestIDHandler;
// a request logger is used as is, so mount hlog.RequestIDHandler with a
// field key after hlog.NewHandler to put the id on it.
func WithLogger(l zerolog.Logger) Option { return func(c *config) { c.logger = l } }

// WithIntent sets the handoff intent. Default: bluenexus.IntentConnections.
func WithIntent(i bluenexus.Intent) Option { return func(c *config) { c.intent = i } }

// WithCodeParam sets the white-label URL's query parameter that carries the
// code. Default: "code".
func WithCodeParam(name string) Option { return func(c *config) { c.codeParam = name } }

// WithDefaultNext sets the local path a return lands on when the flow
// carried no `next`. Default: "/".
func WithDefaultNext(path string) Option { return func(c *config) { c.defaultNext = path } }

// WithFixedRedirectURI sends the configured return URL byte for byte as the
// redirectUri, for BlueNexus clients whose redirect URIs are matched
// exactly. The return is then bound by the flow cookie alone: it completes
// the browser's most recent pending flow. What this gives up: several tabs
// cannot be told apart (the most recent flow wins, older ones fail as
// superseded or expire), and the return no longer proves that this browser
// came back from the handoff it started (anyone who can make the browser
// load /return completes the browser's own pending flow: no cross-user
// effect, but an early hook run). Default: off; the state rides in the
// redirectUri's query.
func WithFixedRedirectURI() Option { return func(c *config) { c.fixedRedirect = true } }

// WithHookTimeout bounds each run of the on-return hook. Default: 5s.
func WithHookTimeout(d time.Duration) Option { return func(c *config) { c.hookTimeout = d } }

// WithHookErrorsLogged makes a failing hook a logged event instead of an
// error response: the user still lands on the flow's `next` page, and
// [Kit.TakeOutcome] there reports [OutcomeHookFailed]. Default: off (the
// error goes to the error handler, 500).
func WithHookErrorsLogged() Option { return func(c *config) { c.hookLogOnly = true } }

// WithMinCodeLife sets the least remaining life a freshly minted code may
// have: a code that BlueNexus says expires sooner (or that took long to
// mint) is minted once more, within the client's time budget. Default: 10s.
func WithMinCodeLife(d time.Duration) Option { return func(c *config) { c.minCodeLife = d } }

// WithObserver sets the metrics observer. Default: none.
func WithObserver(o Observer) Option { return func(c *config) { c.observer = o } }
