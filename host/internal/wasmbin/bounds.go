// Package wasmbin reads untrusted Wasm binaries just enough to refuse what would hurt the process before a real
// decoder (wazero) sees them: Check bounds every count and length by the bytes that follow it. Reader is the LEB128
// and name reader it uses, for other small parsers of module bytes (inspect's producers section).
package wasmbin

import (
	"errors"
	"fmt"
)

// Check refuses a module whose counts or lengths declare more than the bytes that follow them. wazero sizes
// its slices from those numbers before it reads a single entry, so a 15-byte module declaring 4 billion exports
// makes it ask for hundreds of gigabytes, and the Go runtime ends the whole process ("fatal error: out of
// memory", which no recover catches). Every entry of a vector takes at least one byte, so a count larger than
// the bytes left in its section can never decode: refusing it first changes no verdict, only the cost.
//
// It walks only the structure wazero allocates from (section vectors, names, parameter lists, locals, element
// and data segments, the name section) and never instructions. Where it meets an encoding it does not know (a newer
// proposal), it stops checking that section and leaves the verdict to wazero.
func Check(b []byte) error {
	if len(b) < len(magic) {
		return errors.New("too short for a Wasm module")
	}
	r := Reader{b: b, off: len(magic)}
	for r.off < len(r.b) {
		at := r.off
		id := r.b[r.off]
		r.off++
		size, ok := r.U32()
		if !ok || uint64(size) > uint64(len(r.b)-r.off) {
			return fmt.Errorf("section %d at byte %d: its size is cut short or runs past the end of the module", id, at)
		}
		s := &walker{Reader: Reader{b: r.b[:r.off+int(size)], off: r.off}, id: id}
		if err := s.section(); err != nil && !errors.Is(err, errGiveUp) {
			return err
		}
		r.off += int(size)
	}
	return nil
}

// maxLocals bounds the locals of one function. wazero builds a slice of every declared local (a 5-byte count
// asks for 4 GiB); 50000 is the limit of V8 and of wasmparser (wasmtime), so no module they run is refused.
const maxLocals = 50000

// errGiveUp stops the walk of one section at an encoding it does not follow.
var errGiveUp = errors.New("wasmbin: encoding not followed")

// walker reads one section; its reader ends where the section ends.
type walker struct {
	Reader
	id byte
}

func (w *walker) fail(what string, n uint64) error {
	return fmt.Errorf("section %d: %s %d at byte %d is more than the %d bytes left in the section", w.id, what, n,
		w.off, len(w.b)-w.off)
}

// count reads a vector length; each entry takes at least one byte.
func (w *walker) count(what string) (uint32, error) {
	n, ok := w.U32()
	if !ok {
		return 0, errGiveUp // wazero reports the truncated number itself
	}
	if uint64(n) > uint64(len(w.b)-w.off) {
		return 0, w.fail(what, uint64(n))
	}
	return n, nil
}

// skipName skips a length-prefixed name (or byte vector).
func (w *walker) skipName(what string) error {
	n, err := w.count(what)
	w.off += int(n)
	return err
}

func (w *walker) byte() (byte, error) {
	if w.off >= len(w.b) {
		return 0, errGiveUp
	}
	w.off++
	return w.b[w.off-1], nil
}

// skipLEB skips one LEB128 number of any width.
func (w *walker) skipLEB() error {
	for i := 0; i < 10; i++ {
		c, err := w.byte()
		if err != nil || c&0x80 == 0 {
			return err
		}
	}
	return errGiveUp
}

func (w *walker) skipLEBs(n uint32) error {
	for i := uint32(0); i < n; i++ {
		if err := w.skipLEB(); err != nil {
			return err
		}
	}
	return nil
}

// Section ids (the Wasm core spec, 5.5).
const (
	secCustom   = 0
	secType     = 1
	secImport   = 2
	secFunction = 3
	secTable    = 4
	secMemory   = 5
	secGlobal   = 6
	secExport   = 7
	secElement  = 9
	secCode     = 10
	secData     = 11
	secTag      = 13
)

func (w *walker) section() error {
	switch w.id {
	case secCustom:
		return w.custom()
	case secType:
		return w.types()
	case secImport:
		return w.imports()
	case secFunction, secTable, secMemory, secGlobal, secTag:
		_, err := w.count("entry count") // entries of a fixed shape: the count is what is allocated
		return err
	case secExport:
		n, err := w.count("export count")
		for i := uint32(0); i < n && err == nil; i++ {
			if err = w.skipName("export name length"); err == nil {
				w.off++ // kind
				err = w.skipLEB()
			}
		}
		return err
	case secElement:
		return w.elements()
	case secCode:
		return w.code()
	case secData:
		return w.data()
	}
	return nil
}

// custom checks the section name and, for the "name" section, its maps, reading them as wazero does.
func (w *walker) custom() error {
	n, err := w.count("custom section name length")
	if err != nil || string(w.b[w.off:w.off+int(n)]) != "name" {
		return err
	}
	w.off += int(n)
	limit := len(w.b) - w.off // wazero counts the subsections down from here
	for limit > 0 {
		at := w.off
		sub, err := w.byte()
		if err != nil {
			return err
		}
		size, ok := w.U32()
		if !ok {
			return errGiveUp
		}
		limit -= w.off - at
		switch sub {
		case 0: // module name
			err = w.skipName("module name length")
		case 1: // function names
			err = w.nameMap("function name count")
		case 2: // local names: a map of maps
			var fns uint32
			fns, err = w.count("local name function count")
			for i := uint32(0); i < fns && err == nil; i++ {
				if err = w.skipLEB(); err == nil {
					err = w.nameMap("local name count")
				}
			}
		default:
			if uint64(size) > uint64(len(w.b)-w.off) {
				return w.fail("name subsection size", uint64(size))
			}
			w.off += int(size)
		}
		if err != nil {
			return err
		}
		limit -= int(size)
	}
	return nil
}

func (w *walker) nameMap(what string) error {
	n, err := w.count(what)
	for i := uint32(0); i < n && err == nil; i++ {
		if err = w.skipLEB(); err == nil {
			err = w.skipName("name length")
		}
	}
	return err
}

func (w *walker) types() error {
	n, err := w.count("type count")
	for i := uint32(0); i < n && err == nil; i++ {
		if form, e := w.byte(); e != nil || form != 0x60 {
			return errGiveUp // a GC rec group or subtype
		}
		for range 2 { // parameters, results
			var k uint32
			if k, err = w.count("value type count"); err != nil {
				return err
			}
			for j := uint32(0); j < k; j++ {
				if t, err := w.byte(); err != nil || t == 0x63 || t == 0x64 {
					return errGiveUp // a typed reference takes more than one byte
				}
			}
		}
	}
	return err
}

func (w *walker) imports() error {
	n, err := w.count("import count")
	for i := uint32(0); i < n && err == nil; i++ {
		if err = w.skipName("import module length"); err != nil {
			return err
		}
		if err = w.skipName("import name length"); err != nil {
			return err
		}
		var kind byte
		if kind, err = w.byte(); err != nil {
			return err
		}
		switch kind {
		case 0: // function: type index
			err = w.skipLEB()
		case 1: // table: reference type, limits
			if t, e := w.byte(); e != nil || t == 0x63 || t == 0x64 {
				return errGiveUp
			}
			err = w.limits()
		case 2: // memory: limits
			err = w.limits()
		case 3: // global: value type, mutability
			if t, e := w.byte(); e != nil || t == 0x63 || t == 0x64 {
				return errGiveUp
			}
			_, err = w.byte()
		case 4: // tag: attribute, type index
			if _, err = w.byte(); err == nil {
				err = w.skipLEB()
			}
		default:
			return errGiveUp
		}
	}
	return err
}

func (w *walker) limits() error {
	flags, err := w.byte()
	if err != nil {
		return err
	}
	if err := w.skipLEB(); err != nil {
		return err
	}
	if flags&1 != 0 {
		return w.skipLEB()
	}
	return nil
}

// constExpr skips a constant expression up to its end opcode.
func (w *walker) constExpr() error {
	for {
		op, err := w.byte()
		if err != nil {
			return err
		}
		switch op {
		case 0x0b: // end
			return nil
		case 0x41, 0x42, 0x23, 0xd2: // i32.const, i64.const, global.get, ref.func
			err = w.skipLEB()
		case 0x43: // f32.const
			w.off += 4
		case 0x44: // f64.const
			w.off += 8
		case 0xd0: // ref.null: an abstract heap type (one byte) or a type index
			err = w.skipLEB()
		case 0x6a, 0x6b, 0x6c, 0x7c, 0x7d, 0x7e: // extended-const arithmetic
		default:
			return errGiveUp // v128.const and newer forms
		}
		if err != nil {
			return err
		}
		if w.off > len(w.b) {
			return errGiveUp
		}
	}
}

// elements walks element segments (the Wasm core spec, 5.5.12): flags bit 0 passive or declarative, bit 1 an
// explicit table (or declarative), bit 2 expressions instead of function indexes.
func (w *walker) elements() error {
	n, err := w.count("element segment count")
	for i := uint32(0); i < n && err == nil; i++ {
		var flags uint32
		var ok bool
		if flags, ok = w.U32(); !ok || flags > 7 {
			return errGiveUp
		}
		if flags&3 == 2 { // active with a table index
			if err = w.skipLEB(); err != nil {
				return err
			}
		}
		if flags&1 == 0 { // active: the offset
			if err = w.constExpr(); err != nil {
				return err
			}
		}
		if flags&3 != 0 { // element kind or reference type
			if t, e := w.byte(); e != nil || t == 0x63 || t == 0x64 {
				return errGiveUp
			}
		}
		var k uint32
		if k, err = w.count("element count"); err != nil {
			return err
		}
		if flags&4 == 0 {
			err = w.skipLEBs(k)
			continue
		}
		for j := uint32(0); j < k && err == nil; j++ {
			err = w.constExpr()
		}
	}
	return err
}

// code checks each function body's size and the locals it declares.
func (w *walker) code() error {
	n, err := w.count("function body count")
	for i := uint32(0); i < n && err == nil; i++ {
		size, e := w.count("function body size")
		if e != nil {
			return e
		}
		end := w.off + int(size)
		body := &walker{Reader: Reader{b: w.b[:end], off: w.off}, id: w.id}
		decls, e := body.count("local declaration count")
		if e != nil {
			return e
		}
		var locals uint64
		for j := uint32(0); j < decls; j++ {
			k, ok := body.U32()
			if !ok {
				return errGiveUp
			}
			if locals += uint64(k); locals > maxLocals {
				return fmt.Errorf("section %d: function body %d declares more than %d locals", w.id, i, maxLocals)
			}
			if t, e := body.byte(); e != nil || t == 0x63 || t == 0x64 {
				return errGiveUp
			}
		}
		w.off = end
	}
	return err
}

// data walks data segments: flags 0 active in memory 0, 1 passive, 2 active with a memory index.
func (w *walker) data() error {
	n, err := w.count("data segment count")
	for i := uint32(0); i < n && err == nil; i++ {
		flags, ok := w.U32()
		if !ok || flags > 2 {
			return errGiveUp
		}
		if flags == 2 {
			if err = w.skipLEB(); err != nil {
				return err
			}
		}
		if flags != 1 {
			if err = w.constExpr(); err != nil {
				return err
			}
		}
		err = w.skipName("data segment length")
	}
	return err
}

// magic is the module preamble: "\0asm" and binary format version 1. Check starts after it; the caller has
// already refused anything else with its own message.
var magic = []byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00}

// Reader decodes LEB128 integers and length-prefixed names without ever reading past its slice.
type Reader struct {
	b   []byte
	off int
}

// NewReader reads b from its start.
func NewReader(b []byte) *Reader { return &Reader{b: b} }

// U32 reads an unsigned LEB128 of at most five bytes.
func (r *Reader) U32() (uint32, bool) {
	var v uint32
	for shift := uint(0); shift < 35; shift += 7 {
		if r.off >= len(r.b) {
			return 0, false
		}
		c := r.b[r.off]
		r.off++
		v |= uint32(c&0x7f) << shift
		if c&0x80 == 0 {
			return v, true
		}
	}
	return 0, false
}

// Name reads a length-prefixed string.
func (r *Reader) Name() (string, bool) {
	n, ok := r.U32()
	if !ok || uint64(n) > uint64(len(r.b)-r.off) {
		return "", false
	}
	s := string(r.b[r.off : r.off+int(n)])
	r.off += int(n)
	return s, true
}
