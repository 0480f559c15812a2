package bluenexustest

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/handoffkit/handoffkit/bluenexus"
)

// user is one BlueNexus account and its connections, oldest first.
type user struct {
	name      string
	token     bluenexus.AccessToken
	accountID string
	conns     []*bluenexus.Connection
}

// TokenPrefix starts every random access token the emulator issues.
const TokenPrefix = "bnx_"

// randomString returns n bytes from crypto/rand, base64url without padding.
func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand documents a fatal error instead)
	return base64.RawURLEncoding.EncodeToString(b)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// AddUser creates the user if needed and returns their access token:
// TokenPrefix followed by 32 random bytes in base64url, or the token fixed
// with [WithUserToken]. Calling it again returns the same token. It panics
// on a name that [WithUser] would reject.
func (s *Server) AddUser(name string) bluenexus.AccessToken {
	if err := checkUserName(name); err != nil {
		panic(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.userLocked(name).token
}

// userLocked returns the named user, creating it with a random token.
func (s *Server) userLocked(name string) *user {
	if u, ok := s.users[name]; ok {
		return u
	}
	u := &user{
		name:      name,
		token:     bluenexus.AccessToken(TokenPrefix + randomString(32)),
		accountID: "acc_" + randomHex(8),
	}
	s.users[name] = u
	s.byToken[u.token.Reveal()] = u
	return u
}

// addUser creates a user with a fixed token.
func (s *Server) addUser(name string, t bluenexus.AccessToken) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, ok := s.users[name]; ok {
		if u.token != t {
			return fmt.Errorf("bluenexustest: user %s already has another token", name)
		}
		return nil
	}
	if _, taken := s.byToken[t.Reveal()]; taken {
		return fmt.Errorf("bluenexustest: token of user %s is taken", name)
	}
	u := &user{name: name, token: t, accountID: "acc_" + randomHex(8)}
	s.users[name] = u
	s.byToken[t.Reveal()] = u
	return nil
}

// Connections returns copies of the user's connections, oldest first, or
// nil for an unknown user.
func (s *Server) Connections(name string) []bluenexus.Connection {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[name]
	if !ok {
		return nil
	}
	out := make([]bluenexus.Connection, len(u.conns))
	for i, c := range u.conns {
		out[i] = copyConn(c)
	}
	return out
}

// Connect adds an active connection to provider for the user, creating the
// user if needed, and returns it. The white-label page offers google, notion,
// slack and github; any id of 1 to 32 lowercase letters, digits, '-' or '_'
// works here. It panics on an invalid user name or provider id.
func (s *Server) Connect(name, provider string) bluenexus.Connection {
	if err := checkUserName(name); err != nil {
		panic(err)
	}
	if !providerIDRE.MatchString(provider) {
		panic(fmt.Sprintf("bluenexustest: Connect: provider id %q: want 1 to 32 of [a-z0-9_-]", provider))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userLocked(name)
	c := newConn(u, provider, s.now(), bluenexus.StatusActive)
	u.conns = append(u.conns, c)
	return copyConn(c)
}

// SeedConnections adds n connections to the user at once, for pagination
// and scale tests. Connection i (from 0) is for provider google, notion,
// slack, github in turn, was created n-i minutes before the clock's now (so
// creation times are distinct and ascending), and is active except when
// i%5 == 4, which is expired.
func (s *Server) SeedConnections(name string, n int) {
	if err := checkUserName(name); err != nil {
		panic(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userLocked(name)
	now := s.now()
	u.conns = slices.Grow(u.conns, n)
	for i := range n {
		status := bluenexus.StatusActive
		if i%5 == 4 {
			status = bluenexus.StatusExpired
		}
		at := now.Add(-time.Duration(n-i) * time.Minute)
		u.conns = append(u.conns, newConn(u, simulatedProviders[i%len(simulatedProviders)].id, at, status))
	}
}

// removeConn deletes the user's connection id and reports whether it existed.
func (u *user) removeConn(id string) (bluenexus.Connection, bool) {
	for i, c := range u.conns {
		if c.ID == id {
			u.conns = slices.Delete(u.conns, i, i+1)
			return *c, true
		}
	}
	return bluenexus.Connection{}, false
}

func (u *user) conn(id string) *bluenexus.Connection {
	for _, c := range u.conns {
		if c.ID == id {
			return c
		}
	}
	return nil
}

var providerIDRE = regexp.MustCompile(`^[a-z0-9_-]{1,32}$`)

type provider struct {
	id, name string
	scopes   []string
}

// simulatedProviders are the services the white-label page offers.
var simulatedProviders = []provider{
	{"google", "Google", []string{"openid", "https://www.googleapis.com/auth/userinfo.email"}},
	{"notion", "Notion", []string{"read_content"}},
	{"slack", "Slack", []string{"channels:read", "users:read"}},
	{"github", "GitHub", []string{"read:user"}},
}

func lookupProvider(id string) (provider, bool) {
	for _, p := range simulatedProviders {
		if p.id == id {
			return p, true
		}
	}
	return provider{}, false
}

func providerName(id string) string {
	if p, ok := lookupProvider(id); ok {
		return p.name
	}
	return strings.ToUpper(id[:1]) + id[1:]
}

// newConn builds a connection as BlueNexus would describe it. Times are UTC
// with millisecond precision, like the API's.
func newConn(u *user, providerID string, at time.Time, status bluenexus.ConnectionStatus) *bluenexus.Connection {
	at = at.UTC().Truncate(time.Millisecond)
	scopes := []string{"profile"}
	if p, ok := lookupProvider(providerID); ok {
		scopes = slices.Clone(p.scopes)
	}
	exp := at.Add(time.Hour)
	return &bluenexus.Connection{
		ID:             "conn_" + randomHex(8),
		AccountID:      u.accountID,
		ProviderID:     providerID,
		ProviderUserID: randomHex(6),
		Scopes:         scopes,
		Status:         status,
		ExpiresAt:      &exp,
		CanRefresh:     true,
		Metadata: bluenexus.ConnectionMetadata{
			DisplayName:  u.name,
			Email:        u.name + "+" + providerID + "@example.com",
			ProviderName: providerName(providerID),
			ProviderIcon: "https://static.bluenexus.example/providers/" + providerID + ".svg",
		},
		CreatedAt: at,
		UpdatedAt: at,
	}
}

func copyConn(c *bluenexus.Connection) bluenexus.Connection {
	out := *c
	out.Scopes = slices.Clone(c.Scopes)
	if c.ExpiresAt != nil {
		e := *c.ExpiresAt
		out.ExpiresAt = &e
	}
	return out
}
