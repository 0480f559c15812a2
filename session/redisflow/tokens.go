package redisflow

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/handoffkit/handoffkit/bluenexus"
)

// tokenRecordVersion is the "v" of the records written.
const tokenRecordVersion = 1

// tokenRecord is a pair as stored in Redis: JSON, one value per user.
// bluenexus's secret types marshal as [REDACTED], so the values are copied
// into plain strings here, the one place they are meant to go. leaseScript
// adds the lease: lease_holder, and lease_until in Unix milliseconds of
// Redis's clock.
type tokenRecord struct {
	V             int       `json:"v"`
	AccessToken   string    `json:"access_token"`
	RefreshToken  string    `json:"refresh_token"`
	Expiry        time.Time `json:"expiry"`
	RefreshExpiry time.Time `json:"refresh_expiry,omitzero"`
	Scope         string    `json:"scope,omitempty"`
}

// leaseScript leases the record KEYS[1] to holder ARGV[2] for ARGV[3]
// milliseconds of Redis's clock (TIME) if its refresh_token is ARGV[1] and
// it has no lease, or its lease ran out, or its lease is ARGV[2]'s. It
// returns 1 when it leased. The key keeps its time to live.
const leaseScript = `
if ARGV[1] == '' then return 0 end
local cur = redis.call('GET', KEYS[1])
if not cur then return 0 end
local ok, rec = pcall(cjson.decode, cur)
if not ok or type(rec) ~= 'table' or rec['refresh_token'] ~= ARGV[1] then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local holder, untilms = rec['lease_holder'], tonumber(rec['lease_until'])
if type(holder) == 'string' and holder ~= ARGV[2] and untilms and untilms > now then return 0 end
rec['lease_holder'] = ARGV[2]
rec['lease_until'] = now + tonumber(ARGV[3])
redis.call('SET', KEYS[1], cjson.encode(rec), 'KEEPTTL')
return 1
`

// unleaseScript ends the lease of holder ARGV[1] on KEYS[1], if it holds
// one: Lease's undo, so that a lease the replicas did not acknowledge does
// not hold the pair until it runs out.
const unleaseScript = `
local cur = redis.call('GET', KEYS[1])
if not cur then return 0 end
local ok, rec = pcall(cjson.decode, cur)
if not ok or type(rec) ~= 'table' or rec['lease_holder'] ~= ARGV[1] then return 0 end
rec['lease_holder'] = nil
rec['lease_until'] = nil
redis.call('SET', KEYS[1], cjson.encode(rec), 'KEEPTTL')
return 1
`

// casScript replaces KEYS[1] with ARGV[2], a record without a lease, only
// if the stored record's refresh_token is ARGV[1] (never empty); the
// arguments after ARGV[2] end the SET (PX ms, KEEPTTL or none). It
// returns 1 when it wrote, and when the key already holds ARGV[2]: a retry
// of a swap whose answer was lost then succeeds, and with WithReplicas
// waits for the replicas again. A record that does not decode is never
// replaced.
const casScript = `
if ARGV[1] == '' then return 0 end
local cur = redis.call('GET', KEYS[1])
if not cur then return 0 end
if cur == ARGV[2] then return 1 end
local ok, rec = pcall(cjson.decode, cur)
if not ok or type(rec) ~= 'table' or rec['refresh_token'] ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], unpack(ARGV, 3))
return 1
`

// tokenStore is NewTokenStore's store.
type tokenStore struct{ store }

// NewTokenStore returns a [bluenexus.TokenStore] on Redis that every
// instance of the app shares: one key per user holding the pair and its
// lease, with Lease and CompareAndSwap as Lua scripts timed by Redis's
// clock. Tokens are stored in clear: keep the Redis private (docs/tokens.md).
// A Redis that cannot answer is an error wrapping [session.ErrUnavailable].
// It does no I/O.
func NewTokenStore(rdb redis.UniversalClient, opts ...Option) (bluenexus.TokenStore, error) {
	s, err := newStore("NewTokenStore", rdb, defaultTokenPrefix, opts)
	if err != nil {
		return nil, err
	}
	return &tokenStore{s}, nil
}

// key is the user's key: the prefix and the hex SHA-256 of the user id,
// in braces (a Redis Cluster hash tag, kept so that existing keys stay
// where they are).
func (s *tokenStore) key(user string) string {
	sum := sha256.Sum256([]byte(user))
	return s.prefix + "{" + hex.EncodeToString(sum[:]) + "}"
}

// Load implements bluenexus.TokenStore.
func (s *tokenStore) Load(ctx context.Context, user string) (bluenexus.Token, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	raw, err := s.rdb.Get(ctx, s.key(user)).Bytes()
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

// encode is the record of tok, without a lease, and the time to live of
// its key in milliseconds (0: none).
func (s *tokenStore) encode(tok bluenexus.Token) ([]byte, int64, error) {
	raw, err := json.Marshal(tokenRecord{
		V:             tokenRecordVersion,
		AccessToken:   tok.AccessToken.Reveal(),
		RefreshToken:  tok.RefreshToken.Reveal(),
		Expiry:        tok.Expiry,
		RefreshExpiry: tok.RefreshExpiry,
		Scope:         tok.Scope,
	})
	if err != nil { // a time outside years 0-9999
		return nil, 0, errors.New("redisflow: tokens: the pair does not encode")
	}
	var ttl int64
	if !tok.RefreshExpiry.IsZero() {
		// Rounded up: never 0, never shorter than the refresh token. An
		// expired pair vanishes at once, which reads as "sign in again".
		ttl = max(1, (tok.RefreshExpiry.Sub(s.now()) + time.Millisecond - 1).Milliseconds())
	}
	return raw, ttl, nil
}

// Save implements bluenexus.TokenStore.
func (s *tokenStore) Save(ctx context.Context, user string, tok bluenexus.Token) error {
	raw, ttl, err := s.encode(tok)
	if err != nil {
		return err
	}
	key := s.key(user)
	err = s.write(ctx, key, func(ctx context.Context, c redis.Cmdable) redis.Cmder {
		return c.Set(ctx, key, raw, time.Duration(ttl)*time.Millisecond)
	}, nil)
	if err != nil {
		return unavailable("tokens", err)
	}
	return nil
}

// Lease implements bluenexus.TokenStore.
func (s *tokenStore) Lease(ctx context.Context, user string, rt bluenexus.RefreshToken, holder string, ttl time.Duration) (bool, error) {
	undo := func(ctx context.Context) { s.rdb.Eval(ctx, unleaseScript, []string{s.key(user)}, holder) }
	return s.script(ctx, user, undo, leaseScript, rt.Reveal(), holder, max(1, ttl.Milliseconds()))
}

// CompareAndSwap implements bluenexus.TokenStore.
func (s *tokenStore) CompareAndSwap(ctx context.Context, user string, old bluenexus.RefreshToken, next bluenexus.Token) (bool, error) {
	raw, ttl, err := s.encode(next)
	if err != nil {
		return false, err
	}
	args := []any{old.Reveal(), raw}
	switch {
	case ttl > 0:
		args = append(args, "PX", ttl)
	case next.RefreshToken == "":
		args = append(args, "KEEPTTL") // a dead pair lives as long as the pair it replaces
	}
	return s.script(ctx, user, nil, casScript, args...)
}

// script runs script on the user's key with args, waiting for the
// replicas with WithReplicas (undo as in write), and reports whether it
// returned 1.
func (s *tokenStore) script(ctx context.Context, user string, undo func(context.Context), script string, args ...any) (bool, error) {
	key := s.key(user)
	var cmd *redis.Cmd
	err := s.write(ctx, key, func(ctx context.Context, c redis.Cmdable) redis.Cmder {
		cmd = c.Eval(ctx, script, []string{key}, args...)
		return cmd
	}, undo)
	if err != nil {
		return false, unavailable("tokens", err)
	}
	return cmd.Val() == int64(1), nil
}
