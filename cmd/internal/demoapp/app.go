// Package demoapp is the example app of cmd/handoff-demo: an app with its own
// sign-in whose users have BlueNexus accounts, a home page listing their
// connections, and the kit's two routes behind the app's auth middleware.
// Tests, browser tests and load tests drive it too.
package demoapp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/gorilla/securecookie"
	"github.com/rs/zerolog"
	"github.com/rs/zerolog/hlog"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/bluenexus/bluenexustest"
	"github.com/handoffkit/handoffkit/handlers"
	"github.com/handoffkit/handoffkit/middleware"
	"github.com/handoffkit/handoffkit/session"
)

// Config configures the app.
type Config struct {
	// Client is the BlueNexus API client.
	Client *bluenexus.Client
	// WhiteLabelURL is the white-label page.
	WhiteLabelURL string
	// PublicURL is the app's own origin, e.g. http://127.0.0.1:8080.
	PublicURL string
	// Users are the demo users, each with a BlueNexus account.
	Users []string
	// SignIn gives the token pair BlueNexus issued when user signed in
	// (ok false: no new pair); the app saves it through Tokens. Nil: the
	// sign-in saves nothing.
	SignIn func(ctx context.Context, user string) (tok bluenexus.Token, ok bool, err error)
	// Store keeps each user's token pair; the app reads it to tell when the
	// kit refreshed a token.
	Store bluenexus.TokenStore
	// Tokens keeps the users' access tokens fresh, over Store.
	Tokens *bluenexus.TokenSource
	// Keys seal the flow state and the app's sign-in cookie.
	Keys []session.KeyPair
	// Strategy derives the client IP. Default: the TCP peer.
	Strategy middleware.Strategy
	// InsecureCookies allows plain http on loopback (development only).
	InsecureCookies bool
	// ServeMux mounts the routes on http.ServeMux instead of chi.
	ServeMux bool
	// Logger receives the access log and the kit's events.
	Logger zerolog.Logger
	// Observer receives the kit's metrics. Optional.
	Observer handlers.Observer
	// Metrics, when set, is served at /metrics.
	Metrics http.Handler
	// KitOptions are appended to the kit's options (tests use it).
	KitOptions []handlers.Option
	// SessionOptions are appended to the flow manager's options.
	SessionOptions []session.Option
}

// App is the example app.
type App struct {
	cfg     Config
	kit     *handlers.Kit
	auth    *securecookie.SecureCookie
	authKey string
	handler http.Handler
	pages   *pages

	mu       sync.Mutex
	journeys map[string]*Journey               // per user: what just happened
	cache    map[string][]bluenexus.Connection // per user: the app's copy of their connections
}

// Journey is the "what just happened" record of a user's last flow. It
// holds times, outcomes and provider names, never a secret.
type Journey struct {
	Started    time.Time
	Redirected bool
	Status     int
	Returned   time.Time
	Outcome    handlers.Outcome
	HookRan    bool
	// RefreshedAtManage and RefreshedAtReturn say whether the kit
	// refreshed the user's access token when minting the code, or for the
	// hook after the return.
	RefreshedAtManage, RefreshedAtReturn bool
	Before                               []string
	After                                []string
	// Added, Removed and Changed are what diff found between the
	// app's copy of the connections and the reading after the return:
	// provider names, and "provider: status" for a changed status.
	Added, Removed, Changed []string
}

type ctxKey struct{}

type user struct{ name string }

// New builds the app.
func New(cfg Config) (*App, error) {
	if cfg.Client == nil || len(cfg.Users) == 0 || cfg.Store == nil || cfg.Tokens == nil || len(cfg.Keys) == 0 {
		return nil, errors.New("demoapp: Client, Users, Store, Tokens and Keys are required")
	}
	if cfg.Strategy == nil {
		cfg.Strategy = middleware.RemoteAddrStrategy()
	}
	sopts := []session.Option{}
	if cfg.InsecureCookies {
		sopts = append(sopts, session.WithInsecureCookies())
	}
	flows, err := session.New(cfg.Keys, append(sopts, cfg.SessionOptions...)...)
	if err != nil {
		return nil, err
	}
	a := &App{
		cfg:      cfg,
		auth:     securecookie.New(cfg.Keys[0].Hash, cfg.Keys[0].Block),
		authKey:  "__Host-demo-user",
		journeys: map[string]*Journey{},
		cache:    map[string][]bluenexus.Connection{},
	}
	if cfg.InsecureCookies {
		a.authKey = "demo-user"
	}
	a.auth.MaxAge(8 * 3600)
	if a.pages, err = newPages(); err != nil {
		return nil, err
	}
	kopts := []handlers.Option{
		handlers.WithClient(cfg.Client),
		handlers.WithFlows(flows),
		handlers.WithOnReturn(a.refresh),
		handlers.WithHookErrorsLogged(),
		handlers.WithLogger(cfg.Logger),
		handlers.WithErrorHandler(a.kitError),
	}
	if cfg.Observer != nil {
		kopts = append(kopts, handlers.WithObserver(cfg.Observer))
	}
	kitCfg := handlers.Config{
		WhiteLabelURL: cfg.WhiteLabelURL,
		ReturnURL:     cfg.PublicURL + "/connections/return",
		Tokens:        cfg.Tokens,
		User: func(r *http.Request) (string, bool) {
			u, ok := r.Context().Value(ctxKey{}).(user)
			return u.name, ok
		},
	}
	if a.kit, err = handlers.New(kitCfg, append(kopts, cfg.KitOptions...)...); err != nil {
		return nil, err
	}
	a.handler = a.routes()
	return a, nil
}

// ServeHTTP serves the app.
func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.handler.ServeHTTP(w, r) }

// Kit returns the app's handoffkit handlers.
func (a *App) Kit() *handlers.Kit { return a.kit }

// Journey returns a copy of the user's last flow record.
func (a *App) Journey(name string) (Journey, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	j, ok := a.journeys[name]
	if !ok {
		return Journey{}, false
	}
	return *j, true
}

func (a *App) routes() http.Handler {
	manage := a.trackManage(a.kit.ManageConnections())
	ret := a.kit.Return()
	common := []func(http.Handler) http.Handler{
		hlog.NewHandler(a.cfg.Logger),
		hlog.RequestIDHandler("request_id", "X-Request-Id"),
		accessLog,
		middleware.ClientIP(a.cfg.Strategy),
	}
	if a.cfg.ServeMux {
		mux := http.NewServeMux()
		mux.Handle("GET /{$}", a.requireUser(http.HandlerFunc(a.home)))
		mux.HandleFunc("GET /signin", a.signinPage)
		mux.HandleFunc("POST /signin", a.signin)
		mux.HandleFunc("POST /signout", a.signout)
		mux.HandleFunc("POST /api/signin", a.apiSignin)
		mux.Handle("GET /api/connections", a.requireUser(http.HandlerFunc(a.apiConnections)))
		mux.Handle("GET /manage-connections", a.requireUser(manage))
		mux.Handle("/connections/return", a.requireUser(ret))
		if a.cfg.Metrics != nil {
			mux.Handle("GET /metrics", a.cfg.Metrics)
		}
		var h http.Handler = mux
		for _, m := range slices.Backward(common) {
			h = m(h)
		}
		return h
	}
	r := chi.NewRouter()
	r.Use(common...)
	r.With(a.requireUser).Get("/", a.home)
	r.Get("/signin", a.signinPage)
	r.Post("/signin", a.signin)
	r.Post("/signout", a.signout)
	r.Post("/api/signin", a.apiSignin)
	r.With(a.requireUser).Get("/api/connections", a.apiConnections)
	r.With(a.requireUser).Get("/manage-connections", manage.ServeHTTP)
	r.With(a.requireUser).Handle("/connections/return", ret)
	if a.cfg.Metrics != nil {
		r.Handle("/metrics", a.cfg.Metrics)
	}
	return r
}

// requireUser is the app's own auth middleware: it reads the bearer token
// of an API client (Authorization: Bearer, from POST /api/signin) or else
// the sign-in cookie, and puts the user in the context. Browsers without a
// session are sent to /signin; API clients get 401.
func (a *App) requireUser(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, ok := a.currentUser(r)
		if !ok {
			if r.Method == http.MethodGet && r.Header.Get("Accept") != "application/json" && r.Header.Get("Authorization") == "" {
				http.Redirect(w, r, "/signin", http.StatusSeeOther)
				return
			}
			http.Error(w, "sign in first", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, u)))
	})
}

// bearerName names the demo's bearer tokens in their MAC, so that a
// sign-in cookie's value is no bearer token, and the other way round.
const bearerName = "demo-bearer"

func (a *App) currentUser(r *http.Request) (user, bool) {
	var name string
	if h := r.Header.Get("Authorization"); h != "" {
		tok, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || a.auth.Decode(bearerName, tok, &name) != nil {
			return user{}, false // a bad bearer token never falls back to the cookie
		}
		return user{name: name}, slices.Contains(a.cfg.Users, name)
	}
	c, err := r.Cookie(a.authKey)
	if err != nil {
		return user{}, false
	}
	if err := a.auth.Decode(a.authKey, c.Value, &name); err != nil {
		return user{}, false
	}
	return user{name: name}, slices.Contains(a.cfg.Users, name)
}

// storedAccess is the access token the store holds for the user, to tell
// when the kit refreshed it. It is compared, never shown or logged.
func (a *App) storedAccess(ctx context.Context, name string) bluenexus.AccessToken {
	tok, _, _ := a.cfg.Store.Load(ctx, name)
	return tok.AccessToken
}

// trackManage records the start of a flow for the "what just happened" panel.
func (a *App) trackManage(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := r.Context().Value(ctxKey{}).(user)
		sw := &statusWriter{ResponseWriter: w}
		started := time.Now()
		before := a.storedAccess(r.Context(), u.name)
		next.ServeHTTP(sw, r)
		refreshed := a.storedAccess(r.Context(), u.name) != before
		a.mu.Lock()
		defer a.mu.Unlock()
		a.journeys[u.name] = &Journey{
			Started:    started,
			Status:     sw.status,
			Redirected: sw.status == http.StatusFound || sw.status == http.StatusOK,
			Before:     providerNames(a.cache[u.name]),

			RefreshedAtManage: refreshed,
		}
	})
}

// refresh is the kit's on-return hook: it re-reads the connections of the
// user the flow was for into the app's cache, as a real app refreshes its
// data after the return.
func (a *App) refresh(ctx context.Context, ev handlers.ReturnEvent) error {
	before := a.storedAccess(ctx, ev.User)
	conns, err := ev.Connections(ctx)
	refreshed := a.storedAccess(ctx, ev.User) != before
	a.mu.Lock()
	defer a.mu.Unlock()
	j := a.journeys[ev.User]
	if j == nil {
		j = &Journey{}
		a.journeys[ev.User] = j
	}
	j.HookRan = true
	j.RefreshedAtReturn = refreshed
	if err != nil {
		return fmt.Errorf("demoapp: listing connections: %w", err)
	}
	j.After = providerNames(conns)
	added, removed, changed := bluenexus.Diff(a.cache[ev.User], conns)
	j.Added, j.Removed = providerNames(added), providerNames(removed)
	j.Changed = nil
	for _, c := range changed {
		j.Changed = append(j.Changed, c.ProviderID+": "+string(c.Status))
	}
	a.cache[ev.User] = conns
	return nil
}

// readConnections reads the user's connections for the home page.
func (a *App) readConnections(ctx context.Context, tok bluenexus.AccessToken) ([]bluenexus.Connection, error) {
	var conns []bluenexus.Connection
	for c, err := range a.cfg.Client.AllConnections(ctx, tok) {
		if err != nil {
			return nil, fmt.Errorf("demoapp: listing connections: %w", err)
		}
		conns = append(conns, c)
	}
	return conns, nil
}

func providerNames(conns []bluenexus.Connection) []string {
	names := make([]string, 0, len(conns))
	for _, c := range conns {
		names = append(names, c.ProviderID)
	}
	slices.Sort(names)
	return names
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// accessLog logs each request's method, path, status and latency: the path
// only, never the query string (a state rides in it) or the headers.
var accessLog = hlog.AccessHandler(func(r *http.Request, status, size int, d time.Duration) {
	hlog.FromRequest(r).Info().Str("method", r.Method).Str("path", r.URL.Path).
		Int("status", status).Int("size", size).Float64("latency_ms", float64(d)/float64(time.Millisecond)).Msg("request")
})

func loggerFrom(r *http.Request) *zerolog.Logger { return zerolog.Ctx(r.Context()) }

// EmulatorSignIn is a Config.SignIn on the emulator: each sign-in opens
// a new account session there and gives its token pair, as BlueNexus does.
func EmulatorSignIn(emu *bluenexustest.Server) func(ctx context.Context, user string) (bluenexus.Token, bool, error) {
	return func(_ context.Context, user string) (bluenexus.Token, bool, error) {
		return emu.SignIn(user), true, nil
	}
}
