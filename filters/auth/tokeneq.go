package main

import "unsafe"

// equalWords reports whether a == b, comparing eight bytes per step. In gc's Wasm code string == runs
// internal/bytealg's memeqbody for wasm, one byte per step: ~0.8 µs for a 320-byte token on every request that hits
// the token cache (bench/filters.md, 2026-12-07). It loads unaligned words, which Wasm allows; the Wasm build uses
// it (tokeneq_wasm.go), and native builds keep ==, whose assembly is faster still and needs no unaligned loads.
func equalWords(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	pa, pb := unsafe.Pointer(unsafe.StringData(a)), unsafe.Pointer(unsafe.StringData(b))
	i := 0
	for ; i+8 <= len(a); i += 8 {
		if *(*uint64)(unsafe.Add(pa, i)) != *(*uint64)(unsafe.Add(pb, i)) {
			return false
		}
	}
	return a[i:] == b[i:]
}
