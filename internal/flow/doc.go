// Package flow is the flow-state machinery behind package session: it seals
// a handoff flow into the state that travels in the redirectUri, and opens
// it again at the return, with a server-side replay guard. Package session
// names it for users (session.Manager is a [Manager]) and sets its
// [Config]; package handlers drives it.
//
// [Manager.Seal] puts the flow (a 128-bit nonce from crypto/rand, the issue
// time, a keyed hash of the user's id, the intent, the next page and the
// return URI) into a state encrypted and authenticated with AES-256-GCM
// under a key derived from the newest cookie key pair. [Manager.Open] opens
// it with any listed pair, checks its age and that the signed-in user is the
// one it was sealed for (in constant time), and consumes its nonce in the
// replay guard (SECURITY.md B1-B5). Nothing is stored between the two: any
// number of tabs, double clicks and instances work, since there is no shared
// record to read, change and write back.
//
// Where the redirectUri is fixed and cannot carry the state
// ([Manager.SetCookie], [Manager.OpenCookie]), the sealed state travels in a
// cookie of its own per flow, named after the flow, so concurrent flows
// never overwrite each other.
package flow
