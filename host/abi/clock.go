package abi

import "time"

// nowNanos seeds AssemblyScript's Math.random; the guest has no better entropy source through env.
func nowNanos() int64 { return time.Now().UnixNano() }
