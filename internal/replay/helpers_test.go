package replay

import (
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// t0 is where the fake clocks start.
var t0 = time.Unix(1_699_999_980, 0)

const ttl = 10 * time.Minute

// clock is a fake clock that moves only when told; safe for concurrent use.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(t0.UnixNano())
	return c
}

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// idFor returns a distinct 64-hex-digit id for each i, shaped like the hex
// SHA-256 the kit passes.
func idFor(i uint64) string {
	var b [32]byte
	for w := range 4 {
		binary.LittleEndian.PutUint64(b[8*w:], splitmix(i*4+uint64(w)))
	}
	return hex.EncodeToString(b[:])
}

// splitmix is a bijection on uint64 that scrambles its input.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// Shape of the load the default capacity is sized for.
const (
	rate     = 2000 // returns per second
	minDelay = 5 * time.Second
	maxDelay = 9 * time.Minute
)

// delay draws how long after its flow began a return arrives: uniform over
// [minDelay, maxDelay].
func delay(r *rand.Rand) time.Duration {
	return minDelay + time.Duration(r.Int64N(int64(maxDelay-minDelay)+1))
}

// idArena returns a random hex string of n+64 characters: its windows
// s[i:i+64] are n distinct ids that cost no allocation to take.
func idArena(n int) string {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, (n+64)/2+1)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return hex.EncodeToString(b)[:n+64]
}
