package baseline

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/gorilla/securecookie"
)

// flowMaxAge is the flow cookie's life in seconds, the kit's default TTL.
const flowMaxAge = 600

// maxInitResponse bounds the handoff init response read into memory.
const maxInitResponse = 64 << 10

// Lean are the two routes written as lean as plain code goes: securecookie
// directly, without gorilla/sessions and its gob-encoded map, structs with
// encoding/json for the handoff init, URLs concatenated from prefixes parsed
// once. Same cookie attributes, same upstream call as [Handlers].
type Lean struct {
	codec      *securecookie.SecureCookie
	cookieName string
	secure     bool
	client     *http.Client
	initURL    string
	whiteLabel string // the white-label URL up to "code="
	returnURL  string // the return URL up to "state="
	token      func(*http.Request) (string, bool)
	clientIP   func(*http.Request) (string, bool)
}

// NewLean returns the lean handlers configured by cfg.
func NewLean(cfg Config) (*Lean, error) {
	if cfg.Token == nil || cfg.ClientIP == nil {
		return nil, errors.New("baseline: Token and ClientIP are required")
	}
	wl, err := queryPrefix(cfg.WhiteLabelURL, "code")
	if err != nil {
		return nil, err
	}
	ret, err := queryPrefix(cfg.ReturnURL, "state")
	if err != nil {
		return nil, err
	}
	// The cookie value is the state alone: securecookie stamps it with the
	// issue time and refuses it once older than MaxAge.
	codec := securecookie.New(cfg.HashKey, cfg.BlockKey).MaxAge(flowMaxAge).SetSerializer(securecookie.NopEncoder{})
	return &Lean{
		codec:      codec,
		cookieName: cookieName(cfg),
		secure:     !cfg.Insecure,
		client:     newClient(cfg),
		initURL:    cfg.APIBase + "/api/v1/auth/handoff/init",
		whiteLabel: wl,
		returnURL:  ret,
		token:      cfg.Token,
		clientIP:   cfg.ClientIP,
	}, nil
}

// queryPrefix returns raw followed by "?param=" or "&param=", ready for an
// escaped value.
func queryPrefix(raw, param string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	if u.Fragment != "" || u.Query().Has(param) {
		return "", errors.New("baseline: " + raw + ": a fragment or a " + param + " parameter already")
	}
	sep := "?"
	if u.RawQuery != "" {
		sep = "&"
	}
	return raw + sep + param + "=", nil
}

// Client returns the HTTP client that calls BlueNexus.
func (l *Lean) Client() *http.Client { return l.client }

// CookieName returns the flow cookie's name.
func (l *Lean) CookieName() string { return l.cookieName }

// setCookie writes the flow cookie with [Handlers]' attributes (gorilla's
// sessions.NewCookie sets Expires beside Max-Age, and so does this).
func (l *Lean) setCookie(w http.ResponseWriter, value string, maxAge int) {
	expires := time.Unix(1, 0)
	if maxAge > 0 {
		expires = time.Now().Add(time.Duration(maxAge) * time.Second)
	}
	http.SetCookie(w, &http.Cookie{Name: l.cookieName, Value: value, Path: "/", MaxAge: maxAge, Expires: expires,
		Secure: l.secure, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// Begin mints a state and saves it in the flow cookie on w.
func (l *Lean) Begin(w http.ResponseWriter, _ *http.Request) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	state := base64.RawURLEncoding.EncodeToString(b)
	value, err := l.codec.Encode(l.cookieName, []byte(state))
	if err != nil {
		return "", err
	}
	l.setCookie(w, value, flowMaxAge)
	return state, nil
}

type handoffInit struct {
	RedirectURI string `json:"redirectUri"`
	Intent      string `json:"intent"`
}

type handoffCode struct {
	Code string `json:"code"`
}

// Manage serves GET /manage-connections: state, cookie, handoff init, 302
// to the white-label page.
func (l *Lean) Manage(w http.ResponseWriter, r *http.Request) {
	noStore(w.Header())
	token, ok := l.token(r)
	if !ok {
		http.Error(w, "sign in first", http.StatusUnauthorized)
		return
	}
	ip, ok := l.clientIP(r)
	if !ok {
		http.Error(w, "no client IP", http.StatusBadRequest)
		return
	}
	state, err := l.Begin(w, r)
	if err != nil {
		http.Error(w, "session error", http.StatusInternalServerError)
		return
	}
	// The state is base64url: nothing to escape.
	body, err := json.Marshal(handoffInit{RedirectURI: l.returnURL + state, Intent: "connections"})
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.initURL, bytes.NewReader(body))
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-Forwarded-For", ip)
	resp, err := l.client.Do(req)
	if err != nil {
		http.Error(w, "BlueNexus unreachable", http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		http.Error(w, "BlueNexus error", http.StatusBadGateway)
		return
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxInitResponse))
	var out handoffCode
	if err != nil || json.Unmarshal(raw, &out) != nil || out.Code == "" {
		http.Error(w, "bad BlueNexus response", http.StatusBadGateway)
		return
	}
	w.Header().Set("Location", l.whiteLabel+url.QueryEscape(out.Code))
	w.WriteHeader(http.StatusFound)
}

// Return serves GET /connections/return?state=...: the state must match the
// flow cookie's; the cookie is deleted and the user goes home with a 303.
func (l *Lean) Return(w http.ResponseWriter, r *http.Request) {
	noStore(w.Header())
	state := r.URL.Query().Get("state")
	c, err := r.Cookie(l.cookieName)
	if err != nil {
		http.Error(w, "no flow in this browser", http.StatusForbidden)
		return
	}
	var want []byte
	if err := l.codec.Decode(l.cookieName, c.Value, &want); err != nil || len(want) == 0 ||
		subtle.ConstantTimeCompare(want, []byte(state)) != 1 {
		http.Error(w, "state mismatch", http.StatusForbidden)
		return
	}
	l.setCookie(w, "", -1)
	w.Header().Set("Location", "/")
	w.WriteHeader(http.StatusSeeOther)
}
