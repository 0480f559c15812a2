package flow

import (
	"fmt"
	"strings"
	"time"
)

// Flow is one handoff flow: what [Manager.Seal] sealed and what
// [Manager.Open] hands back when the browser returns.
type Flow struct {
	// Intent is the handoff intent the flow was started for.
	Intent string
	// Next is the local page to show after the return, if any, as sealed;
	// check it with urlbuild.CheckNext before use.
	Next string
	// ReturnURI is the redirectUri the flow was started with, if the caller
	// recorded one.
	ReturnURI string
	// IssuedAt is when Seal ran, by the Manager's clock, to the millisecond.
	IssuedAt time.Time
	// ExpiresAt is IssuedAt plus the Manager's TTL.
	ExpiresAt time.Time

	nonce    [nonceBytes]byte
	userHash [userHashBytes]byte
	key      int // index of the key pair that opened it
}

// Params is what a flow carries to the return. Its fields are printable
// ASCII without spaces, and together keep the state within
// [MaxStateLength]: the caller checks them first (next with
// urlbuild.CheckNext, the return URI against an allowlist).
type Params struct {
	// Intent is the handoff intent, e.g. "connections".
	Intent string
	// Next is the local page to show after the return, already checked with
	// urlbuild.CheckNext. Optional.
	Next string
	// ReturnURI is the redirectUri used for this flow, when it varies (for
	// example a mobile deep link picked from an allowlist). Optional.
	ReturnURI string
}

// Validate reports why p cannot be sealed into a state, wrapping
// [ErrInvalidParams], or nil: what the sealed format needs, fields without
// spaces (which separate them) or other bytes outside printable ASCII, and
// a state of at most [MaxStateLength] characters.
func (p Params) Validate() error {
	for _, v := range [...]string{p.Intent, p.Next, p.ReturnURI} {
		if strings.ContainsFunc(v, func(r rune) bool { return r <= ' ' || r >= 0x7f }) {
			return fmt.Errorf("%w: bytes other than printable ASCII without spaces", ErrInvalidParams)
		}
	}
	if n := StateLength(p); n > MaxStateLength {
		return fmt.Errorf("%w: next and redirect make a state of %d characters, over %d", ErrInvalidParams, n, MaxStateLength)
	}
	return nil
}
