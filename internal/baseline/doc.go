// Package baseline is the yardstick of handoffkit's speed: the two routes of
// the Manage Connections flow written by hand, plainly, with the same
// libraries (gorilla/sessions with its default gob encoding, net/http,
// encoding/json, net/url) and none of the kit's code, the way a competent
// engineer writes them the first time. The benchmarks of package handlers
// and cmd/handoff-benchserver run it side by side with the kit.
//
// It does the same work as the kit's common path (a 256-bit state in a
// signed and encrypted cookie with the same attributes, the handoff init
// call over a reused keep-alive connection, the white-label redirect, the
// constant-time state check at the return) and none of the kit's extras:
// no replay guard, no multi-tab flows, no `next` or redirect choice, no
// retries, circuit breaker or response caps, no outcome flash or metrics.
// It is not meant for production.
package baseline
