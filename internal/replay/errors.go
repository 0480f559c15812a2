package replay

import (
	"errors"
	"fmt"
)

// Errors returned by [Guard.Consume]. Their messages carry the session
// package's prefix because package session re-exports them as its own
// sentinels (session.ErrReplayed, session.ErrExpired).
var (
	// ErrReplayed means the id was consumed before and its expiresAt has not
	// passed: the return is a replay of a used state.
	ErrReplayed = errors.New("session: state already used")
	// ErrExpired means the flow is past its expiresAt, or that the guard,
	// under pressure, dropped entries expiring at or after it and so refuses
	// it as expired (see [Stats.Floor]).
	ErrExpired = errors.New("session: flow expired")
)

// ErrUnderPressure is what Consume returns for an expiresAt at or before the
// floor. It is built once so that refusing allocates nothing.
var ErrUnderPressure = fmt.Errorf("replay: refused as expired: replay guard under pressure: %w", ErrExpired)
