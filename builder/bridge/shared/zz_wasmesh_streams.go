//go:build wasmesh_bridge

// This file is injected by `wasmesh build` beside zz_wasmesh_callbacks.go, into
// either SDK's proxywasm/internal (both keep their contexts in the same maps of the
// same state). It keeps the SDK's HTTP stream contexts in a table of its own
// instead of the SDK's maps.
//
// Why: a Go map insert or delete costs the guest about half a microsecond (gc's
// wasm code for the swiss table and its hash), and the SDK does ten map
// operations per HTTP stream (two inserts and two lookups to create it, one or two
// lookups per callback, two deletes and two lookups to delete it), about as much as
// the rest of a minimal filter's stream. Stream context ids come from the host's
// counter, so an open-addressing table indexed by id finds a context at the first
// probe.
//
// What stays the SDK's: plugin (root) and TCP contexts, and, with the
// proxywasm_timing build tag, everything. contextIDToRootID, which the SDK reads to
// register an HTTP callout and to drop the response of a context already deleted,
// gets a bridge stream only when it dispatches an HTTP call (ProxyHttpCall marks
// it), the one case that reads it; the entry is deleted with the context, as the
// SDK would.

package internal

type wasmeshStream struct {
	id     uint32 // 0: free slot (the host never gives a stream context id 0)
	root   uint32
	ctx    wasmeshHttpContext
	rooted bool // in currentState.contextIDToRootID
}

var (
	wasmeshSlots []wasmeshStream // len is 0 or a power of two, at most half full
	wasmeshLive  int
)

func wasmeshFind(id uint32) *wasmeshStream {
	if len(wasmeshSlots) == 0 || id == 0 {
		return nil
	}
	mask := uint32(len(wasmeshSlots) - 1)
	for i := id & mask; ; i = (i + 1) & mask {
		s := &wasmeshSlots[i]
		if s.id == id {
			return s
		}
		if s.id == 0 {
			return nil
		}
	}
}

func wasmeshInsert(s wasmeshStream) {
	if (wasmeshLive+1)*2 > len(wasmeshSlots) {
		old := wasmeshSlots
		n := 8
		for n < (wasmeshLive+1)*2 {
			n *= 2
		}
		wasmeshSlots = make([]wasmeshStream, n*2)
		for _, o := range old {
			if o.id != 0 {
				wasmeshPlace(o)
			}
		}
	}
	wasmeshPlace(s)
	wasmeshLive++
}

func wasmeshPlace(s wasmeshStream) {
	mask := uint32(len(wasmeshSlots) - 1)
	i := s.id & mask
	for wasmeshSlots[i].id != 0 {
		i = (i + 1) & mask
	}
	wasmeshSlots[i] = s
}

// wasmeshRemove deletes id with backward-shift deletion, so lookups never need
// tombstones.
func wasmeshRemove(id uint32) {
	mask := uint32(len(wasmeshSlots) - 1)
	i := id & mask
	for wasmeshSlots[i].id != id {
		i = (i + 1) & mask
	}
	wasmeshSlots[i] = wasmeshStream{}
	wasmeshLive--
	for j := (i + 1) & mask; wasmeshSlots[j].id != 0; j = (j + 1) & mask {
		home := wasmeshSlots[j].id & mask
		// The entry at j may move to the hole at i unless its home lies cyclically in (i, j].
		if (i < j && i < home && home <= j) || (i > j && (home > i || home <= j)) {
			continue
		}
		wasmeshSlots[i], wasmeshSlots[j] = wasmeshSlots[j], wasmeshStream{}
		i = j
	}
}

// wasmeshCreate is proxy_on_context_create: the SDK's for plugin and TCP contexts,
// the bridge's table for HTTP streams. Failures panic with the SDK's messages.
func wasmeshCreate(contextID, parentContextID uint32) {
	wasmeshSkipCell = 0
	if parentContextID == 0 || recordTiming {
		proxyOnContextCreate(contextID, parentContextID)
		return
	}
	root, ok := currentState.pluginContexts[parentContextID]
	if !ok {
		panic("invalid plugin context id")
	}
	if wasmeshFind(contextID) != nil {
		panic("context id duplicated")
	}
	if ctx := root.context.NewHttpContext(contextID); ctx != nil {
		wasmeshInsert(wasmeshStream{id: contextID, root: parentContextID, ctx: ctx})
		wasmeshSkipCell = wasmeshSkipOf(ctx, wasmeshHTTPMethods, wasmeshDefaultHTTP)
		return
	}
	if !currentState.createTcpContext(contextID, parentContextID) {
		panic("invalid context id on proxy_on_context_create")
	}
	wasmeshSkipCell = wasmeshSkipOf(currentState.tcpContexts[contextID], wasmeshTCPMethods, wasmeshDefaultTCP)
}

// wasmeshHTTPContext is the bridge's HTTP stream context of that id, nil if the
// SDK owns the context (or nobody does: the SDK's dispatch then panics as before).
func wasmeshHTTPContext(contextID uint32) wasmeshHttpContext {
	if s := wasmeshFind(contextID); s != nil {
		return s.ctx
	}
	return nil
}

// wasmeshDelete is proxy_on_delete for a bridge stream; false if the SDK owns the
// context.
func wasmeshDelete(contextID uint32) bool {
	s := wasmeshFind(contextID)
	if s == nil {
		return false
	}
	if s.rooted {
		delete(currentState.contextIDToRootID, contextID)
	}
	wasmeshRemove(contextID)
	return true
}

// wasmeshRoot records the root of the active context in the SDK's
// contextIDToRootID before it dispatches an HTTP call (see the file comment).
func wasmeshRoot() {
	if s := wasmeshFind(currentState.activeContextID); s != nil && !s.rooted {
		currentState.contextIDToRootID[s.id] = s.root
		s.rooted = true
	}
}
