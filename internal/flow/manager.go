package flow

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/sessions"
	"github.com/handoffkit/handoffkit/internal/replay"
)

// Defaults and limits of the [Manager] options.
const (
	// DefaultCookieName is the flow cookie's name. The __Host- prefix makes
	// browsers accept it only with Secure, Path=/ and no Domain.
	DefaultCookieName = "__Host-handoffkit-flow"
	// DefaultInsecureCookieName is the name used with [WithInsecureCookies]
	// when no name is given: browsers refuse a __Host- cookie without Secure.
	DefaultInsecureCookieName = "handoffkit-flow"
	// DefaultTTL is how long a flow may take from Begin to Finish.
	DefaultTTL = 10 * time.Minute
	// MaxTTL is the longest TTL [WithTTL] accepts.
	MaxTTL = time.Hour
	// DefaultMaxFlows is how many flows one browser may have pending.
	DefaultMaxFlows = 5
	// MaxFlowsLimit is the largest value [WithMaxFlows] accepts.
	MaxFlowsLimit = 20
)

// Manager begins and finishes flows, keeping them in a cookie of their own
// through a gorilla [sessions.Store]. It is safe for concurrent use.
type Manager struct {
	store    sessions.Store
	name     string
	ttl      time.Duration
	ttlMs    int64
	maxFlows int
	guard    ReplayGuard
	now      func() time.Time
	cookie   sessions.Options // every attribute, set on each session before Save
}

// Option configures a [Manager].
type Option func(*config)

type config struct {
	name     string
	ttl      time.Duration
	maxFlows int
	guard    ReplayGuard
	guardSet bool
	now      func() time.Time
	insecure bool
}

// WithCookieName sets the flow cookie's name. Default [DefaultCookieName], or
// [DefaultInsecureCookieName] with [WithInsecureCookies]. It must be a valid
// cookie name, and must not start with __Host- or __Secure- when cookies are
// insecure. Give the flow cookie a name no other cookie of the app uses.
func WithCookieName(name string) Option { return func(c *config) { c.name = name } }

// WithTTL sets how long a flow may take from Begin to Finish, and the flow
// cookie's Max-Age (rounded up to whole seconds). Default [DefaultTTL]; it
// must be from one second to [MaxTTL].
func WithTTL(ttl time.Duration) Option { return func(c *config) { c.ttl = ttl } }

// WithMaxFlows sets how many flows one browser may have pending, for example
// in several tabs. Default [DefaultMaxFlows], from 1 to [MaxFlowsLimit].
// Beginning one more pushes out the oldest, and returning with the oldest's
// state then fails with [ErrSuperseded] (never a silent overwrite,
// SECURITY.md B5). Flows with very long Params may be pushed out earlier to
// keep the cookie small.
func WithMaxFlows(n int) Option { return func(c *config) { c.maxFlows = n } }

// ReplayGuard records used states server-side (session.ReplayGuard is the
// same interface, documented for users).
type ReplayGuard interface {
	Consume(ctx context.Context, id string, expiresAt time.Time) error
}

// WithReplayGuard sets the server-side record of used states. Default the
// in-memory guard of package internal/replay on the Manager's clock, which gives strict one-time use on a
// single instance; a fleet needs a shared guard.
//
// nil disables the guard. Unsafe: each state is then single-use only as far
// as the browser keeps the cookie Finish wrote; whoever holds an older copy
// of the flow cookie (saved before the return) can finish the same flow
// again, with the same state, until it expires.
func WithReplayGuard(g ReplayGuard) Option {
	return func(c *config) { c.guard, c.guardSet = g, true }
}

// WithClock sets the clock flows are stamped and expired by. Default
// time.Now. The cookie codecs keep using the real time for their own
// signature timestamps.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithInsecureCookies drops the Secure attribute, for development on plain
// http loopback only (SECURITY.md C1). The default cookie name becomes
// [DefaultInsecureCookieName]; a name with the __Host- or __Secure- prefix
// is a construction error, since browsers would refuse it.
func WithInsecureCookies() Option { return func(c *config) { c.insecure = true } }

// New returns a Manager keeping flows in store, which may be any gorilla
// store: [NewCookieStore] gives one with the right defaults, keys and
// lifetime. Give the Manager a store of its own: New sets the store's
// lifetime to the TTL with the store's MaxAge(int) method, when it has one,
// so that the codecs reject older cookies (SECURITY.md C2).
//
// Whatever the store's defaults, every cookie the Manager writes has
// Path=/, Secure (unless [WithInsecureCookies]), HttpOnly, SameSite=Lax,
// Max-Age of the TTL and no Domain (SECURITY.md C1).
func New(store sessions.Store, opts ...Option) (*Manager, error) {
	if store == nil {
		return nil, errors.New("session: New: nil store")
	}
	c := config{ttl: DefaultTTL, maxFlows: DefaultMaxFlows, now: time.Now}
	for _, o := range opts {
		o(&c)
	}
	if c.name == "" {
		c.name = DefaultCookieName
		if c.insecure {
			c.name = DefaultInsecureCookieName
		}
	}
	switch {
	case !validCookieName(c.name):
		return nil, fmt.Errorf("session: New: cookie name %q is not a valid cookie name", c.name)
	case c.insecure && (strings.HasPrefix(c.name, "__Host-") || strings.HasPrefix(c.name, "__Secure-")):
		return nil, fmt.Errorf("session: New: cookie name %q needs Secure, which WithInsecureCookies drops", c.name)
	case c.ttl < time.Second || c.ttl > MaxTTL:
		return nil, fmt.Errorf("session: New: TTL %v out of range [1s, %v]", c.ttl, MaxTTL)
	case c.maxFlows < 1 || c.maxFlows > MaxFlowsLimit:
		return nil, fmt.Errorf("session: New: max flows %d out of range [1, %d]", c.maxFlows, MaxFlowsLimit)
	case c.now == nil:
		return nil, errors.New("session: New: nil clock")
	}
	if !c.guardSet {
		c.guard = replay.New(c.now, 0)
	}
	maxAge := maxAgeSeconds(c.ttl)
	if s, ok := store.(interface{ MaxAge(int) }); ok {
		s.MaxAge(maxAge)
	}
	return &Manager{
		store:    store,
		name:     c.name,
		ttl:      c.ttl,
		ttlMs:    c.ttl.Milliseconds(),
		maxFlows: c.maxFlows,
		guard:    c.guard,
		now:      c.now,
		cookie: sessions.Options{
			Path:     "/",
			Domain:   "",
			MaxAge:   maxAge,
			Secure:   !c.insecure,
			HttpOnly: true,
			SameSite: http.SameSiteLaxMode,
		},
	}, nil
}

func maxAgeSeconds(ttl time.Duration) int { return int(math.Ceil(ttl.Seconds())) }

// validCookieName reports whether name is an RFC 6265 token.
func validCookieName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?={}`, c) >= 0 {
			return false
		}
	}
	return true
}

// CookieName returns the flow cookie's name.
func (m *Manager) CookieName() string { return m.name }

// Secure reports whether the flow cookie carries the Secure attribute (it
// does unless [WithInsecureCookies]). Other cookies of the flow, such as the
// handlers' outcome flash, follow it.
func (m *Manager) Secure() bool { return m.cookie.Secure }

// TTL returns how long a flow may take from Begin to Finish.
func (m *Manager) TTL() time.Duration { return m.ttl }

// Begin starts a flow with a fresh state: [NewState], then
// [Manager.BeginState].
func (m *Manager) Begin(w http.ResponseWriter, r *http.Request, p Params) (Flow, error) {
	state, err := NewState()
	if err != nil {
		return Flow{}, err
	}
	return m.BeginState(w, r, state, p)
}

// BeginState starts a flow with the given state (from [NewState]): it adds
// the flow to this browser's flow cookie and saves the cookie on w. The
// handlers call it only once the handoff code is minted, so that a failed
// mint leaves no flow behind. Call it before anything writes the response.
// A missing or undecodable cookie starts a fresh one (SECURITY.md C5).
// Expired flows are dropped; beyond [WithMaxFlows] the oldest flow is
// superseded.
//
// It fails with an error wrapping [ErrInvalidParams] for bad Params or a
// malformed state, with [ErrUnavailable] when a server-side store is down,
// or with [ErrSave].
func (m *Manager) BeginState(w http.ResponseWriter, r *http.Request, state State, p Params) (Flow, error) {
	if err := p.Validate(); err != nil {
		return Flow{}, err
	}
	if !wellFormedState(string(state)) {
		return Flow{}, fmt.Errorf("%w: malformed state", ErrInvalidParams)
	}
	sess, fs, _, err := m.load(r)
	if err != nil {
		return Flow{}, err
	}
	nowMs := m.now().UnixMilli()
	fs.prune(nowMs, m.ttlMs)
	rec := record{state: string(state), issued: nowMs, intent: p.Intent, next: p.Next, returnURI: p.ReturnURI}
	fs.records = append(fs.records, rec)
	fs.fit(m.maxFlows, m.ttlMs)
	if err := m.save(w, r, sess, &fs); err != nil {
		return Flow{}, err
	}
	return rec.flow(m.ttl), nil
}

// Finish ends the flow that state names, for the browser that sent r
// (SECURITY.md B2-B4). In order:
//
//  1. state must be 43 base64url characters, or [ErrMalformedState] before
//     the cookie is read. (Rejecting a duplicated state parameter is the
//     caller's job: pass the single value.)
//  2. No flow cookie, or one that does not decode: [ErrNoFlow].
//  3. state is compared in constant time with every pending flow. No match:
//     [ErrSuperseded] if newer flows pushed it out, else [ErrUnknownState].
//  4. The matched flow is removed from the cookie whatever happens next, and
//     the cookie saved on w, so call Finish before writing the response.
//     Past its TTL it fails with [ErrExpired]. Other flows are left as they
//     are, so each fails with its own error; [Manager.Begin] drops the
//     expired ones.
//  5. The [ReplayGuard] consumes the state: [ErrReplayed] if it was used
//     before (an old cookie copy); other guard errors are returned wrapped
//     and the flow is lost (fail closed).
//
// On success it returns the flow as Begin started it.
func (m *Manager) Finish(w http.ResponseWriter, r *http.Request, state string) (Flow, error) {
	if !wellFormedState(state) {
		return Flow{}, ErrMalformedState
	}
	sess, fs, ok, err := m.load(r)
	if err != nil {
		return Flow{}, err
	}
	if !ok {
		return Flow{}, ErrNoFlow
	}
	nowMs := m.now().UnixMilli()
	i := fs.find(state)
	if i < 0 {
		j := fs.findTag(supersededTag(state))
		if j < 0 {
			return Flow{}, ErrUnknownState
		}
		outcome := ErrSuperseded
		if nowMs >= fs.dropped[j].expires {
			outcome = ErrExpired
		}
		fs.dropped = append(fs.dropped[:j], fs.dropped[j+1:]...)
		if err := m.save(w, r, sess, &fs); err != nil {
			return Flow{}, err
		}
		return Flow{}, outcome
	}
	return m.consume(w, r, sess, &fs, i, nowMs)
}

// FinishLatest ends this browser's most recent unexpired flow, trusting the
// cookie alone to bind the return: for a fixed redirectUri that BlueNexus
// matches exactly and that therefore cannot carry a state.
//
// What it gives up: with no state in the URL it cannot tell two tabs apart,
// so a return completes the newest pending flow, whichever tab began it;
// and a page that makes the victim's browser request the return URL
// completes the victim's own newest pending flow early (SameSite=Lax sends
// the cookie on a top-level GET from any site). It still never completes a
// flow the browser did not begin: the cookie is signed and encrypted, and
// the __Host- name keeps sibling subdomains from planting one, so there is
// no login CSRF; the flow stays single-use and short-lived. Prefer
// [Manager.Finish] whenever the redirectUri can carry the state.
//
// It fails with [ErrNoFlow] when no flow is pending, [ErrExpired] when all
// pending flows are expired (they are removed), and like Finish otherwise.
func (m *Manager) FinishLatest(w http.ResponseWriter, r *http.Request) (Flow, error) {
	sess, fs, ok, err := m.load(r)
	if err != nil {
		return Flow{}, err
	}
	if !ok {
		return Flow{}, ErrNoFlow
	}
	nowMs := m.now().UnixMilli()
	for i := len(fs.records) - 1; i >= 0; i-- {
		if nowMs < fs.records[i].issued+m.ttlMs {
			return m.consume(w, r, sess, &fs, i, nowMs)
		}
	}
	if !fs.prune(nowMs, m.ttlMs) {
		return Flow{}, ErrNoFlow
	}
	if err := m.save(w, r, sess, &fs); err != nil {
		return Flow{}, err
	}
	return Flow{}, ErrExpired
}

// consume removes record i, saves, checks expiry, then asks the guard.
func (m *Manager) consume(w http.ResponseWriter, r *http.Request, sess *sessions.Session, fs *flowSet, i int, nowMs int64) (Flow, error) {
	rec := fs.records[i]
	fs.records = append(fs.records[:i], fs.records[i+1:]...)
	if err := m.save(w, r, sess, fs); err != nil {
		return Flow{}, err
	}
	if nowMs >= rec.issued+m.ttlMs {
		return Flow{}, ErrExpired
	}
	if m.guard != nil {
		err := m.guard.Consume(r.Context(), guardID(rec.state), time.UnixMilli(rec.issued+m.ttlMs))
		switch {
		case errors.Is(err, ErrReplayed):
			return Flow{}, ErrReplayed
		case errors.Is(err, ErrUnavailable), errors.Is(err, ErrExpired):
			return Flow{}, fmt.Errorf("session: replay guard: %w", err)
		case err != nil: // cancelled, refused: the state could not be checked
			return Flow{}, fmt.Errorf("%w: replay guard: %w", ErrUnavailable, err)
		}
	}
	return rec.flow(m.ttl), nil
}

// load reads the flow cookie. ok is false when there is none, it does not
// decode, or it holds no flow; fs is then empty and sess a session to save a
// fresh value into. err is set only when the store reports
// [ErrUnavailable]: that is not "no flow", and the caller fails closed.
func (m *Manager) load(r *http.Request) (sess *sessions.Session, fs flowSet, ok bool, err error) {
	sess, err = m.store.Get(r, m.name)
	if sess == nil {
		sess = sessions.NewSession(m.store, m.name)
	}
	if errors.Is(err, ErrUnavailable) {
		return sess, flowSet{}, false, err
	}
	if err != nil {
		return sess, flowSet{}, false, nil
	}
	var v string
	switch x := sess.Values[valueKey].(type) {
	case string:
		v = x
	case []byte:
		v = string(x)
	default:
		return sess, flowSet{}, false, nil
	}
	fs, ok = parseFlowSet(v)
	return sess, fs, ok && !fs.empty(), nil
}

// save writes fs into the session with every cookie attribute set, or
// deletes the cookie when fs is empty. Deleting a cookie-store cookie writes
// the expired cookie directly: encrypting an empty value cost about a fifth
// of a return's CPU for a cookie the browser drops at once.
func (m *Manager) save(w http.ResponseWriter, r *http.Request, sess *sessions.Session, fs *flowSet) error {
	if sess.Values == nil {
		sess.Values = make(map[any]any, 1)
	}
	clear(sess.Values)
	opts := m.cookie
	if fs.empty() {
		opts.MaxAge = -1
		if _, ok := m.store.(*sessions.CookieStore); ok {
			http.SetCookie(w, sessions.NewCookie(m.name, "", &opts))
			return nil
		}
	} else {
		sess.Values[valueKey] = fs.encode()
	}
	sess.Options = &opts
	if err := m.store.Save(r, w, sess); err != nil {
		if errors.Is(err, ErrUnavailable) {
			return fmt.Errorf("session: save flow: %w", err)
		}
		return fmt.Errorf("%w: %w", ErrSave, err)
	}
	return nil
}
