package flow

import (
	"fmt"
	"time"

	"github.com/handoffkit/handoffkit/internal/limits"
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

// Limits on [Params] fields, which must also be printable ASCII without
// spaces; they are the limits urlbuild checks (internal/limits). Together
// the fields must also keep the state within [MaxStateLength].
const (
	MaxIntentLength    = limits.Intent
	MaxNextLength      = limits.Next
	MaxReturnURILength = limits.ReturnURI
)

// Params is what a flow carries to the return.
type Params struct {
	// Intent is the handoff intent, e.g. "connections". At most
	// [MaxIntentLength] bytes.
	Intent string
	// Next is the local page to show after the return, already checked with
	// urlbuild.CheckNext. At most [MaxNextLength] bytes. Optional.
	Next string
	// ReturnURI is the redirectUri used for this flow, when it varies (for
	// example a mobile deep link picked from an allowlist). At most
	// [MaxReturnURILength] bytes. Optional.
	ReturnURI string
}

// Validate reports why p cannot be sealed into a state, wrapping
// [ErrInvalidParams], or nil.
func (p Params) Validate() error {
	for _, f := range [...]struct {
		name, v string
		max     int
	}{{"Intent", p.Intent, MaxIntentLength}, {"Next", p.Next, MaxNextLength}, {"ReturnURI", p.ReturnURI, MaxReturnURILength}} {
		if len(f.v) > f.max {
			return fmt.Errorf("%w: %s longer than %d bytes", ErrInvalidParams, f.name, f.max)
		}
		if !visibleASCII(f.v) {
			return fmt.Errorf("%w: %s has bytes other than printable ASCII without spaces", ErrInvalidParams, f.name)
		}
	}
	if n := StateLength(p); n > MaxStateLength {
		return fmt.Errorf("%w: next and redirect make a state of %d characters, over %d", ErrInvalidParams, n, MaxStateLength)
	}
	return nil
}

func visibleASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}
