//go:build !race

package replay

// raceEnabled reports whether the tests run under the race detector.
const raceEnabled = false
