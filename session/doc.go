// Package session keeps the state of handoff flows between the redirect to
// BlueNexus and the browser's return, in a cookie of its own through any
// gorilla/sessions store.
//
// [Manager.Begin] mints a 256-bit state from crypto/rand and records the flow
// (state, intent, next page, return URI, issue time) in the browser's flow
// cookie; [Manager.Finish] takes the state from the return URL and succeeds
// only for an exactly matching, unexpired, unused flow of this browser,
// consuming it either way (SECURITY.md B1-B5). [Manager.FinishLatest] binds
// the return by the cookie alone, for a fixed redirectUri.
//
// # Tabs
//
// Flows are keyed by state, so several tabs have independent flows and
// finishing one never breaks another. A browser holds at most
// [WithMaxFlows] pending flows (default 5); beginning one more supersedes the
// oldest, and returning with its state fails with [ErrSuperseded].
// Requests of one browser that run at the same moment each rewrite the whole
// cookie, so the last response wins: a flow lost that way fails closed with
// [ErrUnknownState].
//
// # Replay
//
// Finish removes the flow from the cookie it writes back, but an older copy
// of the cookie still lists it. A [ReplayGuard] records used states
// server-side to close that gap:
//
//   - the default [MemoryGuard] gives strict one-time use on one instance,
//     forgetting on restart;
//   - a guard shared by the fleet (Redis) gives it across instances;
//   - with WithReplayGuard(nil) there is none: a saved copy of the cookie can
//     finish the same flow again until it expires (at most the TTL, default
//     10 minutes). That needs a copy of the victim's HttpOnly cookie and the
//     state; disable the guard only where that risk is accepted.
//
// # Cookie
//
// Every cookie the Manager writes sets Path=/, Secure, HttpOnly,
// SameSite=Lax (Strict would drop the cookie on the top-level return from
// BlueNexus), Max-Age of the TTL and no Domain, under the name
// __Host-handoffkit-flow, whatever the store's defaults (SECURITY.md C1).
// Finishing the last flow deletes the cookie. The flows are stored as one
// short string value in a line format of this package, well under the
// 4096-byte cookie limit at the maximum number of flows (SECURITY.md C4). A
// cookie that does not decode is "no flow", never a server error
// (SECURITY.md C5). The Manager reads the session through the store's Get
// (gorilla's per-request registry), so several calls in one request see each
// other's changes.
//
// # Keys and rotation
//
// [NewCookieStore] takes key pairs ([KeyPair]) from configuration, newest first: the
// first pair signs and encrypts, all pairs are tried to read. Never generate
// keys at start-up: replicas and restarts must read each other's cookies.
// To rotate with several instances:
//
//  1. Deploy [old, new] everywhere: cookies are still written with old, and
//     every instance can already read new.
//  2. Deploy [new, old] everywhere: cookies are now written with new.
//  3. After one TTL (default 10 minutes), when no cookie written with old
//     can still be accepted, deploy [new].
//
// A single instance can go straight to step 2. A cookie signed only with a
// removed key reads as [ErrNoFlow].
package session
