// Package replay is the kit's in-memory record of used flow states: the
// default replay guard of package session (SECURITY.md B4). Finishing a flow
// removes it from the cookie written back, but an older copy of the cookie
// still lists it; the guard is what refuses that copy.
//
// [Guard.Consume] is called once per return with id, the hex SHA-256 of the
// state, and expiresAt, the flow's issue time plus its TTL. The first call
// for an id returns nil, every later one until expiresAt [ErrReplayed]; a
// call past expiresAt returns [ErrExpired]. One Guard serves one process:
// it forgets everything on restart and is not shared by a fleet (package
// redisflow is).
//
// # Design
//
// One map under one mutex, from a 64-bit digest of id ([hash/maphash], with
// a seed drawn in [New], so no one outside the process can aim two ids at
// one digest) to its expiresAt. Once a minute a call sweeps: it copies the
// unexpired entries to a new map and drops the old one, O(n) once a minute,
// a few entries per call amortised. Copying rather than deleting keeps the
// map from growing under churn: a map deleted from grew from 18 to 36 MiB
// in 25 simulated minutes of steady load (TestSustainedLoad).
//
// No library fits: TTL and LRU caches evict unexpired keys when full, which
// here would accept a replay.
//
// # Memory
//
// Take 2,000 returns/s sustained, each 5 s to 9 min after its flow began
// (uniformly), with a 10-minute TTL. An id is held from its return until
// the first sweep after its expiry: its remaining life, 10 min minus its
// delay (60 s to 595 s), plus up to a minute.
//
//   - Uniform delays: the mean remaining life is 600 s − 272.5 s = 327.5 s,
//     so by Little's law 2,000 × 327.5 = 655,000 unexpired ids, plus, just
//     before a sweep, the 2,000 × 60 = 120,000 expired since the last one:
//     a peak of 775,000 (775,681 measured by TestSustainedLoad).
//   - The worst case in that range, every return 5 s after its flow
//     began: 2,000 × (595 s + 60 s) = 1,310,000.
//
// [DefaultMaxEntries] is 1,500,000: the worst case with 14% to spare, 1.9
// times the uniform peak. Each id costs one slot of a Go map, 16 bytes of
// key and value and one control byte, in tables kept 7/16 to 7/8 full: 19
// to 39 bytes, 24 to 25 measured. A full guard is therefore at most
// 1,500,000 × 39 B = 55.6 MiB (36.0 MiB measured by
// TestDefaultCapacityMemory), and 18.0 MiB at the 2,000/s peak: under
// 64 MiB of live heap. A sweep holds the old map and the new one for its
// duration. (The Go collector lets the heap grow past what is live, by
// GOGC, as for any allocation.)
//
// # Collisions
//
// Two ids with one digest can only make a first use look like a replay: a
// fresh return refused with ErrReplayed. A replay always has its original's
// digest, so a collision never accepts one. Each call compares one digest
// with the n held, so the odds of a false refusal are about n / 2^64 per
// return: 775,000 / 1.8e19 = 4.2e-14 at the 2,000/s peak, 8.1e-14 when full.
// At 2,000 returns/s, 6.3e10 returns a year, that is one false refusal in
// about 380 years.
//
// # Under pressure
//
// When the guard is full of unexpired ids it never refuses fresh flows
// wholesale and never accepts a replay: it forgets the ids in the first
// eighth of their span of expiries (at least one) and remembers the end of
// that eighth as a floor. From then on a call with expiresAt at or before
// the floor returns [ErrUnderPressure], which wraps [ErrExpired], since the
// guard can no longer tell its first use from a replay: the effective TTL
// shrinks, while a flow begun after the dropped ones (a fresh one) is still
// accepted. So one client finishing flows in a loop cannot make another
// client's fresh return fail, and only makes returns of flows older than
// its own refused once it has filled the guard. A drop scans the map, once
// per eighth of it filled.
package replay
