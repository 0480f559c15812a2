package flow

import (
	"errors"

	"github.com/handoffkit/handoffkit/internal/replay"
)

// Errors returned by [Manager.Finish] and [Manager.FinishLatest]. Each means
// the return must do nothing but answer with a local 4xx (SECURITY.md B2).
var (
	// ErrNoFlow means the request carries no flow cookie, or one that does
	// not decode and verify (tampered, signed with a removed key, renamed,
	// expired by the store), or one with no pending flow (SECURITY.md C5).
	ErrNoFlow = errors.New("session: no flow in progress")
	// ErrMalformedState means the state parameter is empty, not 43 bytes
	// long, or has characters outside the base64url alphabet. It is returned
	// before the cookie is read.
	ErrMalformedState = errors.New("session: malformed state")
	// ErrUnknownState means the state matches no pending flow of this
	// browser: someone else's state, or one this browser already used while
	// other flows are still pending.
	ErrUnknownState = errors.New("session: unknown state")
	// ErrExpired means the state matched a flow older than the TTL. The flow
	// is removed.
	ErrExpired = replay.ErrExpired
	// ErrReplayed means the flow's state was already used: the cookie
	// presented is an old copy. [ReplayGuard] implementations return it too.
	ErrReplayed = replay.ErrReplayed
	// ErrSuperseded means the state belonged to a flow that newer flows in
	// the same browser pushed out (see [WithMaxFlows]).
	ErrSuperseded = errors.New("session: flow superseded by newer flows")
)

// ErrInvalidParams is returned by [Manager.Begin] for [Params] fields that are
// too long or hold bytes other than printable ASCII without spaces.
var ErrInvalidParams = errors.New("session: invalid flow params")

// ErrUnavailable means the flow state could not be read or checked right
// now: a server-side store or a shared [ReplayGuard] did not answer. The
// return fails closed (no hook runs) and may succeed once it is back; it is
// a server error, not the browser's. Store and guard implementations wrap
// it (package redisflow does).
var ErrUnavailable = errors.New("session: flow state unavailable")

// ErrSave means the flow cookie could not be saved (the store's Save
// failed for a reason other than [ErrUnavailable]).
var ErrSave = errors.New("session: flow could not be saved")
