package redisflow

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
	"github.com/redis/go-redis/v9"

	"github.com/handoffkit/handoffkit/session"
)

// maxRecord bounds a sealed record (and a cookie) the codecs write or read.
const maxRecord = 64 << 10

// idBytes is the entropy of a session id: 256 bits from crypto/rand.
const idBytes = 32

// Store is a gorilla [sessions.Store] that keeps each session's values in
// Redis and only a signed, encrypted random session id in the cookie. Give
// it to session.New instead of session.NewCookieStore when flows should
// live server-side: an old copy of the cookie then names the current
// record, from which finished flows are gone, and nothing but the id ever
// leaves the server.
//
// In Redis, a session is one string key: the prefix (defaultStorePrefix)
// followed by the hex SHA-256 of the session id, so the keys alone do not
// give the ids away. The value is sealed with the same keys as the cookie
// (HMAC-SHA256 and AES, through gorilla/securecookie, bound to its Redis
// key): Redis access alone can neither read the flows' states nor plant or
// edit a flow. The key's time to live is the session's MaxAge, which
// session.New sets to its TTL with [Store.MaxAge]; saving with MaxAge < 0
// deletes the key and the cookie.
//
// When Redis fails, Get returns a fresh session and an error wrapping
// [session.ErrUnavailable], and Save returns such an error without writing a cookie:
// nothing is ever saved or accepted on a guess.
//
// A Store is safe for concurrent use. Its Options, like those of gorilla's
// stores, are the defaults of new sessions; set them before use.
type Store struct {
	// Options are the cookie attributes and lifetime of new sessions.
	// NewStore sets Path=/, Secure, HttpOnly, SameSite=Lax and a MaxAge of
	// (10 * time.Minute); the session.Manager sets every attribute again on
	// each cookie it writes.
	Options *sessions.Options

	rdb      redis.UniversalClient
	codecs   []securecookie.Codec
	prefix   string
	timeout  time.Duration
	replicas int
}

// NewStore returns a Store on rdb whose cookies and records are sealed with
// keys, newest first: the first pair seals, every pair is tried to open, so
// keys rotate as with session.NewCookieStore (see the package
// documentation). The pairs follow session.NewCookieStore's rules (a 32- or
// 64-byte hash key and a 16-, 24- or 32-byte block key, from configuration,
// never generated at start-up); the key bytes are copied. [WithKeyPrefix]
// and [WithTimeout] apply; the Store does no I/O until used.
func NewStore(rdb redis.UniversalClient, keys []session.KeyPair, opts ...Option) (*Store, error) {
	if rdb == nil {
		return nil, fmt.Errorf("redisflow: NewStore: %w", errNilClient)
	}
	c, err := newConfig("NewStore", defaultStorePrefix, opts)
	if err != nil {
		return nil, err
	}
	// session.NewCookieStore holds the rules for key pairs: reuse them, so
	// that both stores accept exactly the same configuration.
	if _, err := session.NewCookieStore(keys...); err != nil {
		return nil, fmt.Errorf("redisflow: NewStore: %w", err)
	}
	pairs := make([][]byte, 0, 2*len(keys))
	for _, k := range keys {
		pairs = append(pairs, append([]byte(nil), k.Hash...), append([]byte(nil), k.Block...))
	}
	s := &Store{
		Options:  &sessions.Options{Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode},
		rdb:      rdb,
		codecs:   securecookie.CodecsFromPairs(pairs...),
		prefix:   c.prefix,
		timeout:  c.timeout,
		replicas: c.replicas,
	}
	for _, cd := range s.codecs {
		cd.(*securecookie.SecureCookie).SetSerializer(serializer{}).MaxLength(maxRecord)
	}
	s.MaxAge(int(math.Ceil((10 * time.Minute).Seconds())))
	return s, nil
}

// MaxAge sets the lifetime of new sessions in seconds: the cookie's Max-Age,
// the Redis key's time to live, and the oldest cookie and record the codecs
// accept. session.New calls it with its TTL.
func (s *Store) MaxAge(age int) {
	s.Options.MaxAge = age
	for _, c := range s.codecs {
		c.(*securecookie.SecureCookie).MaxAge(age)
	}
}

// Get returns the named session of the request, reading Redis once per
// request and name (gorilla's per-request registry).
func (s *Store) Get(r *http.Request, name string) (*sessions.Session, error) {
	return sessions.GetRegistry(r).Get(s, name)
}

// New reads the named session from the request's cookie and Redis, without
// the registry. It returns a new, empty session (IsNew) when there is no
// cookie or its record has expired or been deleted; a new session and a
// decoding error when the cookie or the record does not verify (tampered,
// sealed with a removed key, too old); and a new session and an error
// wrapping [session.ErrUnavailable] when Redis fails. A session read from Redis
// keeps its id; a new one gets a fresh id when first saved.
func (s *Store) New(r *http.Request, name string) (*sessions.Session, error) {
	sess := sessions.NewSession(s, name)
	opts := *s.Options
	sess.Options = &opts
	sess.IsNew = true
	c, err := r.Cookie(name)
	if err != nil {
		return sess, nil
	}
	var id string
	if err := securecookie.DecodeMulti(name, c.Value, &id, s.codecs...); err != nil {
		return sess, fmt.Errorf("redisflow: store: cookie: %w", err)
	}
	if !validID(id) {
		return sess, errors.New("redisflow: store: cookie: malformed session id")
	}
	key := s.key(id)
	raw, err := within(r.Context(), s.timeout, func(ctx context.Context) (string, error) {
		return s.rdb.Get(ctx, key).Result()
	})
	switch {
	case errors.Is(err, redis.Nil):
		return sess, nil // expired or deleted: a fresh session, under a fresh id
	case err != nil:
		return sess, unavailable("store read", err)
	}
	values := make(map[any]any)
	if err := securecookie.DecodeMulti(key, raw, &values, s.codecs...); err != nil {
		return sess, fmt.Errorf("redisflow: store: record: %w", err)
	}
	sess.Values, sess.ID, sess.IsNew = values, id, false
	return sess, nil
}

// Save writes the session to Redis and its id cookie to w. With
// Options.MaxAge < 0 it deletes the record and the cookie instead. A
// session without an id gets a fresh random one. MaxAge 0 makes a browser
// session cookie whose record lives for the store's own MaxAge. Nothing is
// written to w when Redis fails: the error wraps [session.ErrUnavailable].
func (s *Store) Save(r *http.Request, w http.ResponseWriter, sess *sessions.Session) error {
	name := sess.Name()
	if sess.Options == nil {
		opts := *s.Options
		sess.Options = &opts
	}
	if sess.Options.MaxAge < 0 {
		if sess.ID != "" {
			key := s.key(sess.ID)
			if _, err := within(r.Context(), s.timeout, func(ctx context.Context) (int64, error) {
				var cmd *redis.IntCmd
				if err := write(ctx, s.rdb, s.replicas, s.timeout, key, func(c redis.Cmdable) { cmd = c.Del(ctx, key) }); err != nil {
					return 0, err
				}
				return cmd.Result()
			}); err != nil {
				return unavailable("store delete", err)
			}
		}
		sess.ID = ""
		http.SetCookie(w, sessions.NewCookie(name, "", sess.Options))
		return nil
	}
	ttl := sess.Options.MaxAge
	if ttl == 0 {
		ttl = s.Options.MaxAge
	}
	if ttl <= 0 {
		return errors.New("redisflow: store: no lifetime: MaxAge must be positive")
	}
	id := sess.ID
	if id == "" {
		id = newID()
	}
	key := s.key(id)
	record, err := securecookie.EncodeMulti(key, sess.Values, s.codecs...)
	if err != nil {
		return fmt.Errorf("redisflow: store: record: %w", err)
	}
	cookie, err := securecookie.EncodeMulti(name, id, s.codecs...)
	if err != nil {
		return fmt.Errorf("redisflow: store: cookie: %w", err)
	}
	if _, err := within(r.Context(), s.timeout, func(ctx context.Context) (string, error) {
		var cmd *redis.StatusCmd
		if err := write(ctx, s.rdb, s.replicas, s.timeout, key, func(c redis.Cmdable) {
			cmd = c.Set(ctx, key, record, time.Duration(ttl)*time.Second)
		}); err != nil {
			return "", err
		}
		return cmd.Result()
	}); err != nil {
		return unavailable("store write", err)
	}
	sess.ID = id
	http.SetCookie(w, sessions.NewCookie(name, cookie, sess.Options))
	return nil
}

// key is the Redis key of a session id.
func (s *Store) key(id string) string {
	sum := sha256.Sum256([]byte(id))
	return s.prefix + hex.EncodeToString(sum[:])
}

func newID() string {
	var b [idBytes]byte
	rand.Read(b[:]) // never fails: crypto/rand crashes the program instead
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// validID reports whether id has the shape newID gives: 43 base64url
// characters.
func validID(id string) bool {
	if len(id) != base64.RawURLEncoding.EncodedLen(idBytes) {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(id)
	return err == nil
}
