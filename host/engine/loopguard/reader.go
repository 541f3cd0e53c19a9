package loopguard

import (
	"errors"
	"fmt"
)

var (
	errShort    = errors.New("unexpected end of data")
	errTrailing = errors.New("trailing bytes")
)

// reader decodes the parts of the binary format Instrument needs. The first error sticks: later reads return
// zero values, so callers check err once after a group of reads.
type reader struct {
	b   []byte
	pos int
	err error
}

func (r *reader) done() bool { return r.pos >= len(r.b) }

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.pos = len(r.b)
}

func (r *reader) byte() byte {
	if r.pos >= len(r.b) {
		r.fail(errShort)
		return 0
	}
	c := r.b[r.pos]
	r.pos++
	return c
}

func (r *reader) bytes(n uint32) []byte {
	if uint64(n) > uint64(len(r.b)-r.pos) {
		r.fail(errShort)
		return nil
	}
	s := r.b[r.pos : r.pos+int(n)]
	r.pos += int(n)
	return s
}

// leb skips a LEB128 number of at most maxBytes bytes and returns its low 32 bits (enough for every count and
// index; wider immediates are only skipped).
func (r *reader) leb(maxBytes int) uint32 {
	if r.pos < len(r.b) && r.b[r.pos] < 0x80 { // one byte: most indexes and offsets
		c := r.b[r.pos]
		r.pos++
		return uint32(c)
	}
	var v uint32
	for i := 0; i < maxBytes; i++ {
		c := r.byte()
		if r.err != nil {
			return 0
		}
		if i < 5 {
			v |= uint32(c&0x7f) << (7 * i)
		}
		if c&0x80 == 0 {
			return v
		}
	}
	r.fail(errors.New("LEB128 number too long"))
	return 0
}

func (r *reader) u32() uint32 { return r.leb(5) }

func (r *reader) limits() {
	flags := r.byte()
	r.leb(10)
	if flags&1 != 0 {
		r.leb(10)
	}
}

// blockType skips a block type: empty (0x40), a value type, or a type index (s33).
func (r *reader) blockType() {
	if r.pos < len(r.b) {
		switch r.b[r.pos] {
		case 0x40, 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f:
			r.pos++
			return
		}
	}
	r.leb(5)
}

// valType reads a one-byte value or reference type, or the element kind 0x00. Multi-byte reference types (the GC
// proposal's) are refused: the rewrite would have to understand them to find the end of what follows.
func (r *reader) valType() {
	switch c := r.byte(); c {
	case 0x00, 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f:
	default:
		if r.err == nil {
			r.fail(fmt.Errorf("value type %#x", c))
		}
	}
}

func (r *reader) memarg() {
	align := r.u32()
	if align&0x40 != 0 { // multi-memory: a memory index follows
		r.u32()
	}
	r.leb(10) // offset (u64 with memory64)
}

// Immediate shapes of single-byte opcodes, looked up in opImm: a table rather than a switch because this runs once
// per instruction of multi-megabyte modules on every Compile.
const (
	immInvalid uint8 = iota
	immNone
	immBlock    // block type
	immU32      // one index or count
	immU32x2    // two indexes
	immBrTable  // vec(label) label
	immSelectT  // vec(valtype)
	immTryTable // block type, vec(catch)
	immMemarg   // align, offset
	immLEB5     // i32.const, ref.null heap type
	immLEB10    // i64.const
	immBytes4   // f32.const
	immBytes8   // f64.const
	immFC       // 0xfc prefix
	immFD       // 0xfd prefix (SIMD)
	immFE       // 0xfe prefix (threads)
)

var opImm = func() (t [256]uint8) {
	set := func(k uint8, ops ...int) {
		for _, op := range ops {
			t[op] = k
		}
	}
	set(immNone, 0x00, 0x01, 0x05, 0x0a, 0x0b, 0x0f, 0x19, 0x1a, 0x1b, 0xd1)
	for op := 0x45; op <= 0xc4; op++ {
		t[op] = immNone
	}
	set(immBlock, 0x02, 0x03, 0x04, 0x06) // block, loop, if, try
	// catch, throw, rethrow, br, br_if, call, return_call, delegate, ref.func, locals, globals, tables,
	// memory.size, memory.grow
	set(immU32, 0x07, 0x08, 0x09, 0x0c, 0x0d, 0x10, 0x12, 0x18, 0xd2, 0x3f, 0x40)
	for op := 0x20; op <= 0x26; op++ {
		t[op] = immU32
	}
	set(immU32x2, 0x11, 0x13) // call_indirect, return_call_indirect
	set(immBrTable, 0x0e)
	set(immSelectT, 0x1c)
	set(immTryTable, 0x1f)
	for op := 0x28; op <= 0x3e; op++ {
		t[op] = immMemarg
	}
	set(immLEB5, 0x41, 0xd0)
	set(immLEB10, 0x42)
	set(immBytes4, 0x43)
	set(immBytes8, 0x44)
	set(immFC, 0xfc)
	set(immFD, 0xfd)
	set(immFE, 0xfe)
	return t
}()

// skipImmediates skips the immediates of the instruction op, whose opcode byte was just read. It knows the MVP,
// sign extension, saturating truncation, bulk memory, reference types, multi-value, tail calls, exception
// handling (legacy and try_table), SIMD (with relaxed SIMD) and threads.
func (r *reader) skipImmediates(op byte) {
	switch opImm[op] {
	case immNone:
	case immBlock:
		r.blockType()
	case immU32:
		r.u32()
	case immU32x2:
		r.u32()
		r.u32()
	case immBrTable:
		for n := r.u32(); n > 0 && r.err == nil; n-- {
			r.u32()
		}
		r.u32()
	case immSelectT:
		for n := r.u32(); n > 0 && r.err == nil; n-- {
			r.byte()
		}
	case immTryTable:
		r.blockType()
		for n := r.u32(); n > 0 && r.err == nil; n-- {
			switch kind := r.byte(); kind {
			case 0x00, 0x01:
				r.u32()
				r.u32()
			case 0x02, 0x03:
				r.u32()
			default:
				r.fail(fmt.Errorf("try_table catch kind %#x", kind))
			}
		}
	case immMemarg:
		r.memarg()
	case immLEB5:
		r.leb(5)
	case immLEB10:
		r.leb(10)
	case immBytes4:
		r.bytes(4)
	case immBytes8:
		r.bytes(8)
	case immFC:
		r.skipFC(r.u32())
	case immFD:
		r.skipSIMD(r.u32())
	case immFE:
		if sub := r.u32(); sub == 0x03 { // atomic.fence
			r.byte()
		} else {
			r.memarg()
		}
	default:
		r.fail(fmt.Errorf("unknown opcode %#x at offset %d", op, r.pos-1))
	}
}

func (r *reader) skipFC(sub uint32) {
	switch {
	case sub <= 7: // saturating truncations
	case sub == 8, sub == 10, sub == 12, sub == 14: // memory.init, memory.copy, table.init, table.copy
		r.u32()
		r.u32()
	case sub <= 17: // data.drop, memory.fill, elem.drop, table.grow/size/fill
		r.u32()
	default:
		r.fail(fmt.Errorf("unknown 0xfc opcode %d", sub))
	}
}

func (r *reader) skipSIMD(sub uint32) {
	switch {
	case sub <= 11, sub == 92, sub == 93: // loads, stores, load32_zero, load64_zero
		r.memarg()
	case sub == 12, sub == 13: // v128.const, i8x16.shuffle
		r.bytes(16)
	case sub >= 21 && sub <= 34: // extract/replace lane
		r.byte()
	case sub >= 84 && sub <= 91: // load/store lane
		r.memarg()
		r.byte()
	case sub <= 0x113: // everything else up to relaxed SIMD has no immediates
	default:
		r.fail(fmt.Errorf("unknown SIMD opcode %d", sub))
	}
}

func appendU32(b []byte, v uint32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}
