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
// An entry is a 64-bit digest of id, [hash/maphash] with a seed drawn in
// [New], so no one outside the process can aim two ids at one digest. The
// expiry is not stored per entry: entries live in buckets by expiry time,
// one minute wide, each a map[uint64]struct{}, kept in a slice ordered by
// the bucket's end. A call looks in every live bucket (a replay is found
// whatever expiresAt it gives), and a bucket whose end has passed is
// forgotten whole, O(1): there is no sweep, and no map ever sees a delete,
// so none collects tombstones and grows under churn. The lock is held for
// one lookup per live bucket, 11 for the default 10-minute TTL: about 1 to
// 2 µs, against the tens of milliseconds of the BlueNexus round trip of the
// same return. Ten-second buckets took 7 µs (60 lookups); a single map with
// deletes grew from 23 to 37 MiB in under three hours of steady load.
//
// No library fits: TTL and LRU caches evict unexpired keys when full, which
// here would accept a replay, and store a key, a value and list links per
// entry (100 bytes and more), where this needs 8 bytes of digest.
//
// # Memory
//
// Take 2,000 returns/s sustained, each 5 s to 9 min after its flow began
// (uniformly), with a 10-minute TTL. An id is held from its return until
// its bucket ends: its remaining life, 10 min minus its delay (60 s to
// 595 s), plus up to one bucket, 60 s.
//
//   - Uniform delays: the mean remaining life is 600 s − 272.5 s = 327.5 s,
//     so by Little's law 2,000 × 327.5 = 655,000 unexpired ids, plus, just
//     before a bucket ends, the 2,000 × 60 = 120,000 whose expiry already
//     passed in it: a peak of 775,000 (775,701 measured by
//     TestSustainedLoad).
//   - The worst case in that range, every return 5 s after its flow
//     began: 2,000 × (595 s + 60 s) = 1,310,000.
//
// [DefaultMaxEntries] is 1,500,000: the worst case with 14% to spare, 1.9
// times the uniform peak. Each id costs one slot of a Go map, 16 bytes (the empty
// value is padded to the key's alignment) and one control byte, in tables
// kept 7/16 to 7/8 full: 19 to 39 bytes, 31 to 32 measured. A full guard is
// therefore at most 1,500,000 × 39 B = 55.6 MiB (45.1 MiB measured by
// TestDefaultCapacityMemory), and 23.8 MiB at the 2,000/s peak: under
// 64 MiB of live heap. (The Go collector lets the heap grow past what is
// live, by GOGC, as for any allocation.)
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
// When the guard is full it never refuses fresh flows wholesale and never
// accepts a replay: it drops the bucket that expires first and remembers a
// floor, the latest expiresAt among the ids dropped. From then on a call
// with expiresAt at or before the floor returns an error wrapping
// [ErrExpired] ("refused as expired: replay guard under pressure"), since
// the guard can no longer tell its first use from a replay: the effective
// TTL shrinks, by at most a minute per drop, while a flow begun after the
// dropped ones (a fresh one) is still accepted. So one client finishing
// flows in a loop cannot make another client's fresh return fail, and only
// makes returns of flows older than its own refused once it has filled the
// guard. The guard counts the ids dropped and the calls refused under pressure;
// its tests read them.
package replay
