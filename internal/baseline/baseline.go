package baseline

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/gorilla/sessions"
)

// CookieName is the flow cookie's name.
const CookieName = "__Host-baseline-flow"

// Config configures [New].
type Config struct {
	// HashKey and BlockKey sign and encrypt the flow cookie.
	HashKey, BlockKey []byte
	// APIBase is the BlueNexus API base URL, such as http://127.0.0.1:8081.
	APIBase string
	// WhiteLabelURL is the white-label page; the code goes in its "code"
	// query parameter.
	WhiteLabelURL string
	// ReturnURL is the redirectUri; the state goes in its "state" query
	// parameter.
	ReturnURL string
	// Token returns the signed-in user's BlueNexus access token.
	Token func(*http.Request) (string, bool)
	// ClientIP returns the end user's IP address, forwarded to BlueNexus
	// in X-Forwarded-For.
	ClientIP func(*http.Request) (string, bool)
	// Insecure drops the cookie's Secure attribute and __Host- prefix,
	// for plain http on loopback.
	Insecure bool
	// Transport carries the handoff init call. Default: a clone of
	// http.DefaultTransport keeping 32 idle connections per host. The
	// benchmarks give an in-memory one to time the handlers alone.
	Transport http.RoundTripper
}

// Handlers are the two routes written with gorilla/sessions.
type Handlers struct {
	store      *sessions.CookieStore
	cookieName string
	secure     bool
	client     *http.Client
	initURL    string
	whiteLabel *url.URL
	returnURL  *url.URL
	token      func(*http.Request) (string, bool)
	clientIP   func(*http.Request) (string, bool)
}

// New returns the handlers configured by cfg.
func New(cfg Config) (*Handlers, error) {
	if cfg.Token == nil || cfg.ClientIP == nil {
		return nil, errors.New("baseline: Token and ClientIP are required")
	}
	wl, err := url.Parse(cfg.WhiteLabelURL)
	if err != nil {
		return nil, err
	}
	ret, err := url.Parse(cfg.ReturnURL)
	if err != nil {
		return nil, err
	}
	store := sessions.NewCookieStore(cfg.HashKey, cfg.BlockKey)
	store.MaxAge(600)
	return &Handlers{
		store:      store,
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

// Client returns the HTTP client that calls BlueNexus.
func (h *Handlers) Client() *http.Client { return h.client }

// CookieName returns the flow cookie's name.
func (h *Handlers) CookieName() string { return h.cookieName }

func (h *Handlers) cookieOptions() *sessions.Options {
	return &sessions.Options{Path: "/", MaxAge: 600, Secure: h.secure, HttpOnly: true, SameSite: http.SameSiteLaxMode}
}

// Begin mints a state and saves it in the flow cookie on w.
func (h *Handlers) Begin(w http.ResponseWriter, r *http.Request) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	state := base64.RawURLEncoding.EncodeToString(b)
	sess, _ := h.store.Get(r, h.cookieName) // a bad cookie gives a new session
	sess.Values["state"] = state
	sess.Options = h.cookieOptions()
	if err := sess.Save(r, w); err != nil {
		return "", err
	}
	return state, nil
}

// Manage serves GET /manage-connections: state, cookie, handoff init, 302
// to the white-label page.
func (h *Handlers) Manage(w http.ResponseWriter, r *http.Request) {
	noStore(w.Header())
	token, ok := h.token(r)
	if !ok {
		http.Error(w, "sign in first", http.StatusUnauthorized)
		return
	}
	ip, ok := h.clientIP(r)
	if !ok {
		http.Error(w, "no client IP", http.StatusBadRequest)
		return
	}
	state, err := h.Begin(w, r)
	if err != nil {
		http.Error(w, "session error", http.StatusInternalServerError)
		return
	}

	redirect := *h.returnURL
	q := redirect.Query()
	q.Set("state", state)
	redirect.RawQuery = q.Encode()
	body, err := json.Marshal(map[string]string{"redirectUri": redirect.String(), "intent": "connections"})
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.initURL, bytes.NewReader(body))
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-Forwarded-For", ip)
	resp, err := h.client.Do(req)
	if err != nil {
		http.Error(w, "BlueNexus unreachable", http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		http.Error(w, "BlueNexus error", http.StatusBadGateway)
		return
	}
	var out struct {
		Code string `json:"code"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Code == "" {
		http.Error(w, "bad BlueNexus response", http.StatusBadGateway)
		return
	}

	target := *h.whiteLabel
	q = target.Query()
	q.Set("code", out.Code)
	target.RawQuery = q.Encode()
	http.Redirect(w, r, target.String(), http.StatusFound)
}

// Return serves GET /connections/return?state=...: the state must match the
// flow cookie's; it is deleted and the user goes home with a 303.
func (h *Handlers) Return(w http.ResponseWriter, r *http.Request) {
	noStore(w.Header())
	state := r.URL.Query().Get("state")
	sess, err := h.store.Get(r, h.cookieName)
	if err != nil || sess.IsNew {
		http.Error(w, "no flow in this browser", http.StatusForbidden)
		return
	}
	want, _ := sess.Values["state"].(string)
	if want == "" || subtle.ConstantTimeCompare([]byte(want), []byte(state)) != 1 {
		http.Error(w, "state mismatch", http.StatusForbidden)
		return
	}
	delete(sess.Values, "state")
	sess.Options = h.cookieOptions()
	if err := sess.Save(r, w); err != nil {
		http.Error(w, "session error", http.StatusInternalServerError)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// cookieName is the flow cookie's name for cfg.
func cookieName(cfg Config) string {
	if cfg.Insecure {
		return "baseline-flow"
	}
	return CookieName
}

// callTimeout bounds the handoff init call, as the kit's client does by
// default.
const callTimeout = 5 * time.Second

// newClient is the HTTP client that calls BlueNexus. It has no Timeout:
// the handlers put a context deadline on the call, as the kit does, since
// http.Client.Timeout costs a goroutine and a timer per request on a
// transport other than *http.Transport (the benchmarks' in-memory one).
func newClient(cfg Config) *http.Client {
	tr := cfg.Transport
	if tr == nil {
		// The default transport keeps only 2 idle connections per host; a
		// server calling one API host from many goroutines needs more.
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 32
		tr = t
	}
	return &http.Client{Transport: tr}
}

// noStore sets the headers that keep codes and states out of caches and
// Referer headers.
func noStore(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Referrer-Policy", "no-referrer")
}
