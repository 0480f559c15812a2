//go:build !unix

package baseline

import "time"

// ProcessCPU returns 0: this platform's process CPU time is not read.
func ProcessCPU() time.Duration { return 0 }
