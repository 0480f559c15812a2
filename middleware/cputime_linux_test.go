//go:build linux

package middleware

import (
	"syscall"
	"time"
)

// threadCPU returns the CPU time consumed by the calling OS thread
// (getrusage RUSAGE_THREAD). Benchmarks lock their goroutine to a thread and
// report it next to wall time: on a shared two-core machine wall time
// includes the time other processes held the CPU, thread CPU time does not.
func threadCPU() (time.Duration, bool) {
	const rusageThread = 1 // RUSAGE_THREAD, Linux
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
