// Package flow is the flow-state machinery behind package session: it begins
// and finishes handoff flows in a cookie of their own through any
// gorilla/sessions store, with a server-side replay guard. Package session
// exposes its configuration to users; package handlers drives it through
// [Of].
//
// [Manager.Begin] mints a 256-bit state from crypto/rand and records the flow
// (state, intent, next page, return URI, issue time) in the browser's flow
// cookie; [Manager.Finish] takes the state from the return URL and succeeds
// only for an exactly matching, unexpired, unused flow of this browser,
// consuming it either way (SECURITY.md B1-B5). [Manager.FinishLatest] binds
// the return by the cookie alone, for a fixed redirectUri.
//
// Flows are keyed by state, so several tabs have independent flows and
// finishing one never breaks another. A browser holds at most
// [WithMaxFlows] pending flows (default 5); beginning one more supersedes the
// oldest, and returning with its state fails with [ErrSuperseded].
//
// Every cookie the Manager writes sets Path=/, Secure, HttpOnly,
// SameSite=Lax, Max-Age of the TTL and no Domain, under the name
// __Host-handoffkit-flow, whatever the store's defaults (SECURITY.md C1).
// The flows are stored as one short string value in a line format of this
// package, well under the 4096-byte cookie limit (SECURITY.md C4). A cookie
// that does not decode is "no flow", never a server error (SECURITY.md C5).
package flow

// Of returns the flow manager behind a *session.Manager. Package session
// sets it at init; it lets package handlers drive the flows of a manager
// the user configured, without exporting Begin and Finish to users.
var Of func(sessionManager any) (*Manager, bool)
