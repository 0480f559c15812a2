package flow

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/gorilla/sessions"
)

// MaxCookieFlows is how many flows one browser may have pending with a
// fixed redirectUri: each is a cookie of its own, and starting one more
// deletes the oldest beyond this number.
const MaxCookieFlows = 5

// cookieName is the name of the cookie that carries the flow with nonce:
// the Manager's name, a dash, and 48 bits of the nonce's SHA-256.
func (m *Manager) cookieName(nonce [nonceBytes]byte) string {
	sum := sha256.Sum256(nonce[:])
	return m.name + "-" + base64.RawURLEncoding.EncodeToString(sum[:6])
}

// flowCookies opens the request's flow cookies and returns them newest
// first; it deletes those that do not open or do not carry the flow their
// name says. It reads at most 4*MaxCookieFlows of them.
func (m *Manager) flowCookies(w http.ResponseWriter, r *http.Request) (flows []Flow) {
	read := 0
	for _, c := range r.Cookies() {
		if !strings.HasPrefix(c.Name, m.name+"-") {
			continue
		}
		if read++; read > 4*MaxCookieFlows {
			break
		}
		f, err := unseal(m.sealers, c.Value, m.c.TTL)
		if err != nil || m.cookieName(f.nonce) != c.Name {
			m.deleteCookie(w, c.Name)
			continue
		}
		flows = append(flows, f)
	}
	slices.SortStableFunc(flows, func(a, b Flow) int { return b.IssuedAt.Compare(a.IssuedAt) })
	return flows
}

// deleteCookie expires the named flow cookie.
func (m *Manager) deleteCookie(w http.ResponseWriter, name string) {
	opts := m.cookie
	opts.MaxAge = -1
	http.SetCookie(w, sessions.NewCookie(name, "", &opts))
}

// SetCookie keeps state in a flow cookie of its own, for a fixed
// redirectUri that cannot carry it: Path=/, Secure (unless
// [WithInsecureCookies]), HttpOnly, SameSite=Lax, Max-Age of the TTL and no
// Domain (SECURITY.md C1), named after the flow, so that concurrent flows
// never overwrite each other. It deletes the browser's expired or unreadable
// flow cookies, and the oldest beyond [MaxCookieFlows]. Call it before
// anything writes the response.
func (m *Manager) SetCookie(w http.ResponseWriter, r *http.Request, state State) error {
	f, err := unseal(m.sealers, string(state), m.c.TTL)
	if err != nil {
		return err
	}
	now, kept := m.c.Now(), 0
	for _, old := range m.flowCookies(w, r) {
		if now.Before(old.ExpiresAt) && kept < MaxCookieFlows-1 {
			kept++
			continue
		}
		m.deleteCookie(w, m.cookieName(old.nonce))
	}
	http.SetCookie(w, sessions.NewCookie(m.cookieName(f.nonce), string(state), &m.cookie))
	return nil
}

// OpenCookie ends the newest pending flow of this browser that belongs to
// user, for a fixed redirectUri: the return carries no state, so the flow
// cookies alone bind it. It consumes flows newest first in the replay guard
// and deletes their cookies, moving on past any already used (a concurrent
// return in another tab took it), so that as many returns as flows succeed.
//
// It fails with [ErrNoFlow] when the browser has no flow cookie that opens,
// [ErrWrongUser] when its flows are all another user's, [ErrExpired] when
// they are all expired, [ErrReplayed] when they were all used, and with a
// guard's error otherwise (fail closed).
func (m *Manager) OpenCookie(ctx context.Context, w http.ResponseWriter, r *http.Request, user string) (Flow, error) {
	now := m.c.Now()
	var expired, otherUser, replayed bool
	for _, f := range m.flowCookies(w, r) {
		if now.Before(f.ExpiresAt) && !m.sameUser(&f, user) {
			otherUser = true // left for its user, until it expires
			continue
		}
		m.deleteCookie(w, m.cookieName(f.nonce))
		if !now.Before(f.ExpiresAt) {
			expired = true
			continue
		}
		err := m.consume(ctx, &f)
		if errors.Is(err, ErrReplayed) {
			replayed = true
			continue
		}
		if err != nil {
			return Flow{}, err
		}
		return f, nil
	}
	switch {
	case replayed:
		return Flow{}, ErrReplayed
	case otherUser:
		return Flow{}, ErrWrongUser
	case expired:
		return Flow{}, ErrExpired
	}
	return Flow{}, ErrNoFlow
}
