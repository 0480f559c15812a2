package bluenexustest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/handoffkit/handoffkit/bluenexus"
)

// user is one BlueNexus account and its connections, oldest first.
type user struct {
	name      string
	accountID string
	// static is the session of the user's static token (AddUser), nil
	// until one is issued and after RevokeSessions.
	static      *authSession
	staticToken bluenexus.AccessToken
	// epoch counts RevokeSessions calls: a session opened in an earlier
	// epoch is revoked.
	epoch int
	conns []*conn
}

// conn is a connection and the number of the provider account it links:
// 1 for the user's primary account of that provider, 2 for the next one...
type conn struct {
	bluenexus.Connection
	account int
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

func newAccessTokenValue() bluenexus.AccessToken {
	return bluenexus.AccessToken(TokenPrefix + randomString(32))
}

// AddUser creates the user if needed and returns their static access token:
// TokenPrefix followed by 32 random bytes in base64url, or the token fixed
// with [WithUserToken]. Calling it again returns the same token.
//
// A static token stands for an app that holds one long-lived token: it
// never expires (so the demo and apps configured with a fixed token keep
// working however long they run) and has no refresh token. It dies with
// [Server.RevokeSessions]; AddUser then signs the user in again with a new
// static token (the same one for [WithUserToken]). For tokens that expire
// and refresh as BlueNexus's do, use [Server.SignIn]. AddUser panics on a
// name that [WithUser] would reject.
func (s *Server) AddUser(name string) bluenexus.AccessToken {
	if err := checkUserName(name); err != nil {
		panic(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userLocked(name)
	if u.static == nil || !s.liveLocked(u.static) {
		s.issueStaticLocked(u, s.cfg.tokens[name])
	}
	return u.staticToken
}

// userLocked returns the named user, creating it without tokens.
func (s *Server) userLocked(name string) *user {
	if u, ok := s.users[name]; ok {
		return u
	}
	u := &user{name: name, accountID: "acc_" + randomHex(8)}
	s.users[name] = u
	return u
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

// Connect connects the user's primary account of provider, creating the
// user if needed, and returns the connection: a new active one, or, when
// that account is already connected, the same connection reconnected
// (active again, expiring an hour from now, updatedAt now), as the
// white-label page's Connect does. The page offers google, notion, slack
// and github; any id of 1 to 32 lowercase letters, digits, '-' or '_' works
// here. It panics on an invalid user name or provider id.
func (s *Server) Connect(name, provider string) bluenexus.Connection {
	return s.ConnectAccount(name, provider, 1)
}

// ConnectAccount is [Server.Connect] for the user's account number account
// (from 1, the primary account) of provider. Each account has its own
// providerUserId and email (alice+google@example.com for account 1,
// alice+google2@example.com for account 2, ...), so connecting account 2
// adds a second connection of the same provider; connecting an account
// again reconnects it. It panics on an invalid user name or provider id, or
// an account below 1.
func (s *Server) ConnectAccount(name, provider string, account int) bluenexus.Connection {
	if err := checkUserName(name); err != nil {
		panic(err)
	}
	if !providerIDRE.MatchString(provider) {
		panic(fmt.Sprintf("bluenexustest: Connect: provider id %q: want 1 to 32 of [a-z0-9_-]", provider))
	}
	if account < 1 {
		panic(fmt.Sprintf("bluenexustest: ConnectAccount: account %d: want 1 or more", account))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, _ := s.userLocked(name).connect(provider, account, s.now())
	return copyConn(c)
}

// SeedConnections adds n connections to the user at once, for pagination
// and scale tests. Connection i (from 0) is for provider google, notion,
// slack, github in turn, each for a provider account not yet connected (so
// every seeded connection is new, with its own providerUserId and email),
// was created n-i minutes before the clock's now (so creation times are
// distinct and ascending), and is active except when i%5 == 4, which is
// expired.
func (s *Server) SeedConnections(name string, n int) {
	if err := checkUserName(name); err != nil {
		panic(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userLocked(name)
	now := s.now()
	next := map[string]int{}
	for _, p := range simulatedProviders {
		next[p.id] = u.nextAccount(p.id)
	}
	u.conns = slices.Grow(u.conns, n)
	for i := range n {
		status := bluenexus.StatusActive
		if i%5 == 4 {
			status = bluenexus.StatusExpired
		}
		p := simulatedProviders[i%len(simulatedProviders)].id
		at := now.Add(-time.Duration(n-i) * time.Minute)
		u.conns = append(u.conns, newConn(u, p, next[p], at, status))
		next[p]++
	}
}

// connect links account of provider: a new connection, or the existing one
// of that account reconnected. It reports whether it reconnected.
func (u *user) connect(provider string, account int, now time.Time) (*conn, bool) {
	for _, c := range u.conns {
		if c.ProviderID == provider && c.account == account {
			at := now.UTC().Truncate(time.Millisecond)
			exp := at.Add(time.Hour)
			c.Status = bluenexus.StatusActive
			c.ExpiresAt = &exp
			c.UpdatedAt = at
			c.Scopes = providerScopes(provider)
			return c, true
		}
	}
	c := newConn(u, provider, account, now, bluenexus.StatusActive)
	u.conns = append(u.conns, c)
	return c, false
}

// nextAccount is the lowest account number of provider above every
// connected one.
func (u *user) nextAccount(provider string) int {
	n := 1
	for _, c := range u.conns {
		if c.ProviderID == provider && c.account >= n {
			n = c.account + 1
		}
	}
	return n
}

// removeConn deletes the user's connection id and reports whether it existed.
func (u *user) removeConn(id string) (bluenexus.Connection, bool) {
	for i, c := range u.conns {
		if c.ID == id {
			u.conns = slices.Delete(u.conns, i, i+1)
			return c.Connection, true
		}
	}
	return bluenexus.Connection{}, false
}

func (u *user) conn(id string) *conn {
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

func providerScopes(id string) []string {
	if p, ok := lookupProvider(id); ok {
		return slices.Clone(p.scopes)
	}
	return []string{"profile"}
}

// accountEmail is the email of the user's account number account of
// provider: alice+google@example.com, alice+google2@example.com, ...
func accountEmail(name, providerID string, account int) string {
	suffix := ""
	if account > 1 {
		suffix = strconv.Itoa(account)
	}
	return name + "+" + providerID + suffix + "@example.com"
}

// providerUserID is the provider's stable id of one provider account: the
// same account connected again (after a removal too) keeps it.
func providerUserID(accountID, providerID string, account int) string {
	sum := sha256.Sum256([]byte(accountID + "/" + providerID + "/" + strconv.Itoa(account)))
	return hex.EncodeToString(sum[:6])
}

// newConn builds a connection as BlueNexus would describe it. Times are UTC
// with millisecond precision, like the API's.
func newConn(u *user, providerID string, account int, at time.Time, status bluenexus.ConnectionStatus) *conn {
	at = at.UTC().Truncate(time.Millisecond)
	exp := at.Add(time.Hour)
	return &conn{account: account, Connection: bluenexus.Connection{
		ID:             "conn_" + randomHex(8),
		AccountID:      u.accountID,
		ProviderID:     providerID,
		ProviderUserID: providerUserID(u.accountID, providerID, account),
		Scopes:         providerScopes(providerID),
		Status:         status,
		ExpiresAt:      &exp,
		CanRefresh:     true,
		Metadata: bluenexus.ConnectionMetadata{
			DisplayName:  u.name,
			Email:        accountEmail(u.name, providerID, account),
			ProviderName: providerName(providerID),
			ProviderIcon: "https://static.bluenexus.example/providers/" + providerID + ".svg",
		},
		CreatedAt: at,
		UpdatedAt: at,
	}}
}

func copyConn(c *conn) bluenexus.Connection {
	out := c.Connection
	out.Scopes = slices.Clone(c.Scopes)
	if c.ExpiresAt != nil {
		e := *c.ExpiresAt
		out.ExpiresAt = &e
	}
	return out
}
