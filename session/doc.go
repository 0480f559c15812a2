// Package session configures where the kit keeps the state of handoff flows
// between the redirect to BlueNexus and the browser's return: the cookie
// keys, the cookie store, the flow lifetime and the server-side replay
// guard. Package handlers builds a [Manager] with secure defaults from
// [handlers.Config.CookieKeys]; build one here only to change those defaults
// (a shared [ReplayGuard] for a fleet, a server-side store, a TTL) and hand
// it to handlers.WithFlows.
//
// # What a flow is
//
// Each /manage-connections begins a flow: a 256-bit state from crypto/rand,
// recorded with the intent, the next page, the return URI and the issue time
// in the browser's flow cookie. The return succeeds only for an exactly
// matching, unexpired, unused flow of this browser, and consumes it either
// way (SECURITY.md B1-B5). Several tabs have independent flows; a browser
// holds at most [WithMaxFlows] of them (default 5), and beginning one more
// supersedes the oldest.
//
// # Cookie
//
// Every cookie the Manager writes sets Path=/, Secure, HttpOnly,
// SameSite=Lax (Strict would drop the cookie on the top-level return from
// BlueNexus), Max-Age of the TTL and no Domain, under the name
// __Host-handoffkit-flow, whatever the store's defaults (SECURITY.md C1).
// Finishing the last flow deletes the cookie. The flows are stored as one
// short string value, well under the 4096-byte cookie limit at the maximum
// number of flows (SECURITY.md C4). A cookie that does not decode is "no
// flow", never a server error (SECURITY.md C5).
//
// # Replay
//
// Finishing a flow removes it from the cookie written back, but an older copy
// of the cookie still lists it. A [ReplayGuard] records used states
// server-side to close that gap:
//
//   - the default, in memory, gives strict one-time use on one instance and
//     forgets on restart. It holds 2,000 returns/s sustained in bounded
//     memory, and when it is full anyway it drops the entries that expire
//     first and refuses, as expired, flows issued before them: under
//     pressure the effective TTL shrinks, it never accepts a replay and
//     never refuses fresh flows wholesale;
//   - a guard shared by the fleet (package redisflow) gives it across
//     instances.
//
// There is no way to run without a guard: WithReplayGuard(nil) is an error.
//
// # Keys and rotation
//
// [NewCookieStore] and handlers.Config take key pairs ([KeyPair]) from
// configuration, newest first: the first pair signs and encrypts, all pairs
// are tried to read. [ParseKeys] reads them from the hex form that
// [GenerateKeys] prints. Never generate keys at start-up: replicas and
// restarts must read each other's cookies. To rotate with several
// instances:
//
//  1. Deploy [old, new] everywhere: cookies are still written with old, and
//     every instance can already read new.
//  2. Deploy [new, old] everywhere: cookies are now written with new.
//  3. After one TTL (default 10 minutes), when no cookie written with old
//     can still be accepted, deploy [new].
//
// A single instance can go straight to step 2. A cookie signed only with a
// removed key reads as no flow.
package session
