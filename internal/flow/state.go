package flow

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// KeyPair is one generation of cookie keys, loaded from configuration.
type KeyPair struct {
	// Hash is 32 or 64 bytes.
	Hash []byte
	// Block is 16, 24 or 32 bytes.
	Block []byte
}

// CheckKeyPair reports why k cannot be used, or nil.
func CheckKeyPair(k KeyPair) error {
	switch {
	case len(k.Hash) != 32 && len(k.Hash) != 64:
		return fmt.Errorf("hash key must be 32 or 64 bytes, got %d", len(k.Hash))
	case len(k.Block) != 16 && len(k.Block) != 24 && len(k.Block) != 32:
		return fmt.Errorf("block key must be 16, 24 or 32 bytes, got %d", len(k.Block))
	case bytes.Equal(k.Hash, make([]byte, len(k.Hash))) || bytes.Equal(k.Block, make([]byte, len(k.Block))):
		return errors.New("key is all zeros")
	case bytes.Equal(k.Hash[:len(k.Block)], k.Block):
		return errors.New("block key repeats the hash key")
	}
	return nil
}

// The sealed state, before encryption:
//
//	version(1) nonce(16) issued unix ms(8, big endian) user hash(16)
//	intent ' ' next ' ' return URI
//
// Fields are printable ASCII without spaces (Params.Validate), so a space
// separates them. AES-256-GCM with a random 96-bit nonce seals it (12 bytes
// of nonce and 16 of tag more), and base64url without padding carries it.
const (
	formatVersion = 1
	nonceBytes    = 16 // 128 bits from crypto/rand
	userHashBytes = 16
	headerBytes   = 1 + nonceBytes + 8 + userHashBytes
	gcmOverhead   = 12 + 16
	// MaxStateLength is the longest state, in characters: with a return URI
	// of up to 512 bytes it keeps the redirectUri well inside 2048.
	MaxStateLength = 1024
	// minSealed is the shortest sealed state, in bytes: empty fields.
	minSealed = headerBytes + 2 + gcmOverhead
)

// additionalData binds every seal to its purpose: a value sealed by another
// use of the same keys never opens as a flow state.
var additionalData = []byte("handoffkit flow state")

// StateLength returns the length, in characters, of the state that seals p.
func StateLength(p Params) int {
	return base64.RawURLEncoding.EncodedLen(headerBytes + len(p.Intent) + 1 + len(p.Next) + 1 + len(p.ReturnURI) + gcmOverhead)
}

// sealer seals and opens states with the keys derived from one key pair.
type sealer struct {
	aead    cipher.AEAD
	userKey []byte
}

// newSealer derives, with HKDF-SHA256 over both keys of the pair, an
// AES-256-GCM key and the key of the user hash, so that neither cookie key
// is used as is for another algorithm. With these fixed sizes none of the
// calls can fail.
func newSealer(k KeyPair) sealer {
	secret := append(bytes.Clone(k.Hash), k.Block...)
	sealKey, _ := hkdf.Key(sha256.New, secret, nil, "handoffkit flow state seal v1", 32)
	userKey, _ := hkdf.Key(sha256.New, secret, nil, "handoffkit flow state user v1", 32)
	block, _ := aes.NewCipher(sealKey)
	aead, _ := cipher.NewGCMWithRandomNonce(block)
	return sealer{aead: aead, userKey: userKey}
}

// userHash is the keyed hash of a user id that a state carries.
func (s sealer) userHash(user string) (h [userHashBytes]byte) {
	mac := hmac.New(sha256.New, s.userKey)
	mac.Write([]byte(user))
	copy(h[:], mac.Sum(nil))
	return h
}

// seal encrypts f and p into a state.
func (s sealer) seal(f *Flow, p Params) State {
	b := binary.BigEndian.AppendUint64(append([]byte{formatVersion}, f.nonce[:]...), uint64(f.IssuedAt.UnixMilli()))
	b = append(append(b, f.userHash[:]...), p.Intent+" "+p.Next+" "+p.ReturnURI...)
	return State(base64.RawURLEncoding.EncodeToString(s.aead.Seal(nil, nil, b, additionalData)))
}

// unseal opens a state with the first of sealers that authenticates it and
// reads it. It never consults the clock, the user or the guard.
func unseal(sealers []sealer, state string, ttl time.Duration) (Flow, error) {
	// 1 to MaxStateLength base64url characters (SECURITY.md B3): the
	// decoder refuses any other byte but skips newlines.
	if len(state) == 0 || len(state) > MaxStateLength || strings.ContainsAny(state, "\r\n") {
		return Flow{}, ErrMalformedState
	}
	sealed, err := base64.RawURLEncoding.DecodeString(state)
	if err != nil || len(sealed) < minSealed {
		return Flow{}, ErrMalformedState
	}
	for i, s := range sealers {
		b, err := s.aead.Open(nil, nil, sealed, additionalData)
		if err != nil {
			continue
		}
		// Authenticated, so written by the kit: anything unreadable is a
		// format this version does not know.
		if b[0] != formatVersion {
			return Flow{}, ErrUnknownState
		}
		var f Flow
		copy(f.nonce[:], b[1:])
		copy(f.userHash[:], b[1+nonceBytes+8:])
		fields := strings.SplitN(string(b[headerBytes:]), " ", 3)
		if len(fields) != 3 {
			return Flow{}, ErrUnknownState
		}
		f.Intent, f.Next, f.ReturnURI = fields[0], fields[1], fields[2]
		f.IssuedAt = time.UnixMilli(int64(binary.BigEndian.Uint64(b[1+nonceBytes:]))).UTC()
		f.ExpiresAt = f.IssuedAt.Add(ttl)
		f.key = i
		return f, nil
	}
	return Flow{}, ErrUnknownState
}

const redacted = "[REDACTED]"

// State is a sealed flow state, in base64url without padding. It prints,
// formats and marshals (text, JSON, and so zerolog) as [REDACTED];
// [State.Reveal] returns the value for the redirectUri.
type State string

// Reveal returns the state itself.
func (s State) Reveal() string { return string(s) }

// String returns [REDACTED].
func (s State) String() string { return redacted }

// Format prints [REDACTED] for every verb, %#v too.
func (s State) Format(f fmt.State, _ rune) { f.Write([]byte(redacted)) }

// MarshalText returns [REDACTED]; encoding/json uses it too.
func (s State) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// guardID is the id a flow is recorded under in the [ReplayGuard]: the hex
// SHA-256 of its nonce, so a guard's storage never holds the nonce itself.
func guardID(nonce [nonceBytes]byte) string {
	sum := sha256.Sum256(nonce[:])
	return hex.EncodeToString(sum[:])
}
