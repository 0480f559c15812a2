package flow

import (
	"errors"

	"github.com/handoffkit/handoffkit/internal/replay"
)

// Errors returned by [Manager.Open] and [Manager.OpenCookie]. Each means the
// return must do nothing but answer with a local 4xx (SECURITY.md B2).
var (
	// ErrMalformedState means the state is empty, longer than
	// [MaxStateLength], or has characters outside the base64url alphabet.
	// It is returned before any key is tried.
	ErrMalformedState = errors.New("session: malformed state")
	// ErrUnknownState means the state does not open with any cookie key:
	// forged, altered, or sealed with a key that was since removed.
	ErrUnknownState = errors.New("session: unknown state")
	// ErrWrongUser means the flow was started for another user than the one
	// signed in now (a user switch on a shared browser, or a state sent to
	// someone else).
	ErrWrongUser = errors.New("session: flow started by another user")
	// ErrNoFlow means a fixed-redirectUri return found no flow cookie that
	// opens.
	ErrNoFlow = errors.New("session: no flow in progress")
	// ErrExpired means the flow is older than the TTL.
	ErrExpired = replay.ErrExpired
	// ErrReplayed means the flow's state was already used. [ReplayGuard]
	// implementations return it too.
	ErrReplayed = replay.ErrReplayed
)

// ErrInvalidParams is returned by [Manager.Seal] for [Params] fields that
// hold bytes other than printable ASCII without spaces, or would make the
// state longer than [MaxStateLength].
var ErrInvalidParams = errors.New("session: invalid flow params")

// ErrUnavailable means the flow state could not be checked right now: a
// shared [ReplayGuard] did not answer. The return fails closed (no hook
// runs) and may succeed once it is back; it is a server error, not the
// browser's. Guard implementations wrap it (package redisflow does).
var ErrUnavailable = errors.New("session: flow state unavailable")
