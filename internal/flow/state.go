package flow

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
)

// StateLength is the length of a state: 32 bytes in base64url without
// padding.
const StateLength = 43

// stateBytes is the entropy of a state: 256 bits from crypto/rand.
const stateBytes = 32

const redacted = "[REDACTED]"

// State is a flow's state value: 32 bytes from crypto/rand in base64url
// without padding (43 characters). It prints, formats and marshals (text,
// JSON, and so zerolog) as [REDACTED]; [State.Reveal] returns the value for
// the redirectUri.
type State string

// Reveal returns the state itself.
func (s State) Reveal() string { return string(s) }

// String returns [REDACTED].
func (s State) String() string { return redacted }

// GoString returns [REDACTED].
func (s State) GoString() string { return redacted }

// Format prints [REDACTED] for every verb.
func (s State) Format(f fmt.State, _ rune) { f.Write([]byte(redacted)) }

// MarshalText returns [REDACTED].
func (s State) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// MarshalJSON returns "[REDACTED]".
func (s State) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// newState returns a fresh random state.
// NewState returns a fresh state: 32 bytes from crypto/rand, base64url.
func NewState() (State, error) {
	var b [stateBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("session: read random state: %w", err)
	}
	return State(base64.RawURLEncoding.EncodeToString(b[:])), nil
}

// wellFormedState reports whether s has the shape of a state: 43 base64url
// characters (SECURITY.md B3).
func wellFormedState(s string) bool {
	if len(s) != StateLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// equal compares a and b in constant time for equal lengths.
func equal(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	var v byte
	for i := 0; i < len(a); i++ {
		v |= a[i] ^ b[i]
	}
	return subtle.ConstantTimeByteEq(v, 0) == 1
}

// guardID is the id a state is recorded under in the [ReplayGuard]: the hex
// SHA-256 of the state, so a guard's storage never holds a usable state.
func guardID(state string) string {
	sum := sha256.Sum256([]byte(state))
	return hex.EncodeToString(sum[:])
}

// tagLength is the length of a superseded flow's tag.
const tagLength = 16

// supersededTag is what the cookie keeps of a flow pushed out by newer ones:
// the hex of the first 8 bytes of the state's SHA-256.
func supersededTag(state string) string {
	sum := sha256.Sum256([]byte(state))
	return hex.EncodeToString(sum[:tagLength/2])
}
