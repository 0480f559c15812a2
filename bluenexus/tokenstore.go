package bluenexus

import (
	"context"
	"sync"
	"time"
)

// TokenStore keeps each user's token pair under the app's user id, with
// a lease that makes one refresh per rotation hold across every instance
// sharing it (docs/tokens.md). Absent is ok false with a nil error; errors
// never carry a token. [NewMemoryTokenStore] keeps pairs in memory;
// redisflow and pgtokens keep them in Redis and PostgreSQL.
//
// In SQL (Postgres), one row per user; an UPDATE that changed exactly one
// row means leased or swapped:
//
//	CREATE TABLE bluenexus_tokens (
//	  user_id            text PRIMARY KEY,
//	  access_token       text NOT NULL,
//	  refresh_token      text NOT NULL,
//	  expires_at         timestamptz,        -- NULL: zero time
//	  refresh_expires_at timestamptz,
//	  scope              text NOT NULL DEFAULT '',
//	  lease_holder       text,
//	  lease_until        timestamptz
//	);
//	-- Lease:
//	UPDATE bluenexus_tokens SET lease_holder = $3, lease_until = now() + $4 * interval '1 millisecond'
//	 WHERE user_id = $1 AND refresh_token = $2
//	   AND (lease_until IS NULL OR lease_until < now() OR lease_holder = $3);
//	-- CompareAndSwap:
//	UPDATE bluenexus_tokens SET access_token = ..., refresh_token = ..., ..., lease_holder = NULL, lease_until = NULL
//	 WHERE user_id = $1 AND refresh_token = $2;
//	-- Save:
//	INSERT ... ON CONFLICT (user_id) DO UPDATE SET ..., lease_holder = NULL, lease_until = NULL;
type TokenStore interface {
	// Load returns the user's pair, or ok false (and a nil error) when none is stored.
	Load(ctx context.Context, user string) (tok Token, ok bool, err error)
	// Save stores tok as the user's pair, replacing any pair and clearing any lease:
	// the pair the app received from BlueNexus at sign-in or re-authentication.
	Save(ctx context.Context, user string, tok Token) error
	// Lease marks the stored pair whose refresh token is rt as being refreshed by
	// holder for ttl, measured by the store's own clock. It succeeds (true) when the
	// stored pair's refresh token is rt and the pair has no lease, or its lease has
	// run out, or its lease is holder's (so a retry after a lost reply succeeds).
	// It reports false with a nil error when no pair is stored, the stored refresh
	// token is another, or another holder's lease is still running.
	Lease(ctx context.Context, user string, rt RefreshToken, holder string, ttl time.Duration) (ok bool, err error)
	// CompareAndSwap stores next as the user's pair, clearing any lease, if the
	// stored pair's refresh token is old (never empty), and reports whether it did.
	// Swapping a pair onto itself (next.RefreshToken == old) just clears the lease.
	CompareAndSwap(ctx context.Context, user string, old RefreshToken, next Token) (swapped bool, err error)
}

// NewMemoryTokenStore returns a [TokenStore] in this process's memory, for
// tests, demos and a single instance: every pair is lost on exit.
func NewMemoryTokenStore() TokenStore {
	return &memoryTokenStore{pairs: make(map[string]memoryPair), now: time.Now}
}

// memoryTokenStore is NewMemoryTokenStore's store: a map under a mutex.
type memoryTokenStore struct {
	mu    sync.Mutex
	pairs map[string]memoryPair
	now   func() time.Time // the lease clock; a seam for tests
}

// memoryPair is a stored pair and its lease.
type memoryPair struct {
	tok    Token
	holder string    // "": no lease
	until  time.Time // the lease runs out at until
}

func (m *memoryTokenStore) Load(ctx context.Context, user string) (Token, bool, error) {
	if err := ctx.Err(); err != nil {
		return Token{}, false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.pairs[user]
	return p.tok, ok, nil
}

func (m *memoryTokenStore) Save(ctx context.Context, user string, tok Token) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pairs[user] = memoryPair{tok: tok}
	return nil
}

func (m *memoryTokenStore) Lease(ctx context.Context, user string, rt RefreshToken, holder string, ttl time.Duration) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.pairs[user]
	now := m.now()
	if !ok || rt == "" || p.tok.RefreshToken != rt || p.holder != "" && p.holder != holder && now.Before(p.until) {
		return false, nil
	}
	m.pairs[user] = memoryPair{tok: p.tok, holder: holder, until: now.Add(ttl)}
	return true, nil
}

func (m *memoryTokenStore) CompareAndSwap(ctx context.Context, user string, old RefreshToken, next Token) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if p, ok := m.pairs[user]; !ok || old == "" || p.tok.RefreshToken != old {
		return false, nil
	}
	m.pairs[user] = memoryPair{tok: next}
	return true, nil
}
