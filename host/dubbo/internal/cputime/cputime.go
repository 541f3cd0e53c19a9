// Package cputime reports the CPU time a benchmark used per operation. The shared benchmark machine is often
// overloaded, and waiting for a core inflates ns/op but not CPU time, so benchmarks report both.
//
//	defer cputime.Report(b, cputime.Process())
//	for b.Loop() { ... }
package cputime

import "testing"

// Report adds the process CPU time used since start, divided by b.N, as the cpu-ns/op metric. It counts every
// goroutine of the process (the garbage collector, and in loopback benchmarks the server too).
func Report(b *testing.B, start int64) {
	if b.N > 0 {
		b.ReportMetric(float64(Process()-start)/float64(b.N), "cpu-ns/op")
	}
}
