package session

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/handoffkit/handoffkit/internal/flow"
)

// KeyPair is one generation of cookie keys: Hash (32 or 64 bytes) and Block
// (16, 24 or 32 bytes). Together they seal the flow state. Keys that are all
// zeros, or a block key that repeats the start of the hash key, are refused.
type KeyPair = flow.KeyPair

// ParseKeys reads key pairs from configuration in the form [GenerateKeys]
// prints: "hashkey:blockkey" in hex, several pairs comma separated, newest
// first. Spaces around pairs are ignored. Each pair is checked as [New]
// checks it; the error names the pair but never shows a key.
func ParseKeys(s string) ([]KeyPair, error) {
	var out []KeyPair
	for i, part := range strings.Split(s, ",") {
		h, b, ok := strings.Cut(strings.TrimSpace(part), ":")
		hk, err1 := hex.DecodeString(h)
		bk, err2 := hex.DecodeString(b)
		if !ok || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("session: ParseKeys: pair %d: want hashkey:blockkey in hex", i)
		}
		k := KeyPair{Hash: hk, Block: bk}
		if err := flow.CheckKeyPair(k); err != nil {
			return nil, fmt.Errorf("session: ParseKeys: pair %d: %w", i, err)
		}
		out = append(out, k)
	}
	return out, nil
}

// GenerateKeys returns a new random key pair (a 32-byte hash key and a
// 32-byte block key from crypto/rand) in the form [ParseKeys] reads. Run it
// once and keep the result in the app's configuration or secret store; to
// rotate, put a new pair in front of the old one.
func GenerateKeys() (string, error) {
	var k [64]byte
	rand.Read(k[:]) // never fails: crypto/rand crashes the program instead
	return hex.EncodeToString(k[:32]) + ":" + hex.EncodeToString(k[32:]), nil
}
