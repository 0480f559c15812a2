package flow

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/sessions"

	"github.com/handoffkit/handoffkit/internal/replay"
)

// cookieName starts the name of each flow cookie of a fixed redirectUri.
// The __Host- prefix makes browsers accept it only with Secure, Path=/ and
// no Domain, so it is dropped with Config.Insecure.
const cookieName = "__Host-handoffkit-flow"

// Manager seals and opens flows. It is safe for concurrent use.
type Manager struct {
	c       Config
	sealers []sealer // newest first: the first seals, all open
	name    string
	cookie  sessions.Options // the flow cookies' attributes, fixed redirectUri only
}

// Config is what package session's options set.
type Config struct {
	TTL      time.Duration
	Guard    ReplayGuard // nil: the in-memory guard of internal/replay
	Now      func() time.Time
	Insecure bool    // no Secure attribute and no __Host- prefix on the cookies
	Errs     []error // what the options refused
}

// ReplayGuard records used states server-side (session.ReplayGuard).
type ReplayGuard interface {
	Consume(ctx context.Context, id string, expiresAt time.Time) error
}

// New returns a Manager sealing with keys, newest first: the first pair
// seals, every pair opens. c must be complete: a TTL and a clock.
func New(keys []KeyPair, c Config) (*Manager, error) {
	if len(keys) == 0 {
		return nil, errors.New("session: New: no key pairs")
	}
	if c.Guard == nil {
		c.Guard = replay.New(c.Now, replay.DefaultMaxEntries)
	}
	m := &Manager{
		c:    c,
		name: cookieName,
		cookie: sessions.Options{
			Path:     "/",
			MaxAge:   int(math.Ceil(c.TTL.Seconds())),
			Secure:   !c.Insecure,
			HttpOnly: true,
			SameSite: http.SameSiteLaxMode,
		},
	}
	if c.Insecure {
		m.name = strings.TrimPrefix(cookieName, "__Host-")
	}
	for i, k := range keys {
		if err := CheckKeyPair(k); err != nil {
			return nil, fmt.Errorf("session: New: key pair %d: %w", i, err)
		}
		m.sealers = append(m.sealers, newSealer(k))
	}
	return m, nil
}

// Check reports an error for a Manager that [New] did not make.
func (m *Manager) Check() error {
	if len(m.sealers) == 0 {
		return errors.New("not made by session.New")
	}
	return nil
}

// Secure reports whether the kit's cookies carry the Secure attribute (they
// do unless [WithInsecureCookies]).
func (m *Manager) Secure() bool { return m.cookie.Secure }

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
	f := Flow{IssuedAt: time.UnixMilli(m.c.Now().UnixMilli()), userHash: s.userHash(user)}
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
	f, err := unseal(m.sealers, state, m.c.TTL)
	if err != nil {
		return Flow{}, err
	}
	if !m.c.Now().Before(f.ExpiresAt) {
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
	err := m.c.Guard.Consume(ctx, guardID(f.nonce), f.ExpiresAt)
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
