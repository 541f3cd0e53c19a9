//go:build wasmesh_bridge

// This file is injected by `wasmesh build` into the build-time copy of either SDK's
// proxywasm/internal (github.com/tetratelabs/proxy-wasm-go-sdk v0.24.0, or
// github.com/proxy-wasm/proxy-wasm-go-sdk at a version the bridge was tested
// against). It holds the guest memory the host writes host-call results into: the
// allocator export, the out-parameter cells and the scratch arena. It is compiled
// at the older SDK's language version (go 1.19): no newer syntax here.

package internal

import "unsafe"

// Out-parameters are written by the host into these package-level cells rather
// than into the caller's stack frame: a host call may re-enter the guest through
// proxy_on_memory_allocate, which can grow and move the goroutine stack, leaving
// a stack address handed to the host stale. Globals never move, and the guest is
// single-threaded, so one set of cells serves every call.
var (
	wasmeshRetPtr  uint32
	wasmeshRetSize uint32
	wasmeshRetCas  uint32
	wasmeshRetID   uint32
	wasmeshRetU64  uint64
)

// wasmeshPending keeps every buffer handed to the host by proxy_on_memory_allocate
// reachable until the host call that asked for it has returned and its result has
// been taken; otherwise the collector could free it in between.
var wasmeshPending [][]byte

func wasmeshAlloc(size uint32) uint32 {
	if size == 0 {
		size = 1
	}
	buf := make([]byte, size)
	wasmeshPending = append(wasmeshPending, buf)
	return uint32(uintptr(unsafe.Pointer(&buf[0])))
}

// wasmeshArena is a scratch area a host may fill with a host call's result instead
// of calling proxy_on_memory_allocate: wasmesh's host learns it once per VM from the
// wasmesh_scratch_arena export and uses it for at most one result per host call;
// other hosts never call that export and always allocate. For a Go guest the
// allocator is a full wasmexport re-entry, so skipping it is most of what a host
// call returning data costs. Results are copied out (wasmeshTake) before SDK code
// sees them, so the bytes users get are always their own.
var wasmeshArena [16 << 10]byte

func wasmeshArenaAddr() uint32 { return uint32(uintptr(unsafe.Pointer(&wasmeshArena[0]))) }

// Results copied out of the arena are carved from a chunk of wasmeshChunkSize
// bytes instead of each getting its own allocation: in a Go guest the allocator is
// most of what a small host-call result costs. A chunk is ordinary Go memory, kept
// alive by any result still referring to it and never written again once handed
// out. The price is retention: a small result a filter keeps for long keeps its
// whole chunk (as a header kept from GetHttpRequestHeaders always kept the whole
// serialized map), so chunks are small and a result larger than wasmeshCarveMax
// gets its own allocation.
const (
	wasmeshChunkSize = 4 << 10
	wasmeshCarveMax  = 512 // a request's header map: 5-10 headers of a typical request or Dubbo call
)

var wasmeshChunk []byte

func wasmeshCarve(size uint32) []byte {
	n := int(size)
	if n > wasmeshCarveMax {
		return make([]byte, n)
	}
	if len(wasmeshChunk) < n {
		wasmeshChunk = make([]byte, wasmeshChunkSize)
	}
	buf := wasmeshChunk[:n:n]
	wasmeshChunk = wasmeshChunk[n:]
	return buf
}

// wasmeshTake returns the buffer the host filled at addr and forgets every other
// pending allocation of the finished host call.
func wasmeshTake(addr, size uint32) (*byte, int) {
	var found *byte
	if size > 0 && addr == wasmeshArenaAddr() && size <= uint32(len(wasmeshArena)) {
		buf := wasmeshCarve(size)
		copy(buf, wasmeshArena[:size])
		found = &buf[0]
	}
	for i, b := range wasmeshPending {
		if found == nil && uint32(uintptr(unsafe.Pointer(&b[0]))) == addr && uint32(len(b)) >= size {
			found = &b[0]
		}
		wasmeshPending[i] = nil
	}
	wasmeshPending = wasmeshPending[:0]
	// Zero the cells so that a host that answers OK without writing them yields an empty result next time,
	// never this call's stale pointer.
	wasmeshRetPtr, wasmeshRetSize = 0, 0
	if found == nil {
		return nil, 0
	}
	return found, int(size)
}

//go:wasmexport proxy_on_memory_allocate
func wasmeshOnMemoryAllocate(size uint32) uint32 {
	return wasmeshAlloc(size)
}

// wasmeshScratchArena tells the wasmesh host where the scratch arena is: its
// address in the high 32 bits, its size in the low 32 (see wasmeshArena).
//
//go:wasmexport wasmesh_scratch_arena
func wasmeshScratchArena() uint64 {
	return uint64(wasmeshArenaAddr())<<32 | uint64(len(wasmeshArena))
}
