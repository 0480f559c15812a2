package bluenexustest

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/internal/bnwire"
)

// authSession is one sign-in of a user: every token pair issued by it and
// its refreshes belongs to it, and dies with it.
type authSession struct {
	user    *user
	epoch   int  // the user's epoch at sign-in
	revoked bool // by a refresh-token replay
}

// accessEntry is an issued access token.
type accessEntry struct {
	sess      *authSession
	expiresAt time.Time // zero for a static token: never
}

// refreshEntry is an issued refresh token.
type refreshEntry struct {
	sess      *authSession
	expiresAt time.Time
	used      bool
	usedAt    time.Time       // when used
	answer    bluenexus.Token // the pair its use issued, for a reuse grace
}

// issuedToken is a token in an issue-order sweep queue.
type issuedToken struct {
	value     string
	expiresAt time.Time
}

// refreshTokenPrefix starts every refresh token, so that one is never
// mistaken for an access token.
const refreshTokenPrefix = "bnxr_"

// tokenScope is the scope every token carries: the Connections API's.
const tokenScope = "connections"

// retainTokens is how long past expiry a token stays on record, so that a
// late presentation is told "expired" rather than "unknown".
const retainTokens = time.Hour

// liveLocked reports whether the session is neither revoked by a replay nor
// by RevokeSessions. s.mu must be held.
func (s *Server) liveLocked(sess *authSession) bool {
	return !sess.revoked && sess.epoch == sess.user.epoch && s.users[sess.user.name] == sess.user
}

// issueStaticLocked gives u a new static session and token: fixed when
// given, random otherwise. s.mu must be held.
func (s *Server) issueStaticLocked(u *user, fixed bluenexus.AccessToken) {
	t := fixed
	if t == "" {
		t = newAccessTokenValue()
	}
	u.static = &authSession{user: u, epoch: u.epoch}
	u.staticToken = t
	s.access[t.Reveal()] = &accessEntry{sess: u.static}
}

// issuePairLocked issues an access and a refresh token in sess, valid from
// now. s.mu must be held.
func (s *Server) issuePairLocked(sess *authSession, now time.Time) bluenexus.Token {
	tok := s.issueAccessLocked(sess, now)
	rt := bluenexus.RefreshToken(refreshTokenPrefix + randomString(32))
	tok.RefreshToken, tok.RefreshExpiry = rt, now.Add(s.cfg.refreshTTL)
	s.refresh[rt.Reveal()] = &refreshEntry{sess: sess, expiresAt: tok.RefreshExpiry}
	s.refreshQ = append(s.refreshQ, issuedToken{rt.Reveal(), tok.RefreshExpiry})
	return tok
}

// issueAccessLocked issues an access token alone in sess, valid from now.
// s.mu must be held.
func (s *Server) issueAccessLocked(sess *authSession, now time.Time) bluenexus.Token {
	s.sweepTokensLocked(now)
	at := newAccessTokenValue()
	tok := bluenexus.Token{AccessToken: at, Expiry: now.Add(s.cfg.tokenTTL), Scope: tokenScope}
	s.access[at.Reveal()] = &accessEntry{sess: sess, expiresAt: tok.Expiry}
	s.accessQ = append(s.accessQ, issuedToken{at.Reveal(), tok.Expiry})
	return tok
}

// sweepTokensLocked forgets tokens retained past retainTokens. Each kind
// has one lifetime and the clock only moves forward, so each queue is in
// expiry order and only its front needs a look. s.mu must be held.
func (s *Server) sweepTokensLocked(now time.Time) {
	for len(s.accessQ) > 0 && now.Sub(s.accessQ[0].expiresAt) > retainTokens {
		delete(s.access, s.accessQ[0].value)
		s.accessQ[0] = issuedToken{}
		s.accessQ = s.accessQ[1:]
	}
	for len(s.refreshQ) > 0 && now.Sub(s.refreshQ[0].expiresAt) > retainTokens {
		delete(s.refresh, s.refreshQ[0].value)
		s.refreshQ[0] = issuedToken{}
		s.refreshQ = s.refreshQ[1:]
	}
}

// SignIn creates the user if needed and signs them in, as the app's SIWE
// sign-in and first token call would: it opens a new auth session and
// returns its first token pair. The access token expires after
// [WithTokenTTL] (default 900s), the refresh token after [WithRefreshTTL]
// (default 7 days), both on the [WithClock] clock; Expiry and RefreshExpiry
// say when. Trade the refresh token for the next pair at [PathToken], for
// example with [bluenexus.Client.Refresh]. Each call opens another session;
// earlier ones stay valid. It panics on a name that [WithUser] would
// reject.
func (s *Server) SignIn(name string) bluenexus.Token {
	if err := checkUserName(name); err != nil {
		panic(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userLocked(name)
	return s.issuePairLocked(&authSession{user: u, epoch: u.epoch}, s.now())
}

// RevokeSessions revokes every auth session of the user, as when BlueNexus
// revokes them (DELETE /api/v1/auth-sessions/{id}/revoke, for each): all
// their access and refresh tokens, the static token of [Server.AddUser]
// included, stop working at once. API calls with them answer 401 and a
// refresh 400 invalid_grant; the user must sign in again ([Server.SignIn],
// or [Server.AddUser] for a new static token). Connections stay. An unknown
// user is no error.
func (s *Server) RevokeSessions(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, ok := s.users[name]; ok {
		u.epoch++
		u.static = nil
	}
}

// RefreshReplays returns how many times the token endpoint was presented a
// refresh token that had already been used. Each such replay revoked the
// auth session it belonged to. A correct client never replays: assert that
// this stays 0.
func (s *Server) RefreshReplays() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.replays
}

// ClientCredentials returns the id and secret of the auth client the token
// endpoint accepts ([WithClientCredentials]), to configure the app's
// client with, as in bluenexus.WithClientCredentials(s.ClientCredentials()).
// The secret is "" for a public client.
func (s *Server) ClientCredentials() (id, secret string) {
	return s.cfg.clientID, s.cfg.clientSecret
}

// authenticate resolves the bearer token to a user, or answers 401.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (*user, bool) {
	fail := func(msg string, invalid bool) (*user, bool) {
		challenge := `Bearer realm="bluenexus"`
		if invalid {
			challenge = apiChallenge
		}
		w.Header().Set("WWW-Authenticate", challenge)
		writeError(w, http.StatusUnauthorized, msg, nil)
		return nil, false
	}
	vals := r.Header.Values("Authorization")
	if len(vals) == 0 {
		return fail("Missing access token", false)
	}
	scheme, token, ok := strings.Cut(vals[0], " ")
	if len(vals) != 1 || !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return fail("Malformed Authorization header", false)
	}
	s.mu.Lock()
	e, known := s.access[token]
	var live, expired bool
	if known {
		live = s.liveLocked(e.sess)
		expired = !e.expiresAt.IsZero() && !s.now().Before(e.expiresAt)
	}
	s.mu.Unlock()
	switch {
	case !known:
		return fail("Invalid or expired access token", true)
	case !live:
		return fail("Access token revoked", true)
	case expired:
		return fail("Access token expired", true)
	}
	return e.sess.user, true
}

// tokenResponse is the token endpoint's 200 body (BLUENEXUS.md section 6).
// The fields a variant drops are omitted when zero.
type tokenResponse struct {
	TokenType        string `json:"token_type"`
	AccessToken      string `json:"access_token"`
	ExpiresIn        int64  `json:"expires_in,omitempty"`
	RefreshToken     string `json:"refresh_token,omitempty"`
	RefreshExpiresIn int64  `json:"refresh_expires_in,omitempty"`
	Scope            string `json:"scope"`
}

// tokenResponse renders t as the token endpoint answers it under v: a t
// without a refresh token (NoRotation) omits refresh_token and
// refresh_expires_in.
func (s *Server) tokenResponse(t bluenexus.Token, v TokenVariants) tokenResponse {
	r := tokenResponse{
		TokenType:    "Bearer",
		AccessToken:  t.AccessToken.Reveal(),
		ExpiresIn:    int64(s.cfg.tokenTTL / time.Second),
		RefreshToken: t.RefreshToken.Reveal(),
		Scope:        t.Scope,
	}
	if t.RefreshToken != "" {
		r.RefreshExpiresIn = int64(s.cfg.refreshTTL / time.Second)
	}
	if v.NoExpiresIn {
		r.ExpiresIn = 0
	}
	if v.LowercaseTokenType {
		r.TokenType = "bearer"
	}
	return r
}

// writeOAuthError answers a token endpoint error in both shapes the kit
// reads: the API's {error, message, statusCode} and OAuth's {error,
// error_description} (RFC 6749 section 5.2), with the OAuth code as error;
// with form set, as the form-encoded error=...&error_description=....
func writeOAuthError(w http.ResponseWriter, status int, code, description string, form bool) {
	h := w.Header()
	h.Set("Pragma", "no-cache")
	if form {
		h.Set("Content-Type", "application/x-www-form-urlencoded")
		h.Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, url.Values{"error": {code}, "error_description": {description}}.Encode())
		return
	}
	writeJSON(w, status, bnwire.ErrorBody{
		Error:            code,
		Message:          description,
		ErrorDescription: description,
		StatusCode:       status,
	})
}

// errOAuth is a token endpoint refusal.
type errOAuth struct {
	status            int
	code, description string
}

func (e *errOAuth) Error() string { return e.code + ": " + e.description }

func oauthErr(status int, code, description string) *errOAuth {
	return &errOAuth{status: status, code: code, description: description}
}

// apiChallenge is the API's WWW-Authenticate on a 401 for a token it
// does not accept (RFC 6750 section 3).
const apiChallenge = `Bearer realm="bluenexus", error="invalid_token"`

// tokenChallenge is the token endpoint's WWW-Authenticate on a 401: it
// authenticates clients by HTTP Basic.
const tokenChallenge = `Basic realm="bluenexus"`

// handleToken is POST /api/v1/auth/token with grant_type=refresh_token.
// It authenticates the client first, then spends the refresh token: a
// token already used is a replay, which revokes its whole session. The
// variants in force shape the answer.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	v := s.tokenVariants()
	tok, err := s.refreshGrant(w, r, v)
	if err != nil {
		var e *errOAuth
		if !errors.As(err, &e) {
			e = oauthErr(http.StatusBadRequest, "invalid_request", err.Error())
		}
		if e.status == http.StatusUnauthorized {
			// RFC 9110 section 15.5.2: every 401 carries a challenge.
			w.Header().Set("WWW-Authenticate", tokenChallenge)
		}
		writeOAuthError(w, e.status, e.code, e.description, v.FormErrors)
		return
	}
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, s.tokenResponse(tok, v))
}

func (s *Server) refreshGrant(w http.ResponseWriter, r *http.Request, v TokenVariants) (bluenexus.Token, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return bluenexus.Token{}, oauthErr(http.StatusBadRequest, "invalid_request", "Content-Type must be application/x-www-form-urlencoded")
	}
	if r.URL.RawQuery != "" {
		return bluenexus.Token{}, oauthErr(http.StatusBadRequest, "invalid_request", "Parameters go in the form body, never in the URL")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxRequestBody)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return bluenexus.Token{}, oauthErr(http.StatusRequestEntityTooLarge, "invalid_request", "Request body too large")
		}
		return bluenexus.Token{}, oauthErr(http.StatusBadRequest, "invalid_request", "The form body could not be read")
	}
	form := r.PostForm
	for k, v := range form {
		if len(v) > 1 {
			// RFC 6749 section 3.2: parameters must not repeat.
			return bluenexus.Token{}, oauthErr(http.StatusBadRequest, "invalid_request", "Parameter "+strings.ToValidUTF8(k, "?")+" is repeated")
		}
	}
	if v.InvalidClient {
		return bluenexus.Token{}, oauthErr(http.StatusBadRequest, "invalid_client", "Client authentication failed")
	}
	if err := s.authenticateClient(r, form); err != nil {
		return bluenexus.Token{}, err
	}
	switch gt := form.Get("grant_type"); gt {
	case "refresh_token":
	case "":
		return bluenexus.Token{}, oauthErr(http.StatusBadRequest, "invalid_request", "grant_type is required")
	default:
		return bluenexus.Token{}, oauthErr(http.StatusBadRequest, "unsupported_grant_type", "Only grant_type=refresh_token is supported")
	}
	rt := form.Get("refresh_token")
	if rt == "" {
		return bluenexus.Token{}, oauthErr(http.StatusBadRequest, "invalid_request", "refresh_token is required")
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	e, ok := s.refresh[rt]
	switch {
	case !ok:
		return bluenexus.Token{}, oauthErr(http.StatusBadRequest, "invalid_grant", "Invalid refresh token")
	case !now.Before(e.expiresAt):
		return bluenexus.Token{}, oauthErr(http.StatusBadRequest, "invalid_grant", "Refresh token expired")
	case e.used && now.Before(e.usedAt.Add(v.ReuseGrace)) && s.liveLocked(e.sess):
		return e.answer, nil // within the reuse grace: the same answer again
	case e.used:
		// Replay (RFC 9700 section 4.14.2): revoke the whole session.
		s.replays++
		e.sess.revoked = true
		return bluenexus.Token{}, oauthErr(http.StatusBadRequest, "invalid_grant", "Refresh token already used: the auth session is revoked")
	case !s.liveLocked(e.sess):
		return bluenexus.Token{}, oauthErr(http.StatusBadRequest, "invalid_grant", "Auth session revoked")
	case v.NoRotation:
		return s.issueAccessLocked(e.sess, now), nil // the refresh token stays valid
	}
	e.used, e.usedAt = true, now
	e.answer = s.issuePairLocked(e.sess, now)
	return e.answer, nil
}

// authenticateClient checks the client's credentials: HTTP Basic, or
// client_id (and client_secret) in the form; never both.
func (s *Server) authenticateClient(r *http.Request, form url.Values) error {
	wantID, wantSecret := s.cfg.clientID, s.cfg.clientSecret
	fail := oauthErr(http.StatusUnauthorized, "invalid_client", "Client authentication failed")
	var id, secret string
	if auth := r.Header.Values("Authorization"); len(auth) > 0 {
		scheme, creds, _ := strings.Cut(auth[0], " ")
		if len(auth) != 1 || !strings.EqualFold(scheme, "Basic") {
			return fail
		}
		if form.Has("client_secret") {
			return oauthErr(http.StatusBadRequest, "invalid_request", "Use one client authentication method, not both")
		}
		var ok bool
		if id, secret, ok = decodeBasic(creds); !ok {
			return fail
		}
		if form.Has("client_id") && form.Get("client_id") != id {
			return fail
		}
		if !equal(id, wantID) || !equal(secret, wantSecret) {
			return fail
		}
		return nil
	}
	id, secret = form.Get("client_id"), form.Get("client_secret")
	if id == "" || !equal(id, wantID) || !equal(secret, wantSecret) {
		return fail
	}
	return nil
}

// decodeBasic reads RFC 6749 section 2.3.1 Basic credentials: base64 of
// the form-encoded id, ':' and the form-encoded secret.
func decodeBasic(creds string) (id, secret string, ok bool) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(creds))
	if err != nil {
		return "", "", false
	}
	rawID, rawSecret, found := strings.Cut(string(raw), ":")
	if !found {
		return "", "", false
	}
	if id, err = url.QueryUnescape(rawID); err != nil {
		return "", "", false
	}
	if secret, err = url.QueryUnescape(rawSecret); err != nil {
		return "", "", false
	}
	return id, secret, true
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
