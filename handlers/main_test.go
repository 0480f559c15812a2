package handlers_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves goroutines behind: upstream
// calls that outlive their budget, emulator latencies that never end,
// connections that are never closed.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
