// Package loopguard makes a Wasm module stoppable, and a GC-safe citizen of a Go process, while it loops. It
// rewrites the module so that every loop iteration and every function call decrements a budget (a new mutable
// i32 global) and, when the budget is spent, calls an imported host function, ImportModule.ImportName, of type
// func() i32:
//
//	loop
//	  global.get $budget
//	  if    global.get $budget; i32.const 1; i32.sub; global.set $budget
//	  else  call $tick; global.set $budget
//	  end
//	  ...
//
// The host's tick returns the next budget, or traps (a Go panic in wazero) to stop the guest. Calling into Go is
// the point: code that wazero compiled cannot be preempted, so a guest looping without host calls would keep Go's
// garbage collector from ever stopping the world, and the whole process would hang, the goroutine that should stop
// the guest included. With the tick, the guest reaches a Go safe point every budget iterations, and the host can
// check its deadline there. Only straight-line code between two checks runs unchecked, and it ends by itself.
// Checking calls too closes the one other way to run long, a call tree without loops (naive recursion).
//
// wazero's own answer (RuntimeConfig.WithCloseOnContextDone) calls into Go at every loop head, which costs more
// than most proxy-wasm callbacks (see host/engine/RATIONALE.md); the budget makes that one call per many
// iterations.
//
// Adding an import renumbers the module's functions: every function index after the imported ones moves up by one
// (calls, ref.func, exports, the start function, element segments, the name section). Instrument decodes untrusted
// bytes: it returns an error, never panics, on anything it cannot parse, including instructions it does not know
// (the caller then falls back to wazero's own termination checks).
package loopguard

import (
	"errors"
	"fmt"
)

// The import Instrument adds. Hosts other than wasmesh never see it: it exists only in the instrumented copy.
const (
	ImportModule = "wasmesh_loopguard"
	ImportName   = "tick"
)

// Version names the rewrite: it changes whenever Instrument's output for the same input changes, so copies kept
// on disk (host/engine keeps them by the original's digest) are never mixed across versions.
const Version = "3"

// ErrUnsupported marks modules Instrument cannot rewrite (unknown instructions or sections, or a module that
// already imports ImportModule).
var ErrUnsupported = errors.New("loopguard: unsupported module")

const (
	secCustom  = 0
	secType    = 1
	secImport  = 2
	secGlobal  = 6
	secExport  = 7
	secStart   = 8
	secElement = 9
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

// layout is what Instrument learns about the module before rewriting it.
type layout struct {
	types         uint32 // entries of the type section: the tick's type goes after them
	funcImports   uint32 // the tick's function index; defined functions move up by one
	globalImports uint32
	globals       uint32 // defined globals: the budget goes after them
}

// renumber maps a function index of the original module to the instrumented one.
type renumber uint32

func (k renumber) fn(idx uint32) uint32 {
	if idx >= uint32(k) {
		return idx + 1 // an index of 2^32-1 wraps to 0; the module was invalid and stays so
	}
	return idx
}

type section struct {
	id   byte
	body []byte
}

// Instrument returns a copy of wasm with the budget, the tick import and a check at the top of every function and
// the head of every loop.
// Custom sections are kept except DWARF (.debug_*) and code metadata (metadata.code.*), whose code offsets the
// rewrite would invalidate; the name section is renumbered.
func Instrument(wasm []byte) ([]byte, error) {
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" || string(wasm[4:8]) != "\x01\x00\x00\x00" {
		return nil, fmt.Errorf("%w: not a Wasm 1.0 binary", ErrUnsupported)
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
	l, err := scan(secs)
	if err != nil {
		return nil, err
	}
	budget := l.globalImports + l.globals
	if budget < l.globalImports {
		return nil, fmt.Errorf("%w: too many globals", ErrUnsupported)
	}
	k := renumber(l.funcImports)
	check := appendCheck(nil, budget, l.funcImports)

	out := make([]byte, 0, len(wasm)+len(wasm)/8+64)
	out = append(out, wasm[:8]...)
	put := func(id byte, body []byte) {
		out = append(out, id)
		out = appendU32(out, uint32(len(body)))
		out = append(out, body...)
	}
	// Sections the rewrite needs that the module may lack, written just before the first section that must
	// follow them.
	missing := []struct {
		id    byte
		entry []byte
		seen  bool
	}{
		{id: secType, entry: tickType()},
		{id: secImport, entry: tickImport(l.types)},
		{id: secGlobal, entry: budgetGlobal()},
	}
	emitMissing := func(next byte) {
		for i := range missing {
			m := &missing[i]
			if next == m.id {
				m.seen = true
			}
			if !m.seen && (next == 0xff || sectionRank(next) > sectionRank(m.id)) {
				put(m.id, append(appendU32(nil, 1), m.entry...))
				m.seen = true
			}
		}
	}
	for _, s := range secs {
		if s.id == secCustom {
			body, keep := rewriteCustom(s.body, k)
			if keep {
				put(s.id, body)
			}
			continue
		}
		emitMissing(s.id)
		var body []byte
		var err error
		switch s.id {
		case secType:
			body, err = withCount(s.body, tickType())
		case secImport:
			body, err = withCount(s.body, tickImport(l.types))
		case secGlobal:
			body, err = rewriteGlobals(s.body, k)
		case secExport:
			body, err = rewriteExports(s.body, k)
		case secStart:
			body, err = rewriteStart(s.body, k)
		case secElement:
			body, err = rewriteElements(s.body, k)
		case secCode:
			body, err = instrumentCode(s.body, k, check)
		default:
			body = s.body
		}
		if err != nil {
			return nil, err
		}
		put(s.id, body)
	}
	emitMissing(0xff)
	return out, nil
}

// scan counts what the rewrite numbers after, and refuses a module that already imports from ImportModule.
func scan(secs []section) (layout, error) {
	var l layout
	for _, s := range secs {
		r := reader{b: s.body}
		switch s.id {
		case secType:
			l.types = r.u32()
		case secImport:
			for n := r.u32(); n > 0 && r.err == nil; n-- {
				mod := r.bytes(r.u32())
				r.bytes(r.u32()) // name
				if string(mod) == ImportModule {
					return l, fmt.Errorf("%w: the module already imports from %q", ErrUnsupported, ImportModule)
				}
				switch kind := r.byte(); kind {
				case importFunc:
					r.u32()
					l.funcImports++
				case importTab:
					r.byte() // reftype
					r.limits()
				case importMem:
					r.limits()
				case importGlob:
					r.byte() // valtype
					r.byte() // mutability
					l.globalImports++
				case importTag:
					r.byte()
					r.u32()
				default:
					return l, fmt.Errorf("%w: import kind %d", ErrUnsupported, kind)
				}
			}
		case secGlobal:
			l.globals = r.u32()
		default:
			continue
		}
		if r.err != nil {
			return l, fmt.Errorf("%w: section %d: %v", ErrUnsupported, s.id, r.err)
		}
	}
	return l, nil
}

func tickType() []byte { return []byte{0x60, 0x00, 0x01, 0x7f} } // func() i32

func tickImport(typeIdx uint32) []byte {
	b := appendName(nil, ImportModule)
	b = appendName(b, ImportName)
	b = append(b, importFunc)
	return appendU32(b, typeIdx)
}

func budgetGlobal() []byte {
	return []byte{0x7f, 0x01, 0x41, 0x00, 0x0b} // mutable i32 = i32.const 0: the first loop head asks the host
}

// appendCheck appends the loop-head sequence of the package comment.
func appendCheck(b []byte, budget, tick uint32) []byte {
	b = append(appendU32(append(b, 0x23), budget), 0x04, 0x40)       // global.get $budget; if
	b = append(appendU32(append(b, 0x23), budget), 0x41, 0x01, 0x6b) // global.get $budget; i32.const 1; i32.sub
	b = append(appendU32(append(b, 0x24), budget), 0x05)             // global.set $budget; else
	b = appendU32(append(b, 0x10), tick)                             // call $tick
	return append(appendU32(append(b, 0x24), budget), 0x0b)          // global.set $budget; end
}

func appendName(b []byte, s string) []byte { return append(appendU32(b, uint32(len(s))), s...) }

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
