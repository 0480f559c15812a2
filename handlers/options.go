package handlers

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"reflect"
	"strconv"
	"time"

	"github.com/rs/zerolog"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/session"
)

// Option configures a [Kit]. Options apply in order after the defaults;
// [New] validates the result. A nil, zero or empty argument is an error at
// New, never a silent default.
type Option func(*options)

type options struct {
	client        *bluenexus.Client
	flows         *session.Manager
	returnURIs    []string
	clientIP      func(*http.Request) (netip.Addr, bool) // nil: middleware.GetClientIP
	onReturn      func(context.Context, ReturnEvent) error
	errorHandler  func(http.ResponseWriter, *http.Request, error)
	logger        zerolog.Logger
	codeParam     string
	defaultNext   string
	fixedRedirect bool
	hookTimeout   time.Duration
	hookLogOnly   bool
	observer      Observer
	devHTTP       bool
	errs          []error
}

func (o *options) check(ok bool, msg string) {
	if !ok {
		o.errs = append(o.errs, errors.New("handlers: "+msg))
	}
}

// WithClient sets the BlueNexus client. Default: bluenexus.NewClient()
// with its defaults (https://api.bluenexus.ai, a 5 s budget per call, a
// circuit breaker). Both mints of one request share the client's budget.
func WithClient(c *bluenexus.Client) Option {
	return func(o *options) { o.check(c != nil, "WithClient: nil client"); o.client = c }
}

// WithFlows sets the flow manager, for a shared replay guard across a
// fleet, another TTL or insecure development cookies (package session).
// Default: a Manager sealing with Config.CookieKeys, which must then be
// empty.
func WithFlows(m *session.Manager) Option {
	return func(o *options) { o.check(m != nil, "WithFlows: nil manager"); o.flows = m }
}

// WithReturnURIs allows more redirectUris, chosen per request by the
// `redirect` query parameter of /manage-connections: typically mobile deep
// links such as "yourapp://connections" or an SPA's return page. Matching is
// by exact string; each URI is validated at construction (https, http on
// loopback, or an app scheme; no userinfo, fragment, whitespace or
// backslashes). Default: none.
func WithReturnURIs(uris ...string) Option {
	return func(o *options) {
		o.check(len(uris) > 0, "WithReturnURIs: no URIs")
		o.returnURIs = append(o.returnURIs, uris...)
	}
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
// Returning false fails the request (400 no_client_ip) before any upstream
// call: the kit never falls back to another address.
func WithClientIP(f func(*http.Request) (netip.Addr, bool)) Option {
	return func(o *options) { o.check(f != nil, "WithClientIP: nil function"); o.clientIP = f }
}

// WithOnReturn sets the hook that runs once for each successful return,
// typically to read the user's connections again and store what changed
// (bluenexus has no webhooks). It runs on a context that outlives the
// request (a closed tab does not cancel it) under [WithHookTimeout]; a
// hook that returns nil succeeded. Default: none.
func WithOnReturn(f func(ctx context.Context, ev ReturnEvent) error) Option {
	return func(o *options) { o.check(f != nil, "WithOnReturn: nil hook"); o.onReturn = f }
}

// WithErrorHandler sets the one function every failure of both routes goes
// through, after the kit has logged it and set the no-store headers. err is
// always an [*Error]; get it with errors.As. Default: [DefaultErrorHandler].
// It must write a local response and never redirect to a URL taken from the
// request.
func WithErrorHandler(f func(w http.ResponseWriter, r *http.Request, err error)) Option {
	return func(o *options) { o.check(f != nil, "WithErrorHandler: nil function"); o.errorHandler = f }
}

// WithLogger sets the logger used when the request's context carries none
// (zerolog.Ctx, as hlog.NewHandler attaches it). Default: JSON lines on
// stderr at Warn level and above, so that failures pointing at a
// misconfiguration or a bug are heard, as httputil.ReverseProxy logs its
// errors; pass zerolog.Nop() to silence it.
//
// The kit logs one event per request: "handoff.minted" and
// "handoff.returned" at Info; "handoff.failed" with the level of the
// failure's outcome (see [Outcome]): Info for what the user or browser did,
// Warn for upstream trouble and the client IP, Error for a misconfiguration
// or a bug. Each carries route, path, outcome, status and latency_ms; a
// failed upstream call adds upstream_error (its class, as
// [Observer.UpstreamError] gets it) and upstream_status, and some failures
// a hint. With Config.Tokens, the token source's events are logged on this
// logger as "token.refreshed", "token.reauth" and "token.failed" at Info,
// and "token.refused" (BlueNexus refused a refresh token, with its likely
// causes) at Warn. No event carries a code, state, token, cookie or
// query string.
func WithLogger(l zerolog.Logger) Option {
	return func(o *options) {
		o.check(!reflect.ValueOf(l).IsZero(), "WithLogger: zero Logger (use zerolog.Nop() to silence the kit)")
		o.logger = l
	}
}

// WithCodeParam sets the white-label URL's query parameter that carries the
// code. Default: "code".
func WithCodeParam(name string) Option {
	return func(o *options) {
		o.check(name != "" && url.QueryEscape(name) == name, "WithCodeParam: "+strconv.Quote(name)+" must be a plain query parameter name")
		o.codeParam = name
	}
}

// WithDefaultNext sets the local path a return lands on when the flow
// carried no `next`, and the error page's link. Default: "/".
func WithDefaultNext(path string) Option {
	return func(o *options) { o.check(path != "", "WithDefaultNext: empty path"); o.defaultNext = path }
}

// WithFixedRedirectURI sends the configured return URL byte for byte as the
// redirectUri, for BlueNexus clients whose redirect URIs are matched
// exactly. The sealed state then cannot ride in the URL: each flow keeps it
// in a cookie of its own (package session), and a return completes the
// signed-in user's newest pending flow in this browser. What this gives up:
// up to 5 pending flows per browser (a sixth deletes the oldest's cookie);
// with two tabs, both returns succeed but each lands on the newest pending
// flow's `next`, not necessarily its own; a page that makes the browser
// load /return completes the user's own pending flow early (no cross-user
// effect); and apps without cookies cannot use it. Default: off; the state
// rides in the redirectUri's query.
func WithFixedRedirectURI() Option { return func(o *options) { o.fixedRedirect = true } }

// WithHookTimeout bounds each run of the on-return hook. Default: 5s.
func WithHookTimeout(d time.Duration) Option {
	return func(o *options) { o.check(d > 0, "WithHookTimeout: must be positive"); o.hookTimeout = d }
}

// WithHookErrorsLogged makes a failing hook a logged event instead of an
// error response: the user still lands on the flow's `next` page, and
// [Kit.TakeOutcome] there reports "hook_failed". Default: off (the error
// goes to the error handler, 500).
func WithHookErrorsLogged() Option { return func(o *options) { o.hookLogOnly = true } }

// WithObserver sets the metrics observer (package metrics has a Prometheus
// one). Default: none.
func WithObserver(obs Observer) Option {
	return func(o *options) { o.check(obs != nil, "WithObserver: nil observer"); o.observer = obs }
}

// WithInsecureDevHTTP also allows plain http to private-network IP
// addresses (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, fc00::/7) in
// Config.WhiteLabelURL, Config.ReturnURL and [WithReturnURIs], for
// development with a phone on the local network or the Android emulator,
// which reaches the host at 10.0.2.2 (docs/mobile.md). Codes and states
// then cross that network in clear text: never use it in production. New
// logs a warning when it is on. Default: off; plain http is allowed on
// loopback only.
func WithInsecureDevHTTP() Option { return func(o *options) { o.devHTTP = true } }
