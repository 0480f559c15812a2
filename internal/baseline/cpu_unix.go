//go:build unix

package baseline

import (
	"syscall"
	"time"
)

// ProcessCPU returns the CPU time (user and system) this process has used,
// for benchmarks that report it beside wall time; 0 where unknown.
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
