// Package session configures how the kit carries a handoff flow from the
// redirect to BlueNexus to the browser's return: the cookie keys that seal
// it, its lifetime, and the server-side replay guard. Package handlers
// builds a [Manager] with secure defaults from [handlers.Config.CookieKeys];
// build one here only to change those defaults (a shared [ReplayGuard] for
// a fleet, a TTL, development cookies) and hand it to handlers.WithFlows.
//
// # What a flow is
//
// Each /manage-connections begins a flow and seals it into its state: a
// 128-bit nonce from crypto/rand, the issue time, a keyed hash (HMAC-SHA256)
// of the signed-in user's id, the intent, the next page and the return URI,
// encrypted and authenticated with AES-256-GCM under a key derived from the
// newest cookie key pair. The state rides in the redirectUri's query, so
// nothing is stored while the user is at BlueNexus. The return succeeds
// only for a state that opens with one of the keys, is younger than the
// TTL, was sealed for the user signed in now (compared in constant time),
// and was never used before: the replay guard consumes its nonce either way
// (SECURITY.md B1-B5). Any number of tabs, double clicks and instances work,
// since no shared record is read, changed and written back; an app that
// keeps no cookies returns as well as a browser does. With a 512-byte next
// page the state is 792 characters; a longer one is refused (at most 1024).
//
// # Fixed redirectUri
//
// Where the redirectUri cannot carry the state (handlers.WithFixedRedirectURI),
// the sealed state travels in a cookie of its own per flow instead, written
// through gorilla/sessions with Path=/, Secure, HttpOnly, SameSite=Lax
// (Strict would drop the cookie on the top-level return from BlueNexus),
// Max-Age of the TTL and no Domain, under a name that starts with
// __Host-handoffkit-flow- and ends with 48 bits of the flow's hash, whatever
// happens concurrently (SECURITY.md C1). A browser holds up to 5 such flows;
// a return completes the newest pending flow of the signed-in user, moving
// past any a concurrent return already took. A cookie that does not open is
// "no flow", never a server error (SECURITY.md C5).
//
// # Replay
//
// A sealed state stays valid until it expires, so a [ReplayGuard] records
// used nonces server-side:
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
// [New] and handlers.Config take key pairs ([KeyPair]) from configuration,
// newest first: the first pair seals, all pairs are tried to open.
// [ParseKeys] reads them from the hex form that [GenerateKeys] prints. Never
// generate keys at start-up: replicas and restarts must open each other's
// states. To rotate with several instances:
//
//  1. Deploy [old, new] everywhere: states are still sealed with old, and
//     every instance can already open new.
//  2. Deploy [new, old] everywhere: states are now sealed with new.
//  3. After one TTL (default 10 minutes), when no state sealed with old can
//     still be accepted, deploy [new].
//
// A single instance can go straight to step 2. A state sealed only with a
// removed key is refused as unknown.
package session
