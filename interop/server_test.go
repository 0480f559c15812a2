// Package interop runs bluenexus.Client and bluenexus.TokenSource against
// github.com/ory/fosite, an OAuth 2.0 authorization server this project
// did not write, with refresh-token rotation and reuse detection. It holds
// tests only, and the fosite server they share. It is a module of its own so
// that fosite stays out of the root module's requirements.
package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/storage"
	"golang.org/x/crypto/bcrypt"
)

// tokenPath is BlueNexus's token endpoint, where the server answers.
const tokenPath = "/api/v1/auth/token"

// The user whose pair the tests refresh, and the scope fosite grants.
const (
	username = "alice"
	password = "alice-password"
	scope    = "connections"
)

// server is fosite on loopback: an in-memory store, HMAC tokens, the
// password grant (to issue the first pair) and the refresh-token grant
// with rotation, at tokenPath. It counts each refresh token presented.
type server struct {
	*httptest.Server
	provider fosite.OAuth2Provider
	store    *fositeStore
	// alter, when set, rewrites fosite's 200 answers to refresh-token
	// grants: one of the answer variants of the tests.
	alter func(w http.ResponseWriter, answer []byte)

	// mu serialises the token endpoint (fosite's memory store guards its
	// maps with separate locks, and rotation touches two of them) and
	// guards the counts.
	mu        sync.Mutex
	presented map[string]int   // refresh token → times presented
	statuses  map[string][]int // refresh token → fosite's status each time
	issued    []string         // refresh tokens fosite issued on refresh, in order
}

// fositeStore is fosite's memory store. With keepOld, rotation leaves the
// presented refresh token valid (a server that does not rotate, as RFC
// 6749 section 6 allows).
type fositeStore struct {
	*storage.MemoryStore
	keepOld bool
}

func (s *fositeStore) RotateRefreshToken(ctx context.Context, requestID, signature string) error {
	if s.keepOld {
		return nil
	}
	return s.MemoryStore.RotateRefreshToken(ctx, requestID, signature)
}

// client is a confidential OAuth client registered with the server.
type client struct {
	id, secret string
	grants     []string // default: password and refresh_token
}

// newServer starts fosite with the given clients and stops it at the end
// of the test.
func newServer(t *testing.T, keepOld bool, clients ...client) *server {
	t.Helper()
	st := &fositeStore{MemoryStore: storage.NewMemoryStore(), keepOld: keepOld}
	st.Users[username] = storage.MemoryUserRelation{Username: username, Password: password}
	for _, c := range clients {
		hash, err := bcrypt.GenerateFromPassword([]byte(c.secret), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		grants := c.grants
		if grants == nil {
			grants = []string{"password", "refresh_token"}
		}
		st.Clients[c.id] = &fosite.DefaultClient{
			ID:         c.id,
			Secret:     hash,
			GrantTypes: grants,
			Scopes:     []string{scope},
		}
	}
	cfg := &fosite.Config{
		AccessTokenLifespan:  15 * time.Minute,
		RefreshTokenLifespan: 7 * 24 * time.Hour,
		GlobalSecret:         []byte("interop-test-global-secret-32-bytes!"),
		RefreshTokenScopes:   []string{}, // every grant gets a refresh token
	}
	provider := compose.Compose(cfg, st,
		&compose.CommonStrategy{CoreStrategy: compose.NewOAuth2HMACStrategy(cfg)},
		compose.OAuth2ResourceOwnerPasswordCredentialsFactory,
		compose.OAuth2RefreshTokenGrantFactory,
		compose.OAuth2TokenIntrospectionFactory,
	)
	s := &server{
		provider:  provider,
		store:     st,
		presented: map[string]int{},
		statuses:  map[string][]int{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+tokenPath, s.token)
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

// token is the token endpoint: fosite's answer, counted, and rewritten by
// alter when it is a 200 to a refresh-token grant.
func (s *server) token(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "read error", http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	form, _ := url.ParseQuery(string(body))
	rt := form.Get("refresh_token")
	refresh := form.Get("grant_type") == "refresh_token"

	s.mu.Lock()
	defer s.mu.Unlock()
	rec := httptest.NewRecorder()
	s.fosite(rec, r)
	if !refresh {
		copyAnswer(w, rec.Result().StatusCode, rec.Header(), rec.Body.Bytes())
		return
	}
	s.presented[rt]++
	s.statuses[rt] = append(s.statuses[rt], rec.Code)
	if rec.Code == http.StatusOK {
		var a struct {
			RefreshToken string `json:"refresh_token"`
		}
		if json.Unmarshal(rec.Body.Bytes(), &a) == nil && a.RefreshToken != "" {
			s.issued = append(s.issued, a.RefreshToken)
		}
		if s.alter != nil {
			s.alter(w, rec.Body.Bytes())
			return
		}
	}
	copyAnswer(w, rec.Code, rec.Header(), rec.Body.Bytes())
}

// fosite answers a token request as fosite's documentation shows, granting
// every scope asked for on the password grant.
func (s *server) fosite(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ar, err := s.provider.NewAccessRequest(ctx, r, &fosite.DefaultSession{})
	if err != nil {
		s.provider.WriteAccessError(ctx, w, ar, err)
		return
	}
	if ar.GetGrantTypes().ExactOne("password") {
		for _, sc := range ar.GetRequestedScopes() {
			ar.GrantScope(sc)
		}
	}
	resp, err := s.provider.NewAccessResponse(ctx, ar)
	if err != nil {
		s.provider.WriteAccessError(ctx, w, ar, err)
		return
	}
	s.provider.WriteAccessResponse(ctx, w, ar, resp)
}

func copyAnswer(w http.ResponseWriter, status int, h http.Header, body []byte) {
	for k, v := range h {
		w.Header()[k] = v
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// signIn issues the user's first pair through fosite's password grant, as
// the client (id, secret): both parts form-encoded before Basic (RFC 6749
// section 2.3.1).
func (s *server) signIn(t *testing.T, id, secret string) (access, refresh string) {
	t.Helper()
	form := url.Values{
		"grant_type": {"password"},
		"username":   {username},
		"password":   {password},
		"scope":      {scope},
	}
	req, err := http.NewRequest(http.MethodPost, s.URL+tokenPath, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil || resp.StatusCode != http.StatusOK ||
		a.AccessToken == "" || a.RefreshToken == "" {
		t.Fatalf("sign-in at fosite: status %d, decode error %v, access token %t, refresh token %t",
			resp.StatusCode, err, a.AccessToken != "", a.RefreshToken != "")
	}
	return a.AccessToken, a.RefreshToken
}

// times reports how often rt was presented at the token endpoint, and
// fosite's status each time.
func (s *server) times(rt string) (int, []int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.presented[rt], append([]int(nil), s.statuses[rt]...)
}

// refreshes reports how many refresh-token grants reached the endpoint.
func (s *server) refreshes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.presented {
		n += c
	}
	return n
}

// lastIssued is the refresh token fosite issued last on a refresh ("" if
// none).
func (s *server) lastIssued() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.issued) == 0 {
		return ""
	}
	return s.issued[len(s.issued)-1]
}

// active reports whether fosite holds the access token as active.
func (s *server) active(at string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, _, err := s.provider.IntrospectToken(context.Background(), at, fosite.AccessToken, &fosite.DefaultSession{})
	return err == nil
}
