//go:build wasmesh_bridge

// This file is injected by `wasmesh build` beside zz_wasmesh_callbacks.go. It tells
// the wasmesh host which callbacks of a stream context are the SDK's no-ops, so
// that the host need not call them: for a Go guest each callback is a full
// wasmexport entry plus the SDK's context lookup, and a filter that implements only
// OnHttpRequestHeaders would otherwise pay for on_response_headers, on_log and
// on_done on every stream. Other hosts never call the export; the module works
// with them unchanged.

package internal

import (
	"reflect"
	"runtime"
	"unsafe"
)

// Bits of the skip cell: the host's side (host/engine, ExportSkipCallbacks) numbers
// them the same way.
const (
	wasmeshSkipRequestHeaders = 1 << iota
	wasmeshSkipRequestBody
	wasmeshSkipRequestTrailers
	wasmeshSkipResponseHeaders
	wasmeshSkipResponseBody
	wasmeshSkipResponseTrailers
	wasmeshSkipLog
	wasmeshSkipDone
	wasmeshSkipNewConnection
	wasmeshSkipDownstreamData
	wasmeshSkipDownstreamClose
	wasmeshSkipUpstreamData
	wasmeshSkipUpstreamClose
)

// wasmeshSkipCell holds, right after proxy_on_context_create returns, the callbacks
// of the context just created that are no-ops (wasmeshCreate fills it). Globals never move, so the host
// learns the address once per VM.
var wasmeshSkipCell uint32

//go:wasmexport wasmesh_skip_callbacks
func wasmeshSkipCallbacks() uint32 {
	return uint32(uintptr(unsafe.Pointer(&wasmeshSkipCell)))
}

// The SDK answers proxy_on_done of a stream context with true without calling user
// code (only plugin contexts have OnPluginDone), so it is always skippable. The
// no-op contexts the methods are compared with are the SDK's (zz_wasmesh_sdk.go).
var (
	wasmeshHTTPMethods = []wasmeshMethod{
		{"OnHttpRequestHeaders", wasmeshSkipRequestHeaders},
		{"OnHttpRequestBody", wasmeshSkipRequestBody},
		{"OnHttpRequestTrailers", wasmeshSkipRequestTrailers},
		{"OnHttpResponseHeaders", wasmeshSkipResponseHeaders},
		{"OnHttpResponseBody", wasmeshSkipResponseBody},
		{"OnHttpResponseTrailers", wasmeshSkipResponseTrailers},
		{"OnHttpStreamDone", wasmeshSkipLog},
	}
	wasmeshTCPMethods = []wasmeshMethod{
		{"OnNewConnection", wasmeshSkipNewConnection},
		{"OnDownstreamData", wasmeshSkipDownstreamData},
		{"OnDownstreamClose", wasmeshSkipDownstreamClose},
		{"OnUpstreamData", wasmeshSkipUpstreamData},
		{"OnUpstreamClose", wasmeshSkipUpstreamClose},
		{"OnStreamDone", wasmeshSkipLog},
	}
	wasmeshDefaultHTTP = reflect.TypeOf((*wasmeshDefaultHttpContext)(nil))
	wasmeshDefaultTCP  = reflect.TypeOf((*wasmeshDefaultTcpContext)(nil))
)

type wasmeshMethod struct {
	name string
	bit  uint32
}

// The skip set depends only on the context's dynamic type; filters create one or
// two types, so a small list beats a map.
var wasmeshSkipTypes []struct {
	t    reflect.Type
	skip uint32
}

func wasmeshSkipFor(t reflect.Type, methods []wasmeshMethod, base reflect.Type) uint32 {
	for _, e := range wasmeshSkipTypes {
		if e.t == t {
			return e.skip
		}
	}
	skip := uint32(wasmeshSkipDone)
	for _, m := range methods {
		if wasmeshInherits(t, m.name, base) {
			skip |= m.bit
		}
	}
	wasmeshSkipTypes = append(wasmeshSkipTypes, struct {
		t    reflect.Type
		skip uint32
	}{t, skip})
	return skip
}

// wasmeshLastType, wasmeshLastMethods and wasmeshLastSkip remember the skip set of
// the last context type: a filter creates its streams with one type, and in a Go
// guest the reflection and the table walk below cost several calls per stream.
var (
	wasmeshLastType    unsafe.Pointer
	wasmeshLastMethods *wasmeshMethod
	wasmeshLastSkip    uint32
)

// wasmeshSkipOf is the skip set of a stream context just created.
func wasmeshSkipOf(ctx interface{}, methods []wasmeshMethod, base reflect.Type) uint32 {
	// An empty interface is (type, data); a nil data word is a nil pointer context,
	// which takes the slow path below.
	words := (*[2]unsafe.Pointer)(unsafe.Pointer(&ctx))
	if words[0] != nil && words[0] == wasmeshLastType && words[1] != nil && &methods[0] == wasmeshLastMethods {
		return wasmeshLastSkip
	}
	skip := wasmeshSkipOfSlow(ctx, methods, base)
	if words[0] != nil && words[1] != nil {
		wasmeshLastType, wasmeshLastMethods, wasmeshLastSkip = words[0], &methods[0], skip
	}
	return skip
}

func wasmeshSkipOfSlow(ctx interface{}, methods []wasmeshMethod, base reflect.Type) uint32 {
	if v := reflect.ValueOf(ctx); !v.IsValid() || v.Kind() == reflect.Ptr && v.IsNil() {
		// A nil context panics in the SDK's calls even where the method is inherited;
		// keep that behaviour.
		return wasmeshSkipDone
	}
	return wasmeshSkipFor(reflect.TypeOf(ctx), methods, base)
}

// wasmeshInherits reports whether method name of t is certainly base's (the SDK's
// no-op), reached by embedding: t's own method is a compiler-generated wrapper, and
// following the one embedded field that provides it leads to base. Anything else (a
// method the user wrote, an embedded interface, two embedded fields providing the
// method) counts as implemented, so the host keeps calling it.
func wasmeshInherits(t reflect.Type, name string, base reflect.Type) bool {
	for depth := 0; depth < 16; depth++ {
		if t == base || t == base.Elem() {
			return true
		}
		m, ok := t.MethodByName(name)
		if !ok || !wasmeshGenerated(m.Func) {
			return false
		}
		st, ptr := t, t.Kind() == reflect.Ptr
		if ptr {
			st = t.Elem()
		}
		if st.Kind() != reflect.Struct {
			return false
		}
		if ptr {
			// (*T).name may be the generated pointer form of a value method the user
			// wrote on T.
			if vm, ok := st.MethodByName(name); ok && !wasmeshGenerated(vm.Func) {
				return false
			}
		}
		var next reflect.Type
		for i := 0; i < st.NumField(); i++ {
			f := st.Field(i)
			if !f.Anonymous {
				continue
			}
			ft := f.Type
			if ft.Kind() == reflect.Interface {
				if _, ok := ft.MethodByName(name); ok {
					return false
				}
				continue
			}
			if ptr && ft.Kind() != reflect.Ptr {
				ft = reflect.PtrTo(ft) // a field of an addressable struct has its pointer methods
			}
			if _, ok := ft.MethodByName(name); ok {
				if next != nil {
					return false
				}
				next = ft
			}
		}
		if next == nil {
			return false
		}
		t = next
	}
	return false
}

// wasmeshGenerated reports whether fn is a wrapper the compiler generated (a method
// promoted through embedding, or the pointer form of a value method), not code
// someone wrote: the compiler places those in "<autogenerated>".
func wasmeshGenerated(fn reflect.Value) bool {
	f := runtime.FuncForPC(fn.Pointer())
	if f == nil {
		return false
	}
	file, _ := f.FileLine(f.Entry())
	return file == "<autogenerated>"
}
