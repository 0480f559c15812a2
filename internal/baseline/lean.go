package baseline

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Config configures [NewLean].
type Config struct {
	// HashKey and BlockKey are the cookie keys: the state's keys are
	// derived from both, as the kit derives its own.
	HashKey, BlockKey []byte
	// APIBase is the BlueNexus API base URL, such as http://127.0.0.1:8081.
	APIBase string
	// WhiteLabelURL is the white-label page; the code goes in its "code"
	// query parameter.
	WhiteLabelURL string
	// ReturnURL is the redirectUri; the state goes in its "state" query
	// parameter.
	ReturnURL string
	// User returns the signed-in user's id.
	User func(*http.Request) (string, bool)
	// Token returns the signed-in user's BlueNexus access token.
	Token func(*http.Request) (string, bool)
	// ClientIP returns the end user's IP address, forwarded to BlueNexus
	// in X-Forwarded-For.
	ClientIP func(*http.Request) (string, bool)
	// Transport carries the handoff init call. Default: a clone of
	// http.DefaultTransport keeping 32 idle connections per host. The
	// benchmarks give an in-memory one to time the handlers alone.
	Transport http.RoundTripper
	// Now is the clock states are stamped and expired by. Default time.Now.
	Now func() time.Time
}

const (
	// flowTTL is how long a flow may take from manage to return, the kit's
	// default TTL.
	flowTTL = 10 * time.Minute
	// callTimeout bounds the handoff init call, as the kit's client does
	// by default.
	callTimeout = 5 * time.Second
	// maxInitResponse bounds the handoff init response read into memory.
	maxInitResponse = 64 << 10
	// maxNext bounds `next`, as the kit does.
	maxNext = 512
)

// The sealed state, before AES-GCM: nonce(16) issued unix seconds(8)
// user MAC(16) intent ' ' next.
const (
	nonceLen  = 16
	userLen   = 16
	headerLen = nonceLen + 8 + userLen
)

// Lean are the two routes written as lean as plain code goes, doing the
// kit's work: the flow sealed into the state with the standard library's
// AES-GCM, structs with encoding/json for the handoff init, URLs
// concatenated from prefixes parsed once, a map under a mutex for used
// nonces.
type Lean struct {
	aead       cipher.AEAD
	userKey    []byte
	client     *http.Client
	initURL    string
	whiteLabel string // the white-label URL up to "code="
	returnURL  string // the return URL up to "state="
	user       func(*http.Request) (string, bool)
	token      func(*http.Request) (string, bool)
	clientIP   func(*http.Request) (string, bool)
	now        func() time.Time

	mu        sync.Mutex
	used      map[[nonceLen]byte]time.Time // nonce -> when its flow expires
	nextSweep time.Time
}

// NewLean returns the lean handlers configured by cfg.
func NewLean(cfg Config) (*Lean, error) {
	if cfg.User == nil || cfg.Token == nil || cfg.ClientIP == nil {
		return nil, errors.New("baseline: User, Token and ClientIP are required")
	}
	wl, err := queryPrefix(cfg.WhiteLabelURL, "code")
	if err != nil {
		return nil, err
	}
	ret, err := queryPrefix(cfg.ReturnURL, "state")
	if err != nil {
		return nil, err
	}
	secret := append(bytes.Clone(cfg.HashKey), cfg.BlockKey...)
	sealKey, err := hkdf.Key(sha256.New, secret, nil, "baseline state seal", 32)
	if err != nil {
		return nil, err
	}
	userKey, err := hkdf.Key(sha256.New, secret, nil, "baseline state user", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(sealKey)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, err
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Lean{
		aead:       aead,
		userKey:    userKey,
		client:     newClient(cfg),
		initURL:    cfg.APIBase + "/api/v1/auth/handoff/init",
		whiteLabel: wl,
		returnURL:  ret,
		user:       cfg.User,
		token:      cfg.Token,
		clientIP:   cfg.ClientIP,
		now:        now,
		used:       map[[nonceLen]byte]time.Time{},
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

// Client returns the HTTP client that calls BlueNexus.
func (l *Lean) Client() *http.Client { return l.client }

// userMAC is the keyed hash of a user id that a state carries.
func (l *Lean) userMAC(user string) []byte {
	mac := hmac.New(sha256.New, l.userKey)
	mac.Write([]byte(user))
	return mac.Sum(nil)[:userLen]
}

// Begin seals a new flow for user, landing on next, into a state.
func (l *Lean) Begin(user, next string) string {
	b := make([]byte, nonceLen, headerLen+len("connections")+1+len(next))
	rand.Read(b) // never fails: crypto/rand crashes the program instead
	b = binary.BigEndian.AppendUint64(b, uint64(l.now().Unix()))
	b = append(b, l.userMAC(user)...)
	b = append(b, "connections "...)
	b = append(b, next...)
	return base64.RawURLEncoding.EncodeToString(l.aead.Seal(nil, nil, b, nil))
}

type handoffInit struct {
	RedirectURI string `json:"redirectUri"`
	Intent      string `json:"intent"`
}

type handoffCode struct {
	Code string `json:"code"`
}

// Manage serves GET /manage-connections[?next=/path]: the flow sealed into
// the state, handoff init, 302 to the white-label page.
func (l *Lean) Manage(w http.ResponseWriter, r *http.Request) {
	noStore(w.Header())
	user, ok := l.user(r)
	if !ok || user == "" {
		http.Error(w, "sign in first", http.StatusUnauthorized)
		return
	}
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
	next := r.URL.Query().Get("next")
	if next == "" {
		next = "/"
	} else if !localPath(next) {
		http.Error(w, "bad next", http.StatusBadRequest)
		return
	}
	// The state is base64url: nothing to escape.
	body, err := json.Marshal(handoffInit{RedirectURI: l.returnURL + l.Begin(user, next), Intent: "connections"})
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

// Return serves GET /connections/return?state=...: the state must open,
// be within its TTL, belong to the signed-in user and not have been used;
// the user goes to the flow's next page with a 303.
func (l *Lean) Return(w http.ResponseWriter, r *http.Request) {
	noStore(w.Header())
	user, ok := l.user(r)
	if !ok || user == "" {
		http.Error(w, "sign in first", http.StatusUnauthorized)
		return
	}
	sealed, err := base64.RawURLEncoding.DecodeString(r.URL.Query().Get("state"))
	if err != nil {
		http.Error(w, "bad state", http.StatusForbidden)
		return
	}
	b, err := l.aead.Open(nil, nil, sealed, nil)
	if err != nil || len(b) < headerLen {
		http.Error(w, "bad state", http.StatusForbidden)
		return
	}
	now := l.now()
	expires := time.Unix(int64(binary.BigEndian.Uint64(b[nonceLen:])), 0).Add(flowTTL)
	if !now.Before(expires) {
		http.Error(w, "flow expired", http.StatusForbidden)
		return
	}
	if !hmac.Equal(l.userMAC(user), b[nonceLen+8:headerLen]) {
		http.Error(w, "flow of another user", http.StatusForbidden)
		return
	}
	if !l.consume([nonceLen]byte(b[:nonceLen]), now, expires) {
		http.Error(w, "flow already used", http.StatusForbidden)
		return
	}
	_, next, _ := strings.Cut(string(b[headerLen:]), " ")
	if !localPath(next) {
		next = "/"
	}
	w.Header().Set("Location", next)
	w.WriteHeader(http.StatusSeeOther)
}

// consume records nonce as used until expires, and reports whether it was
// new. Once a minute it forgets the nonces whose flows have expired.
func (l *Lean) consume(nonce [nonceLen]byte, now, expires time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.After(l.nextSweep) {
		for n, exp := range l.used {
			if !now.Before(exp) {
				delete(l.used, n)
			}
		}
		l.nextSweep = now.Add(time.Minute)
	}
	if _, used := l.used[nonce]; used {
		return false
	}
	l.used[nonce] = expires
	return true
}

// localPath reports whether next is a path on this site: up to 512
// printable ASCII bytes starting with one slash, with no backslash, no
// "//" and no percent-escape.
func localPath(next string) bool {
	if next == "" || len(next) > maxNext || next[0] != '/' {
		return false
	}
	for i := 0; i < len(next); i++ {
		c := next[i]
		if c <= ' ' || c >= 0x7f || c == '\\' || c == '%' || c == '/' && i > 0 && next[i-1] == '/' {
			return false
		}
	}
	return true
}

// noStore sets the headers that keep codes and states out of caches and
// Referer headers.
func noStore(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Referrer-Policy", "no-referrer")
}
