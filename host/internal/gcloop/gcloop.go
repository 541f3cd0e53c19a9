// Package gcloop keeps Go's garbage collector running for tests of code that must not block it: a guest spinning
// in wazero's compiled code, which Go cannot preempt, would otherwise keep a GC from ever stopping the world and
// hang the process.
package gcloop

import (
	"runtime"
	"testing"
)

// Run calls runtime.GC over and over from its own goroutine until t ends.
func Run(t testing.TB) {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				runtime.GC()
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
}
