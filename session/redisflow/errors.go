package redisflow

import (
	"fmt"

	"github.com/handoffkit/handoffkit/session"
)

// [session.ErrUnavailable] means Redis could not be reached or did not answer in time
// (or refused the command): the guard could not record a state, or the
// token store could not read or write a pair. Both fail closed on it; see
// the package documentation. The wrapped error says what Redis or the
// client reported, and never holds a state, a token or a key. It wraps
// [session.ErrUnavailable], which the handlers answer with 503.
var errUnavailable = fmt.Errorf("redisflow: redis unavailable: %w", session.ErrUnavailable)
