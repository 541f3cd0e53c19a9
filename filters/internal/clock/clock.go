// Package clock reads the time with one host call instead of two. In a wasip1 guest, time.Now asks the host for
// the wall clock and for the monotonic clock (two clock_time_get calls, each a crossing into the host); the filters
// read the time on every rate-limited or token-checked request, so Now reads only the monotonic clock and adds it
// to a wall-clock base that is taken again every Resync.
//
//	now := clock.Now() // instead of time.Now()
package clock

import "time"

// Resync is how long a base is used. Between two bases the wall time follows the monotonic clock, so a step of the
// system clock (NTP, an operator) shows after at most this long.
const Resync = 10 * time.Second

// base is the last full reading; a VM runs one callback at a time, so it needs no lock.
var base time.Time

// Now returns the current time, wall and monotonic, like time.Now.
func Now() time.Time {
	if base.IsZero() {
		base = time.Now()
		return base
	}
	d := time.Since(base) // monotonic only: one host call
	if d < 0 || d >= Resync {
		base = time.Now()
		return base
	}
	return base.Add(d)
}
