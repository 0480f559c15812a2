package redisflow_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves goroutines behind, as in
// handlers, whose multi-instance and metrics tests moved here.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
