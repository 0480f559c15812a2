// Package bnwire holds what the kit's packages share about BlueNexus but a
// user of package bluenexus never calls: the wire format that both the
// client (bluenexus) and its emulator (bluenexus/bluenexustest) speak, and
// hooks into a *bluenexus.Client and a *bluenexus.TokenSource that only the
// kit's handlers (and its tests) need.
//
// It imports nothing of the kit, so that bluenexus, bluenexustest and
// handlers can all import it. The hooks are therefore function variables
// that package bluenexus sets in its init function; they are non-nil in
// every program that imports bluenexus.
package bnwire

import (
	"encoding/json"
	"time"
)

// Published API paths, relative to the API base URL (BLUENEXUS.md sections 1,
// 4 and 6).
const (
	// PathHandoffInit mints a handoff code (POST).
	PathHandoffInit = "/api/v1/auth/handoff/init"
	// PathConnections lists connections (GET); PathConnections + "/{id}"
	// reads one (GET) and PathConnections + "/{id}/refresh" re-authorises
	// its provider tokens (PUT).
	PathConnections = "/api/v1/connections"
	// PathToken is the OAuth token endpoint (POST, form-encoded), used with
	// grant_type=refresh_token.
	PathToken = "/api/v1/auth/token"
)

// ClientCriteriaMessage is the text BlueNexus sends when it cannot
// fingerprint the caller of handoff init. Its status is not published, so
// the client matches the text (ignoring case) whatever the status.
const ClientCriteriaMessage = "Unable to determine client criterias for secure handoff"

// ErrorBody is the error document BlueNexus returns across its API:
// {"error": "TooManyRequestsError", "message": "Rate limit exceeded",
// "statusCode": 429}, with optional "details" and, on 400, "errors". The
// token endpoint may instead answer in OAuth's shape {"error":
// "invalid_grant", "error_description": "..."} (RFC 6749 section 5.2), which
// decodes into the same struct.
type ErrorBody struct {
	Error            string          `json:"error"`
	Message          string          `json:"message"`
	ErrorDescription string          `json:"error_description,omitempty"`
	StatusCode       int             `json:"statusCode"`
	Details          json.RawMessage `json:"details,omitempty"`
	Errors           []FieldError    `json:"errors,omitempty"`
}

// FieldError is one entry of a 400 response's "errors" list. It has the
// fields of bluenexus.FieldError, which converts to and from it.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
	Value   any    `json:"value,omitempty"`
}

// ClientTimeout returns the whole-call time budget of a *bluenexus.Client
// (bluenexus.WithTimeout, 5 s by default). The handlers bound the two
// handoff init calls one user action may take (a second mint when the first
// code came back too short-lived) by one such budget. Users configure the
// budget but have no need to read it back, so it is not part of bluenexus's
// API. It panics when c is not a non-nil *bluenexus.Client: passing anything
// else is a bug in the kit.
//
// Set by package bluenexus in its init function.
var ClientTimeout func(c any) time.Duration

// RetryAfter reports how long to wait before calling BlueNexus again after
// err, an error of a bluenexus.Client method: the time left before an open
// circuit breaker lets calls through (bluenexus.ErrCircuitOpen), or the
// non-zero Retry-After of a *bluenexus.APIError. It returns false when err
// carries no such hint. The handlers turn it into their own Retry-After
// header.
//
// Set by package bluenexus in its init function.
var RetryAfter func(err error) (time.Duration, bool)

// SetTokenClock sets the clock a *bluenexus.TokenSource judges expiry by,
// and its client's (from which a refreshed pair's expiry counts), for tests
// that run the emulator on a fake clock: the source must see the time the
// emulator issues tokens by. Call it before the source is used. It panics when s is not a non-nil
// *bluenexus.TokenSource. Test-only: the kit never calls it.
//
// Set by package bluenexus in its init function.
var SetTokenClock func(s any, now func() time.Time)

// SetTokenSaveBudget sets how long a *bluenexus.TokenSource tries to save
// a refreshed pair (20 s by default), for tests that let a store stay down
// past it. Call it before the source is used. It panics when s is not a
// non-nil *bluenexus.TokenSource. Test-only: the kit never calls it.
//
// Set by package bluenexus in its init function.
var SetTokenSaveBudget func(s any, d time.Duration)
