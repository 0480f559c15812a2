package redisflow

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/handoffkit/handoffkit/bluenexus"
)

const (
	// defaultTokenPrefix starts the key of every token pair (and refresh
	// lock) that [NewTokenStore]'s store keeps.
	defaultTokenPrefix = "handoffkit:token:"
	// defaultLockTTL is the expiry of a user's refresh lock: longer than a
	// bluenexus.TokenSource holds it (the client's budget, at most 15 s,
	// plus 21 s), shorter than it waits for it (50 s), so a holder is never
	// cut short and a waiter outwaits a holder that died.
	defaultLockTTL = 45 * time.Second
	// lockPoll is the pause between two tries of a held lock.
	lockPoll = 50 * time.Millisecond
	// releaseFor bounds the release of a lock whose grant failed: long
	// enough for a Sentinel failover.
	releaseFor = 10 * time.Second
	// tokenRecordVersion is the "v" of the records written.
	tokenRecordVersion = 1
)

// tokenRecord is a pair as stored in Redis: JSON, one value per user.
// bluenexus's secret types marshal as [REDACTED], so the values are copied
// into plain strings here, the one place they are meant to go.
type tokenRecord struct {
	V             int       `json:"v"`
	AccessToken   string    `json:"access_token"`
	RefreshToken  string    `json:"refresh_token"`
	Expiry        time.Time `json:"expiry"`
	RefreshExpiry time.Time `json:"refresh_expiry,omitzero"`
	Scope         string    `json:"scope,omitempty"`
}

// casScript replaces KEYS[1] with ARGV[2] only if the stored record's
// refresh_token is ARGV[1] (ARGV[1] == "": only if there is no record),
// with a time to live of ARGV[3] milliseconds (0: none). It returns 1 when
// it wrote, and when the key already holds ARGV[2]: a retry of a swap
// whose answer was lost then succeeds, and with WithReplicas waits for
// the replicas again. A record that does not decode is never replaced.
var casScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[2] then return 1 end
if ARGV[1] == '' then
	if cur then return 0 end
else
	if not cur then return 0 end
	local ok, rec = pcall(cjson.decode, cur)
	if not ok or type(rec) ~= 'table' or rec['refresh_token'] ~= ARGV[1] then return 0 end
end
if ARGV[3] == '0' then
	redis.call('SET', KEYS[1], ARGV[2])
else
	redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return 1
`)

// unlockScript deletes the lock KEYS[1] only while it holds this holder's
// random value ARGV[1], so that a holder whose lock expired never releases
// its successor's.
var unlockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// tokenStore is NewTokenStore's store.
type tokenStore struct {
	rdb      redis.UniversalClient
	prefix   string
	timeout  time.Duration
	replicas int
	now      func() time.Time
	lockTTL  time.Duration // defaultLockTTL; a seam for tests
	nonce    func() string // the lock's random value; a seam for tests
}

// NewTokenStore returns a [bluenexus.TokenStore] on rdb that every
// instance of the app shares, for [bluenexus.NewTokenSource]. The store
// also implements [bluenexus.TokenLocker], so the instances refresh a
// user's pair once between them (SECURITY.md E1). [WithKeyPrefix] (default
// "handoffkit:token:"), [WithTimeout] (each Redis call, default 500 ms),
// [WithClock] (which turns a pair's refresh expiry into its key's time to
// live; default time.Now) and [WithReplicas] apply. It does no I/O.
//
// # What Redis holds
//
// One string key per user: the prefix followed by the hex SHA-256 of the
// user id in braces (so any id makes a valid key), holding the whole pair
// as one JSON document, with the refresh token's remaining life as its
// time to live (none when the pair has no refresh expiry). The user's
// refresh lock is the same key followed by ":lock". The braces are a
// Redis Cluster hash tag: a pair and its lock live in one slot, on one
// master, and fail over together. Every command touches one key, so Redis
// Cluster and Sentinel work through [redis.UniversalClient].
//
// The tokens are stored in clear (SECURITY.md E5): whoever can read
// this Redis, or its backups, can act as every user until their refresh
// tokens expire (7 days by default). Keep it private to the app (a
// password or ACL user, TLS when it is not on the same host, no public
// network), and either keep it without persistence or put its disk and
// backups under encryption at rest. A user who is signed out should be
// revoked at BlueNexus too.
//
// # Swaps and locks
//
// CompareAndSwap is one Lua script: it reads the stored record, compares
// its refresh token with the old one, and writes the new record with its
// time to live, atomically. Lock takes the user's lock with SET key
// random-value NX PX 45000, tried every 50 ms until the context ends (each
// try bounded by the timeout), and releases it with a Lua script that
// deletes the key only while it still holds this holder's value, so a
// holder whose lock expired never releases its successor's. A holder that
// dies frees the lock after 45 s, which a bluenexus.TokenSource outlasts
// (it waits 50 s) and never needs while alive (it holds the lock for the
// client's budget plus 21 s at most). With [WithReplicas], the lock and
// the swap wait for the replicas' acknowledgement, so a master failover
// loses neither: a lock lost in a failover would let a second instance
// spend the same refresh token, and a lost pair would leave the spent one
// in the store.
//
// A lock that expires under a slow holder is fenced by the compare-and-swap:
// the late holder's save compares the refresh token it started from, which
// no longer matches once the next holder stored its pair, so it writes
// nothing.
//
// # Failing closed
//
// When Redis is down, slow, read-only or out of memory, Load, CompareAndSwap
// and Lock return an error wrapping session.ErrUnavailable. The TokenSource
// then refreshes nothing: a refresh without the lock could spend a refresh
// token another instance is spending, which BlueNexus treats as replay.
// Errors never hold a token or a user id.
func NewTokenStore(rdb redis.UniversalClient, opts ...Option) (bluenexus.TokenStore, error) {
	if rdb == nil {
		return nil, fmt.Errorf("redisflow: NewTokenStore: %w", errNilClient)
	}
	c, err := newConfig("NewTokenStore", defaultTokenPrefix, opts)
	if err != nil {
		return nil, err
	}
	return &tokenStore{rdb: rdb, prefix: c.prefix, timeout: c.timeout, replicas: c.replicas, now: c.now,
		lockTTL: defaultLockTTL, nonce: rand.Text}, nil
}

// key is the user's key: the prefix and the hex SHA-256 of the user id,
// in braces: a Redis Cluster hash tag, which keeps the pair and its lock
// (key + ":lock") in one slot, so that they fail over together.
func (s *tokenStore) key(user string) string {
	sum := sha256.Sum256([]byte(user))
	return s.prefix + "{" + hex.EncodeToString(sum[:]) + "}"
}

// Load implements bluenexus.TokenStore.
func (s *tokenStore) Load(ctx context.Context, user string) (bluenexus.Token, bool, error) {
	raw, err := within(ctx, s.timeout, func(ctx context.Context) ([]byte, error) {
		return s.rdb.Get(ctx, s.key(user)).Bytes()
	})
	switch {
	case errors.Is(err, redis.Nil):
		return bluenexus.Token{}, false, nil
	case err != nil:
		return bluenexus.Token{}, false, unavailable("tokens", err)
	}
	var rec tokenRecord
	if json.Unmarshal(raw, &rec) != nil || rec.V != tokenRecordVersion {
		// Never quote the value: it holds the tokens.
		return bluenexus.Token{}, false, errors.New("redisflow: tokens: the stored pair does not decode")
	}
	return bluenexus.Token{
		AccessToken:   bluenexus.AccessToken(rec.AccessToken),
		RefreshToken:  bluenexus.RefreshToken(rec.RefreshToken),
		Expiry:        rec.Expiry,
		RefreshExpiry: rec.RefreshExpiry,
		Scope:         rec.Scope,
	}, true, nil
}

// CompareAndSwap implements bluenexus.TokenStore.
func (s *tokenStore) CompareAndSwap(ctx context.Context, user string, old bluenexus.RefreshToken, next bluenexus.Token) (bool, error) {
	raw, err := json.Marshal(tokenRecord{
		V:             tokenRecordVersion,
		AccessToken:   next.AccessToken.Reveal(),
		RefreshToken:  next.RefreshToken.Reveal(),
		Expiry:        next.Expiry,
		RefreshExpiry: next.RefreshExpiry,
		Scope:         next.Scope,
	})
	if err != nil { // a time outside years 0-9999
		return false, errors.New("redisflow: tokens: the pair does not encode")
	}
	var ttl int64 // milliseconds; 0: no expiry
	if !next.RefreshExpiry.IsZero() {
		// Rounded up: never 0, never shorter than the refresh token. An
		// expired pair vanishes at once, which reads as "sign in again".
		ttl = max(1, (next.RefreshExpiry.Sub(s.now()) + time.Millisecond - 1).Milliseconds())
	}
	key := s.key(user)
	n, err := within(ctx, s.timeout, func(ctx context.Context) (int64, error) {
		args := []any{old.Reveal(), raw, strconv.FormatInt(ttl, 10)}
		var cmd *redis.Cmd
		if err := write(ctx, s.rdb, s.replicas, s.timeout, key, func(c redis.Cmdable) {
			if s.replicas == 0 {
				cmd = casScript.Run(ctx, c, []string{key}, args...)
			} else {
				cmd = casScript.Eval(ctx, c, []string{key}, args...) // EVALSHA's fallback cannot run in a pipeline
			}
		}); err != nil {
			return 0, err
		}
		return cmd.Int64()
	})
	if err != nil {
		return false, unavailable("tokens", err)
	}
	return n == 1, nil
}

// Lock implements bluenexus.TokenLocker.
func (s *tokenStore) Lock(ctx context.Context, user string) (func(), error) {
	key := s.key(user) + ":lock"
	for {
		// One try per pass; the loop waits. A grant that arrives after the
		// timeout (a stalled Redis, without ContextTimeoutEnabled) is lost
		// and holds the key until its expiry.
		value := s.nonce()
		got, err := within(ctx, s.timeout, func(ctx context.Context) (bool, error) {
			var cmd *redis.BoolCmd
			if err := write(ctx, s.rdb, s.replicas, s.timeout, key, func(c redis.Cmdable) {
				cmd = c.SetNX(ctx, key, value, s.lockTTL)
			}); err != nil {
				return false, err
			}
			return cmd.Result()
		})
		switch {
		case err == nil && got:
			var once sync.Once
			return func() { once.Do(func() { s.unlock(key, value) }) }, nil
		case ctx.Err() != nil:
			return nil, fmt.Errorf("redisflow: tokens: the user's refresh lock is held elsewhere; stopped waiting: %w", ctx.Err())
		case err != nil:
			// The lock may be set, on the master or on a replica that a
			// failover is promoting, without the acknowledgement: give it
			// back, unused, in the background until Redis answers, so that
			// it does not hold up this user's refreshes until it expires.
			go s.release(key, value)
			return nil, unavailable("tokens lock", err)
		}
		t := time.NewTimer(lockPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("redisflow: tokens: the user's refresh lock is held elsewhere; stopped waiting: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// release unlocks key, trying again every lockPoll, for releaseFor at
// most, while Redis does not answer (and the client is not closed).
func (s *tokenStore) release(key, value string) {
	for deadline := time.Now().Add(releaseFor); ; time.Sleep(lockPoll) {
		if err := s.unlock(key, value); err == nil || errors.Is(err, redis.ErrClosed) || time.Now().After(deadline) {
			return
		}
	}
}

// unlock releases the lock key if it still holds value, bounded by the
// timeout whatever the caller's context. A release that fails (Redis down)
// leaves the key to its expiry; one that finds another holder's value (the
// lock expired and was taken) deletes nothing.
func (s *tokenStore) unlock(key, value string) error {
	_, err := within(context.Background(), s.timeout, func(ctx context.Context) (int64, error) {
		return unlockScript.Run(ctx, s.rdb, []string{key}, value).Int64()
	})
	return err
}
