package flow

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/gorilla/sessions"

	"github.com/handoffkit/handoffkit/internal/replay"
)

// Defaults and limits of the [Manager] options.
const (
	// DefaultCookieName starts the name of each flow cookie of a fixed
	// redirectUri. The __Host- prefix makes browsers accept it only with
	// Secure, Path=/ and no Domain.
	DefaultCookieName = "__Host-handoffkit-flow"
	// DefaultInsecureCookieName is the name used with [WithInsecureCookies]:
	// browsers refuse a __Host- cookie without Secure.
	DefaultInsecureCookieName = "handoffkit-flow"
	// DefaultTTL is how long a flow may take from Seal to Open.
	DefaultTTL = 10 * time.Minute
	// MaxTTL is the longest TTL [WithTTL] accepts.
	MaxTTL = time.Hour
)

// Manager seals and opens flows. It is safe for concurrent use.
type Manager struct {
	sealers []sealer // newest first: the first seals, all open
	name    string
	ttl     time.Duration
	guard   ReplayGuard
	now     func() time.Time
	cookie  sessions.Options // the flow cookies' attributes, fixed redirectUri only
}

// Option configures a [Manager].
type Option func(*config)

type config struct {
	ttl      time.Duration
	guard    ReplayGuard
	guardSet bool
	now      func() time.Time
	insecure bool
}

// ReplayGuard records used states server-side (session.ReplayGuard is the
// same interface, documented for users).
type ReplayGuard interface {
	Consume(ctx context.Context, id string, expiresAt time.Time) error
}

// WithTTL sets how long a flow may take from Seal to Open, and the flow
// cookies' Max-Age (rounded up to whole seconds). Default [DefaultTTL]; it
// must be from one second to [MaxTTL].
func WithTTL(ttl time.Duration) Option { return func(c *config) { c.ttl = ttl } }

// WithReplayGuard sets the server-side record of used states. Default the
// in-memory guard of package internal/replay on the Manager's clock, which
// gives strict one-time use on a single instance; a fleet needs a shared
// guard. nil is an error.
func WithReplayGuard(g ReplayGuard) Option {
	return func(c *config) { c.guard, c.guardSet = g, true }
}

// WithClock sets the clock flows are stamped and expired by. Default
// time.Now.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithInsecureCookies drops the Secure attribute of the flow cookies, for
// development on plain http loopback only (SECURITY.md C1); their names then
// start with [DefaultInsecureCookieName].
func WithInsecureCookies() Option { return func(c *config) { c.insecure = true } }

// New returns a Manager sealing with keys, newest first: the first pair
// seals, every pair opens, so a pair stays listed after a newer one until
// states sealed with it have expired (SECURITY.md C3). At least one pair;
// each is checked with [CheckKeyPair].
func New(keys []KeyPair, opts ...Option) (*Manager, error) {
	if len(keys) == 0 {
		return nil, errors.New("session: New: no key pairs")
	}
	c := config{ttl: DefaultTTL, now: time.Now}
	for _, o := range opts {
		o(&c)
	}
	switch {
	case c.ttl < time.Second || c.ttl > MaxTTL:
		return nil, fmt.Errorf("session: New: TTL %v out of range [1s, %v]", c.ttl, MaxTTL)
	case c.now == nil:
		return nil, errors.New("session: New: nil clock")
	case c.guardSet && c.guard == nil:
		return nil, errors.New("session: New: nil replay guard")
	}
	if !c.guardSet {
		c.guard = replay.New(c.now, 0)
	}
	m := &Manager{
		name:  DefaultCookieName,
		ttl:   c.ttl,
		guard: c.guard,
		now:   c.now,
		cookie: sessions.Options{
			Path:     "/",
			MaxAge:   int(math.Ceil(c.ttl.Seconds())),
			Secure:   !c.insecure,
			HttpOnly: true,
			SameSite: http.SameSiteLaxMode,
		},
	}
	if c.insecure {
		m.name = DefaultInsecureCookieName
	}
	for i, k := range keys {
		if err := CheckKeyPair(k); err != nil {
			return nil, fmt.Errorf("session: New: key pair %d: %w", i, err)
		}
		s, err := newSealer(k)
		if err != nil {
			return nil, fmt.Errorf("session: New: key pair %d: %w", i, err)
		}
		m.sealers = append(m.sealers, s)
	}
	return m, nil
}

// Secure reports whether the kit's cookies carry the Secure attribute (they
// do unless [WithInsecureCookies]).
func (m *Manager) Secure() bool { return m.cookie.Secure }

// TTL returns how long a flow may take from Seal to Open.
func (m *Manager) TTL() time.Duration { return m.ttl }

// Seal starts a flow for user with p and returns its state: a fresh 128-bit
// nonce from crypto/rand, the time by the Manager's clock, a keyed hash of
// user and p, encrypted and authenticated with the newest key pair. Nothing
// is stored. It fails with an error wrapping [ErrInvalidParams] for bad
// Params or an empty user.
func (m *Manager) Seal(user string, p Params) (State, error) {
	if user == "" {
		return "", fmt.Errorf("%w: empty user", ErrInvalidParams)
	}
	if err := p.Validate(); err != nil {
		return "", err
	}
	s := m.sealers[0]
	f := Flow{IssuedAt: time.UnixMilli(m.now().UnixMilli()), userHash: s.userHash(user)}
	rand.Read(f.nonce[:]) // never fails: crypto/rand crashes the program instead
	return s.seal(&f, p), nil
}

// Open ends the flow that state seals, for the signed-in user (SECURITY.md
// B1-B4). In order:
//
//  1. state must be 1 to [MaxStateLength] base64url characters, or
//     [ErrMalformedState]. (Rejecting a duplicated state parameter is the
//     caller's job: pass the single value.)
//  2. It must open with one of the key pairs: [ErrUnknownState].
//  3. Past its TTL: [ErrExpired].
//  4. The [ReplayGuard] consumes its nonce, whatever comes next:
//     [ErrReplayed] if it was used before; other guard errors are returned
//     wrapped (fail closed).
//  5. user must be the one it was sealed for, compared in constant time:
//     [ErrWrongUser].
//
// On success it returns the flow as Seal started it.
func (m *Manager) Open(ctx context.Context, state, user string) (Flow, error) {
	f, err := unseal(m.sealers, state, m.ttl)
	if err != nil {
		return Flow{}, err
	}
	if !m.now().Before(f.ExpiresAt) {
		return Flow{}, ErrExpired
	}
	if err := m.consume(ctx, &f); err != nil {
		return Flow{}, err
	}
	if !m.sameUser(&f, user) {
		return Flow{}, ErrWrongUser
	}
	return f, nil
}

// sameUser reports, in constant time, whether f was sealed for user.
func (m *Manager) sameUser(f *Flow, user string) bool {
	h := m.sealers[f.key].userHash(user)
	return user != "" && subtle.ConstantTimeCompare(h[:], f.userHash[:]) == 1
}

// consume records f's nonce in the guard.
func (m *Manager) consume(ctx context.Context, f *Flow) error {
	err := m.guard.Consume(ctx, guardID(f.nonce), f.ExpiresAt)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrReplayed):
		return ErrReplayed
	case errors.Is(err, ErrUnavailable), errors.Is(err, ErrExpired):
		return fmt.Errorf("session: replay guard: %w", err)
	default: // cancelled, refused: the state could not be checked
		return fmt.Errorf("%w: replay guard: %w", ErrUnavailable, err)
	}
}
