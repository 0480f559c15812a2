package bluenexus

import (
	"context"
	"sync"
)

// TokenStore is where the app keeps each user's token pair (the [Token] of
// the user's last sign-in or refresh), keyed by the app's own user id. A
// [TokenSource] reads it and, after every refresh, replaces the pair
// through it. It is a small interface so that an app can implement it on
// its own database; [NewMemoryTokenStore] keeps pairs in memory, and
// package redisflow has one on Redis (redisflow.NewTokenStore).
//
// The contract, which the kit's stores are tested against:
//
//   - Load returns the user's stored pair with ok true, or a zero Token, ok
//     false and a nil error when the user has none. An error means the
//     store could not answer (nothing is known about the pair); absent is
//     never an error.
//   - CompareAndSwap replaces the user's pair with next only if the stored
//     pair's RefreshToken equals old, atomically with respect to every other
//     CompareAndSwap on the same user, in this process and in any other
//     sharing the store. With old == "" it stores next only if the user has
//     no pair: that is how the app seeds a user's pair at sign-in. It
//     reports whether it stored next; false with a nil error means the
//     stored pair is not the one expected (a newer pair, or none, or one
//     already there for a seed) and nothing was written. An error means
//     nothing is known: the pair may or may not have been written. Every
//     field of next is stored and Load returns it unchanged, the times to
//     the store's precision (a second is plenty: the TokenSource refreshes
//     a minute early), not necessarily in the same location.
//   - The compare-and-swap on the old refresh token is what makes a slow
//     writer harmless (SECURITY.md E2): a refresh that finishes late can
//     never overwrite the newer pair another refresh stored meanwhile.
//   - Errors never carry a token value: the TokenSource returns them to its
//     callers, who log them.
//   - Both methods honour ctx and are safe for concurrent use.
//
// How the tokens are protected at rest is the implementation's to say
// (SECURITY.md E5): the refresh token buys new access tokens for its whole
// life (7 days by default), so treat it like a password hash or better:
// encrypt the column, or keep the table in a store that is encrypted at
// rest and read by the app alone. Every implementation documents its
// answer; NewMemoryTokenStore's is "in this process's memory only".
//
// With SQL, a row per user and the refresh token compared in the WHERE
// clause is enough; the swap happened when exactly one row changed:
//
//	res, err := db.ExecContext(ctx, `UPDATE bluenexus_tokens
//		SET access_token=$1, refresh_token=$2, expires_at=$3, refresh_expires_at=$4
//		WHERE user_id=$5 AND refresh_token=$6`,
//		next.AccessToken.Reveal(), next.RefreshToken.Reveal(), next.Expiry, next.RefreshExpiry,
//		user, old.Reveal())
//	if err != nil {
//		return false, err
//	}
//	n, err := res.RowsAffected()
//	return n == 1, err
//
// and for old == "" (the seed at sign-in), an insert that does nothing when
// the user already has a row:
//
//	INSERT INTO bluenexus_tokens (user_id, access_token, refresh_token, expires_at, refresh_expires_at)
//	VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id) DO NOTHING
//
// again with RowsAffected() == 1 meaning swapped. To replace the pair of a
// user who signs in again, Load the stored pair and swap from its
// RefreshToken (retry on false). A store shared by several instances of
// the app should also implement [TokenLocker].
type TokenStore interface {
	// Load returns the user's pair, or ok false (and a nil error) when the
	// user has none.
	Load(ctx context.Context, user string) (tok Token, ok bool, err error)
	// CompareAndSwap stores next as the user's pair if the stored pair's
	// refresh token is old (old == "": if no pair is stored), and reports
	// whether it did.
	CompareAndSwap(ctx context.Context, user string, old RefreshToken, next Token) (swapped bool, err error)
}

// TokenLocker is implemented by a [TokenStore] shared by several instances
// of the app, so that one refresh runs per rotation fleet-wide
// (SECURITY.md E1): a refresh token works once, and a second instance
// presenting it again is replay, which may revoke the user's session. A
// [TokenSource] finds it by a type assertion on its store and holds the
// user's lock around every refresh (the reload of the pair, the token call
// and the save).
//
// Lock waits until it holds the user's lock or ctx ends, and returns the
// function that releases it; unlock must be safe to call once from any
// goroutine, and releases only this holder's lock, never one taken since
// by another holder. An error means the lock is not held: the TokenSource
// then refreshes nothing.
//
// A lock shared across processes must expire by itself, so that a holder
// that dies (its process crashes mid-refresh) frees it after the expiry.
// A TokenSource holds the lock for at most the client's budget
// ([WithTimeout], 5 s by default, at most 15 s) plus 21 s, and waits for it
// at most 50 s: an expiry between the two (redisflow's is 45 s) lets the
// holder finish and lets a waiter outwait a dead holder. A holder whose
// lock expired anyway cannot do harm to the store: its save is a
// CompareAndSwap on the refresh token it started from, which fails once
// another holder stored a newer pair.
type TokenLocker interface {
	// Lock takes the user's refresh lock, waiting until ctx ends.
	Lock(ctx context.Context, user string) (unlock func(), err error)
}

// NewMemoryTokenStore returns a [TokenStore] that keeps pairs in this
// process's memory, for tests, demos and an app that runs as a single
// instance and lets its users sign in again after a restart: nothing is
// written anywhere, so nothing is at rest (SECURITY.md E5), and every pair
// is lost when the process exits. It is safe for concurrent use.
//
// The store also implements [TokenLocker] with an in-process lock per
// user, so that several TokenSources sharing it never spend one refresh
// token twice. The lock has no expiry: its holders live and die with the
// process that holds the store.
func NewMemoryTokenStore() TokenStore {
	return &memoryTokenStore{pairs: make(map[string]Token), locks: make(map[string]chan struct{})}
}

// memoryTokenStore is NewMemoryTokenStore's store: a map under a mutex,
// and a channel per locked user that is closed on unlock.
type memoryTokenStore struct {
	mu    sync.Mutex
	pairs map[string]Token
	locks map[string]chan struct{} // user → closed when its holder unlocks
}

func (m *memoryTokenStore) Load(ctx context.Context, user string) (Token, bool, error) {
	if err := ctx.Err(); err != nil {
		return Token{}, false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	tok, ok := m.pairs[user]
	return tok, ok, nil
}

func (m *memoryTokenStore) CompareAndSwap(ctx context.Context, user string, old RefreshToken, next Token) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := m.pairs[user]
	if old == "" && ok || old != "" && (!ok || cur.RefreshToken != old) {
		return false, nil
	}
	m.pairs[user] = next
	return true, nil
}

func (m *memoryTokenStore) Lock(ctx context.Context, user string) (func(), error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		m.mu.Lock()
		held, busy := m.locks[user]
		if !busy {
			mine := make(chan struct{})
			m.locks[user] = mine
			m.mu.Unlock()
			var once sync.Once
			return func() {
				once.Do(func() {
					m.mu.Lock()
					if m.locks[user] == mine {
						delete(m.locks, user)
					}
					m.mu.Unlock()
					close(mine)
				})
			}, nil
		}
		m.mu.Unlock()
		select {
		case <-held:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
