package loopguard

import (
	"fmt"
	"strings"
)

// The section rewriters below copy a section, changing only function indices (and, in code, adding the loop
// check). Each returns ErrUnsupported on bytes it cannot parse.

func unsupported(what string, err error) error {
	return fmt.Errorf("%w: %s: %v", ErrUnsupported, what, err)
}

// instrumentCode rewrites every function body of the code section.
func instrumentCode(body []byte, k renumber, check []byte) ([]byte, error) {
	r := reader{b: body}
	n := r.u32()
	if r.err != nil {
		return nil, unsupported("code section", r.err)
	}
	out := appendU32(make([]byte, 0, len(body)+len(body)/8), n)
	var fn []byte
	for i := uint32(0); i < n; i++ {
		size := r.u32()
		code := r.bytes(size)
		if r.err != nil {
			return nil, unsupported(fmt.Sprintf("function %d", i), r.err)
		}
		fr := reader{b: code}
		for groups := fr.u32(); groups > 0 && fr.err == nil; groups-- { // locals
			fr.u32()
			fr.byte()
		}
		// The check also goes at the top of the body: a call tree without loops (naive recursion) can run as long
		// as any loop.
		fn = append(append(fn[:0], code[:fr.pos]...), check...)
		fn = copyInstrs(fn, &fr, k, check, false)
		if fr.err != nil {
			return nil, unsupported(fmt.Sprintf("function %d", i), fr.err)
		}
		out = appendU32(out, uint32(len(fn)))
		out = append(out, fn...)
	}
	if !r.done() {
		return nil, fmt.Errorf("%w: code section has trailing bytes", ErrUnsupported)
	}
	return out, nil
}

// copyInstrs appends the instructions read from r to out with function indices renumbered (call, return_call,
// ref.func) and, when check is not nil, check inserted after every loop's block type. It reads to the end of r,
// or for a constant expression (constExpr) to its first `end`. Unchanged runs are copied in one append.
func copyInstrs(out []byte, r *reader, k renumber, check []byte, constExpr bool) []byte {
	from := r.pos
	for r.pos < len(r.b) && r.err == nil {
		op := r.b[r.pos]
		r.pos++
		switch op {
		case 0x10, 0x12, 0xd2: // call, return_call, ref.func
			out = append(out, r.b[from:r.pos]...)
			idx := r.u32()
			out = appendU32(out, k.fn(idx))
			from = r.pos
			continue
		case 0x03: // loop: the check goes right after its block type
			if check != nil {
				r.blockType()
				out = append(out, r.b[from:r.pos]...)
				out = append(out, check...)
				from = r.pos
				continue
			}
		case 0x0b:
			if constExpr {
				return append(out, r.b[from:r.pos]...)
			}
		}
		r.skipImmediates(op)
	}
	if constExpr && r.err == nil {
		r.fail(errShort)
	}
	return append(out, r.b[from:r.pos]...)
}

// rewriteGlobals renumbers ref.func in the globals' initializers and appends the budget.
func rewriteGlobals(body []byte, k renumber) ([]byte, error) {
	r := reader{b: body}
	n := r.u32()
	if r.err != nil || n == ^uint32(0) {
		return nil, fmt.Errorf("%w: bad global count", ErrUnsupported)
	}
	out := appendU32(make([]byte, 0, len(body)+16), n+1)
	for i := uint32(0); i < n && r.err == nil; i++ {
		start := r.pos
		r.valType()
		r.byte() // mutability
		out = copyInstrs(append(out, r.b[start:r.pos]...), &r, k, nil, true)
	}
	if r.err != nil || !r.done() {
		return nil, unsupported("global section", orTrailing(r.err))
	}
	return append(out, budgetGlobal()...), nil
}

func rewriteExports(body []byte, k renumber) ([]byte, error) {
	r := reader{b: body}
	n := r.u32()
	out := appendU32(make([]byte, 0, len(body)+8), n)
	for i := uint32(0); i < n && r.err == nil; i++ {
		start := r.pos
		r.bytes(r.u32()) // name
		kind := r.byte()
		out = append(out, r.b[start:r.pos]...)
		idx := r.u32()
		if kind == importFunc {
			idx = k.fn(idx)
		}
		out = appendU32(out, idx)
	}
	if r.err != nil || !r.done() {
		return nil, unsupported("export section", orTrailing(r.err))
	}
	return out, nil
}

func rewriteStart(body []byte, k renumber) ([]byte, error) {
	r := reader{b: body}
	idx := r.u32()
	if r.err != nil || !r.done() {
		return nil, unsupported("start section", orTrailing(r.err))
	}
	return appendU32(nil, k.fn(idx)), nil
}

// rewriteElements renumbers the function indices and ref.func expressions of every element segment, in all
// eight encodings (bit 0: passive or declarative; bit 1: explicit table, or declarative; bit 2: expressions).
func rewriteElements(body []byte, k renumber) ([]byte, error) {
	r := reader{b: body}
	n := r.u32()
	out := appendU32(make([]byte, 0, len(body)+len(body)/8), n)
	for i := uint32(0); i < n && r.err == nil; i++ {
		flags := r.u32()
		if flags > 7 {
			return nil, fmt.Errorf("%w: element segment %d: flags %d", ErrUnsupported, i, flags)
		}
		out = appendU32(out, flags)
		if flags&1 == 0 { // active: optional table index, then the offset
			if flags&2 != 0 {
				out = appendU32(out, r.u32())
			}
			out = copyInstrs(out, &r, k, nil, true)
		}
		if flags&3 != 0 { // element kind (0x00) or reference type
			start := r.pos
			r.valType()
			out = append(out, r.b[start:r.pos]...)
		}
		m := r.u32()
		out = appendU32(out, m)
		for j := uint32(0); j < m && r.err == nil; j++ {
			if flags&4 != 0 {
				out = copyInstrs(out, &r, k, nil, true)
			} else {
				out = appendU32(out, k.fn(r.u32()))
			}
		}
	}
	if r.err != nil || !r.done() {
		return nil, unsupported("element section", orTrailing(r.err))
	}
	return out, nil
}

// rewriteCustom returns a custom section as the instrumented module should carry it, or keep=false to drop it:
// DWARF and code metadata point at code offsets the rewrite moved, and a name section that does not parse is
// dropped rather than guessed at (it only names things for stack traces).
func rewriteCustom(body []byte, k renumber) (out []byte, keep bool) {
	r := reader{b: body}
	name := string(r.bytes(r.u32()))
	switch {
	case r.err != nil:
		return nil, false
	case strings.HasPrefix(name, ".debug_"), strings.HasPrefix(name, "metadata.code."):
		return nil, false
	case name != "name":
		return body, true
	}
	out = append(out, body[:r.pos]...)
	for !r.done() && r.err == nil {
		id := r.byte()
		sub := reader{b: r.bytes(r.u32())}
		var content []byte
		switch id {
		case 1: // function names: funcidx → name
			n := sub.u32()
			content = appendU32(nil, n)
			for ; n > 0 && sub.err == nil; n-- {
				content = appendU32(content, k.fn(sub.u32()))
				content = appendName(content, string(sub.bytes(sub.u32())))
			}
		case 2, 3: // local and label names: funcidx → (index → name)
			n := sub.u32()
			content = appendU32(nil, n)
			for ; n > 0 && sub.err == nil; n-- {
				content = appendU32(content, k.fn(sub.u32()))
				start := sub.pos
				for m := sub.u32(); m > 0 && sub.err == nil; m-- {
					sub.u32()
					sub.bytes(sub.u32())
				}
				content = append(content, sub.b[start:sub.pos]...)
			}
		case 0: // module name: wazero reads a name here whatever the subsection's size says, and so past a malformed
			// one into whatever follows; checked, so a name section that only parsed because it ended the module is
			// dropped rather than misread once the rewrite appends sections after it
			sub.bytes(sub.u32())
			content = sub.b
		default: // type, table, memory, global, element, data names: no function indices
			content = sub.b
			sub.pos = len(sub.b)
		}
		if sub.err != nil || !sub.done() {
			return nil, false
		}
		out = append(appendU32(append(out, id), uint32(len(content))), content...)
	}
	if r.err != nil {
		return nil, false
	}
	return out, true
}

func orTrailing(err error) error {
	if err != nil {
		return err
	}
	return errTrailing
}
