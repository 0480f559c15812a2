package flow

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
)

// KeyPair is one generation of cookie keys, loaded from configuration.
type KeyPair struct {
	// Hash authenticates the cookie (HMAC-SHA256): 32 or 64 bytes.
	Hash []byte
	// Block encrypts the cookie (AES-CTR): 16, 24 or 32 bytes. Required:
	// the cookie holds the flow's states and pages, which only the server
	// needs to read.
	Block []byte
}

// NewCookieStore returns a gorilla [sessions.CookieStore] for the flow
// cookie, keyed by keys, newest first (SECURITY.md C3). The first pair signs
// and encrypts new cookies; every pair is tried to read one, so a pair stays
// listed after a newer one until cookies written with it have expired (see
// the package documentation for the rotation procedure).
//
// Keys come from configuration, never from a random source at start-up:
// replicas and restarts must read each other's cookies. Each pair must have
// a 32- or 64-byte hash key and a 16-, 24- or 32-byte block key, the two
// different and neither all zeros; no keys at all is an error. The key bytes
// are copied.
//
// The store is for the flow cookie only: its codecs serialize just the
// Manager's one string value, with no gob encoding around it, which keeps
// the cookie shorter and reading it several times cheaper. Other session
// values fail to save.
//
// The store's defaults are the flow cookie's attributes (Path=/, Secure,
// HttpOnly, SameSite=Lax, no Domain) with a lifetime of [DefaultTTL], set
// with the store's MaxAge method so that it also bounds the age of the
// cookies the codecs accept (SECURITY.md C2). [New] applies its own TTL the
// same way and sets every attribute again on each cookie it writes.
func NewCookieStore(keys ...KeyPair) (*sessions.CookieStore, error) {
	if len(keys) == 0 {
		return nil, errors.New("session: NewCookieStore: no key pairs")
	}
	pairs := make([][]byte, 0, 2*len(keys))
	for i, k := range keys {
		if err := k.check(); err != nil {
			return nil, fmt.Errorf("session: NewCookieStore: key pair %d: %w", i, err)
		}
		pairs = append(pairs, bytes.Clone(k.Hash), bytes.Clone(k.Block))
	}
	s := sessions.NewCookieStore(pairs...)
	for _, c := range s.Codecs {
		c.(*securecookie.SecureCookie).SetSerializer(flowSerializer{})
	}
	s.Options = &sessions.Options{
		Path:     "/",
		Secure:   true,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	}
	s.MaxAge(maxAgeSeconds(DefaultTTL))
	return s, nil
}

func (k KeyPair) check() error {
	switch {
	case len(k.Hash) != 32 && len(k.Hash) != 64:
		return fmt.Errorf("hash key must be 32 or 64 bytes, got %d", len(k.Hash))
	case len(k.Block) != 16 && len(k.Block) != 24 && len(k.Block) != 32:
		return fmt.Errorf("block key must be 16, 24 or 32 bytes, got %d", len(k.Block))
	case allZero(k.Hash) || allZero(k.Block):
		return errors.New("key is all zeros")
	case bytes.Equal(k.Hash[:len(k.Block)], k.Block):
		return errors.New("block key repeats the hash key")
	}
	return nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// flowSerializer is the codecs' serializer for the flow cookie: the session
// values map holds at most the Manager's one string, stored as its bytes.
type flowSerializer struct{}

var errForeignValues = errors.New("session: flow cookie store holds only the flow value")

// Serialize implements [securecookie.Serializer].
func (flowSerializer) Serialize(src any) ([]byte, error) {
	values, ok := src.(map[any]any)
	if !ok {
		return nil, errForeignValues
	}
	switch v, has := values[valueKey]; {
	case len(values) == 0:
		return []byte{}, nil
	case len(values) == 1 && has:
		if s, ok := v.(string); ok {
			return []byte(s), nil
		}
	}
	return nil, errForeignValues
}

// Deserialize implements [securecookie.Serializer].
func (flowSerializer) Deserialize(src []byte, dst any) error {
	values, ok := dst.(*map[any]any)
	if !ok {
		return errForeignValues
	}
	if *values == nil {
		*values = make(map[any]any, 1)
	}
	if len(src) > 0 {
		(*values)[valueKey] = string(src)
	}
	return nil
}

// CheckKeyPair reports why k cannot be used, or nil.
func CheckKeyPair(k KeyPair) error { return k.check() }
