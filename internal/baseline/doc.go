// Package baseline is the yardstick of handoffkit's speed: the two routes of
// the Manage Connections flow written by hand, twice, with none of the kit's
// code. The benchmarks of package handlers run both side by side with the
// kit, and cmd/handoff-benchserver serves [Handlers] under HTTP load.
//
//   - [Handlers] ("gorilla") is what a competent engineer writes the first
//     time: a gorilla/sessions CookieStore with its default gob encoding, a
//     map for the handoff init body, URLs rebuilt with url.Values,
//     http.Redirect.
//   - [Lean] ("lean") is the same work with the obvious waste taken out:
//     securecookie directly (the cookie value is the state, stamped with
//     its issue time by securecookie), structs with encoding/json for the
//     handoff init, URL prefixes parsed once, the cookie deleted at the
//     return. It bounds from below what plain code costs.
//
// Both do the same work as the kit's common path (a 256-bit state in a
// signed and encrypted cookie with the same attributes, the handoff init
// call over a reused keep-alive connection under a 5 s context deadline,
// the white-label redirect, the constant-time state check at the return)
// and none of the kit's extras:
// no replay guard, no multi-tab flows, no `next` or redirect choice, no
// retries, circuit breaker or response caps, no outcome flash or metrics.
// They are not meant for production.
package baseline
