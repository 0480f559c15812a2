// Package baseline is the yardstick of handoffkit's speed: the two routes of
// the Manage Connections flow written by hand, as lean as plain code goes,
// with none of the kit's code. The benchmarks of package handlers run it
// ("lean") side by side with the kit, and cmd/handoff-benchserver serves it
// under HTTP load.
//
// [Lean] does the work of the kit's common path: at /manage-connections the
// signed-in user, a 128-bit nonce from crypto/rand, and {nonce, issue time,
// a keyed hash of the user, intent, next} sealed with AES-256-GCM (keys
// derived with HKDF from the cookie keys) into the state of the
// redirectUri; the handoff init call over a reused keep-alive connection
// under a 5 s context deadline; a 302 to the white-label page. At the
// return: the seal opened, the TTL and the user's hash checked (the hash in
// constant time), the nonce consumed in a map under a mutex, a 303 to next.
// Both answer no-store and no-referrer, and set no cookie.
//
// None of the kit's extras: no key rotation, redirect choice, JSON or POST
// modes, prefetch check, retries, circuit breaker or response caps, outcome
// flash, metrics or log event. It is not meant for production.
package baseline
