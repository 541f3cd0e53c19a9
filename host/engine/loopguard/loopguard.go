// Package loopguard makes a Wasm module stoppable from another goroutine at the cost of one load and one branch
// per loop iteration. It rewrites the module: a new mutable i32 global, exported as ExportName, and at the head of
// every loop `global.get $stop; if; unreachable; end`. Setting the global to 1 (api.MutableGlobal.Set) makes the
// guest trap at its next loop iteration; straight-line code ends by itself, and recursion ends in a stack overflow.
//
// wazero's own answer (RuntimeConfig.WithCloseOnContextDone) compiles a call into Go at every loop head and starts
// a goroutine per guest call, which costs more than most proxy-wasm callbacks (see host/engine/RATIONALE.md).
//
//	guarded, err := loopguard.Instrument(wasm)
//	mod, _ := r.Instantiate(ctx, guarded)
//	stop := mod.ExportedGlobal(loopguard.ExportName).(api.MutableGlobal)
//	time.AfterFunc(time.Second, func() { stop.Set(1) }) // the running call traps with "unreachable"
//
// Instrument decodes untrusted bytes: it returns an error, never panics, on anything it cannot parse, including
// instructions it does not know (the caller then falls back to wazero's own termination checks).
package loopguard

import (
	"errors"
	"fmt"
)

// ExportName is the export of the stop flag Instrument adds. Hosts other than wasmesh never see it: it exists only
// in the instrumented copy.
const ExportName = "wasmesh.loopguard"

// ErrUnsupported marks modules Instrument cannot rewrite (unknown instructions or sections).
var ErrUnsupported = errors.New("loopguard: unsupported module")

const (
	secCustom  = 0
	secImport  = 2
	secGlobal  = 6
	secExport  = 7
	secCode    = 10
	secTag     = 13
	importFunc = 0
	importTab  = 1
	importMem  = 2
	importGlob = 3
	importTag  = 4
)

// sectionRank orders known sections as the binary format requires (the tag section sits between memory and
// global).
func sectionRank(id byte) int {
	switch id {
	case 1, 2, 3, 4, 5:
		return int(id)
	case secTag:
		return 6
	case secGlobal, secExport, 8, 9:
		return int(id) + 1
	case 12: // data count
		return 10
	case secCode:
		return 11
	case 11: // data
		return 12
	}
	return -1
}

// Instrument returns a copy of wasm with the stop flag and a check at the head of every loop. Custom sections are
// kept except DWARF (.debug_*), whose code offsets the rewrite would invalidate; the name section is kept.
func Instrument(wasm []byte) ([]byte, error) {
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" || string(wasm[4:8]) != "\x01\x00\x00\x00" {
		return nil, fmt.Errorf("%w: not a Wasm 1.0 binary", ErrUnsupported)
	}
	type section struct {
		id   byte
		body []byte
	}
	var secs []section
	r := reader{b: wasm, pos: 8}
	for !r.done() {
		id := r.byte()
		n := r.u32()
		body := r.bytes(n)
		if r.err != nil {
			return nil, fmt.Errorf("%w: section %d: %v", ErrUnsupported, id, r.err)
		}
		if id != secCustom && sectionRank(id) < 0 {
			return nil, fmt.Errorf("%w: unknown section id %d", ErrUnsupported, id)
		}
		secs = append(secs, section{id, body})
	}

	var importedGlobals, definedGlobals uint32
	for _, s := range secs {
		switch s.id {
		case secImport:
			n, err := countImportedGlobals(s.body)
			if err != nil {
				return nil, err
			}
			importedGlobals = n
		case secGlobal:
			rr := reader{b: s.body}
			definedGlobals = rr.u32()
			if rr.err != nil {
				return nil, fmt.Errorf("%w: global section: %v", ErrUnsupported, rr.err)
			}
		}
	}
	stop := importedGlobals + definedGlobals
	if stop < importedGlobals {
		return nil, fmt.Errorf("%w: too many globals", ErrUnsupported)
	}

	out := make([]byte, 0, len(wasm)+len(wasm)/16+64)
	out = append(out, wasm[:8]...)
	put := func(id byte, body []byte) {
		out = append(out, id)
		out = appendU32(out, uint32(len(body)))
		out = append(out, body...)
	}
	haveGlobal, haveExport := false, false
	// emitMissing writes the global and export sections if the module lacks them, just before the first section
	// that must follow them.
	emitMissing := func(next byte) {
		rank := sectionRank(next)
		if !haveGlobal && (next == 0xff || rank > sectionRank(secGlobal)) {
			put(secGlobal, appendStopGlobal(appendU32(nil, 1)))
			haveGlobal = true
		}
		if !haveExport && (next == 0xff || rank > sectionRank(secExport)) {
			put(secExport, appendStopExport(appendU32(nil, 1), stop))
			haveExport = true
		}
	}
	for _, s := range secs {
		if s.id == secCustom {
			if isDWARF(s.body) {
				continue
			}
			put(s.id, s.body)
			continue
		}
		emitMissing(s.id)
		switch s.id {
		case secGlobal:
			body, err := withCount(s.body, appendStopGlobal(nil))
			if err != nil {
				return nil, err
			}
			put(s.id, body)
			haveGlobal = true
		case secExport:
			body, err := withCount(s.body, appendStopExport(nil, stop))
			if err != nil {
				return nil, err
			}
			put(s.id, body)
			haveExport = true
		case secCode:
			body, err := instrumentCode(s.body, stop)
			if err != nil {
				return nil, err
			}
			put(s.id, body)
		default:
			put(s.id, s.body)
		}
	}
	emitMissing(0xff)
	return out, nil
}

func appendStopGlobal(b []byte) []byte {
	return append(b, 0x7f, 0x01, 0x41, 0x00, 0x0b) // mutable i32 = i32.const 0
}

func appendStopExport(b []byte, idx uint32) []byte {
	b = appendU32(b, uint32(len(ExportName)))
	b = append(b, ExportName...)
	b = append(b, importGlob)
	return appendU32(b, idx)
}

// withCount re-encodes a vector section with one more entry appended.
func withCount(body, entry []byte) ([]byte, error) {
	r := reader{b: body}
	n := r.u32()
	if r.err != nil || n == ^uint32(0) {
		return nil, fmt.Errorf("%w: bad vector count", ErrUnsupported)
	}
	out := appendU32(make([]byte, 0, len(body)+len(entry)+5), n+1)
	out = append(out, body[r.pos:]...)
	return append(out, entry...), nil
}

func isDWARF(body []byte) bool {
	r := reader{b: body}
	n := r.u32()
	name := r.bytes(n)
	return r.err == nil && len(name) >= 7 && string(name[:7]) == ".debug_"
}

func countImportedGlobals(body []byte) (uint32, error) {
	r := reader{b: body}
	var globals uint32
	for n := r.u32(); n > 0 && r.err == nil; n-- {
		r.bytes(r.u32()) // module
		r.bytes(r.u32()) // name
		switch kind := r.byte(); kind {
		case importFunc:
			r.u32()
		case importTab:
			r.byte() // reftype
			r.limits()
		case importMem:
			r.limits()
		case importGlob:
			r.byte() // valtype
			r.byte() // mutability
			globals++
		case importTag:
			r.byte()
			r.u32()
		default:
			return 0, fmt.Errorf("%w: import kind %d", ErrUnsupported, kind)
		}
	}
	if r.err != nil {
		return 0, fmt.Errorf("%w: import section: %v", ErrUnsupported, r.err)
	}
	return globals, nil
}

// instrumentCode rewrites every function body of the code section.
func instrumentCode(body []byte, stop uint32) ([]byte, error) {
	r := reader{b: body}
	n := r.u32()
	if r.err != nil {
		return nil, fmt.Errorf("%w: code section: %v", ErrUnsupported, r.err)
	}
	check := append(appendU32([]byte{0x23}, stop), 0x04, 0x40, 0x00, 0x0b) // global.get; if; unreachable; end
	out := appendU32(make([]byte, 0, len(body)+len(body)/16), n)
	var fn []byte
	for i := uint32(0); i < n; i++ {
		size := r.u32()
		code := r.bytes(size)
		if r.err != nil {
			return nil, fmt.Errorf("%w: function %d: %v", ErrUnsupported, i, r.err)
		}
		var err error
		fn, err = instrumentFunc(fn[:0], code, check)
		if err != nil {
			return nil, fmt.Errorf("%w: function %d: %v", ErrUnsupported, i, err)
		}
		out = appendU32(out, uint32(len(fn)))
		out = append(out, fn...)
	}
	if !r.done() {
		return nil, fmt.Errorf("%w: code section has trailing bytes", ErrUnsupported)
	}
	return out, nil
}

// instrumentFunc copies one function body to out, inserting check after every loop's block type. Unchanged runs
// of instructions are copied in one append.
func instrumentFunc(out, code, check []byte) ([]byte, error) {
	r := reader{b: code}
	for groups := r.u32(); groups > 0 && r.err == nil; groups-- { // locals
		r.u32()
		r.byte()
	}
	from := 0
	for r.pos < len(r.b) && r.err == nil {
		op := r.b[r.pos]
		r.pos++
		r.skipImmediates(op)
		if op == 0x03 { // loop: the check goes right after its block type
			out = append(out, code[from:r.pos]...)
			out = append(out, check...)
			from = r.pos
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	return append(out, code[from:]...), nil
}
