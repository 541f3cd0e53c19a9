//go:build unix

package cputime

import "syscall"

// Process returns the CPU time (user and system) the process has used, in nanoseconds.
func Process() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
