package hessian

import (
	"encoding/binary"
	"errors"
	"strconv"
)

// Errors returned by the readers. They are wrapped with the offset where reading stopped; callers decide with
// errors.Is.
var (
	// ErrShort means the input ended inside a value.
	ErrShort = errors.New("hessian: input ends inside a value")
	// ErrMalformed means a byte does not fit the Hessian 2.0 grammar at its position.
	ErrMalformed = errors.New("hessian: malformed value")
	// ErrTooDeep means lists, maps or objects are nested deeper than MaxDepth.
	ErrTooDeep = errors.New("hessian: values nested too deeply")
)

// MaxDepth bounds nesting of lists, maps and objects while skipping, so a hostile body cannot exhaust the stack.
const MaxDepth = 64

// Tags the Dubbo codec looks at directly.
const (
	TagNull        = 'N'
	TagEnd         = 'Z'
	TagMapUntyped  = 'H'
	TagMap         = 'M'
	TagStringFinal = 'S'
	TagStringChunk = 'R'
)

// Error tells where a read failed. Its Unwrap is one of the sentinel errors above.
type Error struct {
	Off int
	Err error
}

func (e *Error) Error() string { return e.Err.Error() + " at byte " + strconv.Itoa(e.Off) }
func (e *Error) Unwrap() error { return e.Err }

func short(off int) error     { return &Error{Off: off, Err: ErrShort} }
func malformed(off int) error { return &Error{Off: off, Err: ErrMalformed} }

// IsString reports whether the value at b[off] is a string (any chunk form).
func IsString(b []byte, off int) bool {
	if off >= len(b) {
		return false
	}
	t := b[off]
	return t <= 0x1f || (t >= 0x30 && t <= 0x33) || t == TagStringFinal || t == TagStringChunk
}

// String reads the string at b[off] and returns its UTF-8 bytes and the offset after it. A string in one chunk
// (every string under 64k characters) is returned as a sub-slice of b without copying; only a chunked string
// is copied into a new slice. The caller must copy the bytes if it keeps them beyond b's lifetime.
func String(b []byte, off int) (val []byte, next int, err error) {
	start, end, next, final, err := stringChunk(b, off)
	if err != nil {
		return nil, off, err
	}
	if final {
		return b[start:end], next, nil
	}
	// Chunked: gather the pieces. Each piece is bounded by the input, so the total is too.
	out := append([]byte(nil), b[start:end]...)
	for !final {
		start, end, next, final, err = stringChunk(b, next)
		if err != nil {
			return nil, off, err
		}
		out = append(out, b[start:end]...)
	}
	return out, next, nil
}

// SkipString returns the offset after the string at b[off] without copying anything.
func SkipString(b []byte, off int) (int, error) {
	next := off
	for {
		_, _, n, final, err := stringChunk(b, next)
		if err != nil {
			return off, err
		}
		next = n
		if final {
			return next, nil
		}
	}
}

// stringChunk reads one string chunk: its data spans b[start:end]; final is false for an 'R' chunk, which
// another chunk must follow.
func stringChunk(b []byte, off int) (start, end, next int, final bool, err error) {
	if off >= len(b) {
		return 0, 0, off, false, short(off)
	}
	t := b[off]
	var chars int
	final = true
	switch {
	case t <= 0x1f:
		chars, start = int(t), off+1
	case t >= 0x30 && t <= 0x33:
		if off+2 > len(b) {
			return 0, 0, off, false, short(off)
		}
		chars, start = int(t-0x30)<<8|int(b[off+1]), off+2
	case t == TagStringFinal || t == TagStringChunk:
		if off+3 > len(b) {
			return 0, 0, off, false, short(off)
		}
		chars, start = int(binary.BigEndian.Uint16(b[off+1:])), off+3
		final = t == TagStringFinal
	default:
		return 0, 0, off, false, malformed(off)
	}
	end, err = skipUTF16Chars(b, start, chars)
	if err != nil {
		return 0, 0, off, false, err
	}
	return start, end, end, final, nil
}

// skipUTF16Chars walks n characters as Hessian counts them: UTF-16 code units written as UTF-8. Java and
// dubbo-go write a supplementary character as two 3-byte surrogates (two characters); JavaScript encoders
// write it as one 4-byte sequence, which also counts as two characters.
func skipUTF16Chars(b []byte, i, n int) (int, error) {
	for n > 0 {
		// ASCII fast paths: most service names, methods and attachment values. Eight bytes at a time while no
		// byte has its high bit set, then one.
		if n >= 8 && i+8 <= len(b) && binary.LittleEndian.Uint64(b[i:])&0x8080808080808080 == 0 {
			i += 8
			n -= 8
			continue
		}
		if i < len(b) && b[i] < 0x80 {
			i++
			n--
			continue
		}
		if i >= len(b) {
			return i, short(i)
		}
		size, units := utf16Seq(b, i)
		if size <= 0 || units > n {
			if size < 0 {
				return i, short(i)
			}
			return i, malformed(i)
		}
		i += size
		n -= units
	}
	return i, nil
}

// utf16Seq measures the UTF-8 sequence at s[i]: its size in bytes and how many UTF-16 units it stands for.
// The reader and the writer share it so they always agree. size is 0 for an invalid sequence and -1 when s
// ends inside one. Surrogates written as 3-byte sequences (as Java writes them) are valid here.
func utf16Seq[T string | []byte](s T, i int) (size, units int) {
	c := s[i]
	switch {
	case c < 0x80:
		return 1, 1
	case c >= 0xc0 && c <= 0xdf:
		size, units = 2, 1
	case c >= 0xe0 && c <= 0xef:
		size, units = 3, 1
	case c >= 0xf0 && c <= 0xf4:
		size, units = 4, 2
	default:
		return 0, 0
	}
	if i+size > len(s) {
		return -1, 0
	}
	for k := 1; k < size; k++ {
		if s[i+k]&0xc0 != 0x80 {
			return 0, 0
		}
	}
	if size == 4 {
		// Only real supplementary characters: anything else would not survive as a surrogate pair.
		r := rune(c&0x07)<<18 | rune(s[i+1]&0x3f)<<12 | rune(s[i+2]&0x3f)<<6 | rune(s[i+3]&0x3f)
		if r < 0x10000 || r > 0x10ffff {
			return 0, 0
		}
	}
	return size, units
}

// Int reads a 32-bit int in any of its encodings (compact or 'I').
func Int(b []byte, off int) (v int32, next int, err error) {
	if off >= len(b) {
		return 0, off, short(off)
	}
	t := b[off]
	switch {
	case t >= 0x80 && t <= 0xbf:
		return int32(t) - 0x90, off + 1, nil
	case t >= 0xc0 && t <= 0xcf:
		if off+2 > len(b) {
			return 0, off, short(off)
		}
		return (int32(t)-0xc8)<<8 | int32(b[off+1]), off + 2, nil
	case t >= 0xd0 && t <= 0xd7:
		if off+3 > len(b) {
			return 0, off, short(off)
		}
		return (int32(t)-0xd4)<<16 | int32(b[off+1])<<8 | int32(b[off+2]), off + 3, nil
	case t == 'I':
		if off+5 > len(b) {
			return 0, off, short(off)
		}
		return int32(binary.BigEndian.Uint32(b[off+1:])), off + 5, nil
	}
	return 0, off, malformed(off)
}

// skipType skips a list or map type: a string, or an int referring to an earlier type.
func skipType(b []byte, off int) (int, error) {
	if IsString(b, off) {
		return SkipString(b, off)
	}
	_, next, err := Int(b, off)
	return next, err
}

// MapStart reads the start of a map ('H', or 'M' with its type) and returns the offset of the first key.
// Entries follow until the TagEnd byte.
func MapStart(b []byte, off int) (int, error) {
	if off >= len(b) {
		return off, short(off)
	}
	switch b[off] {
	case TagMapUntyped:
		return off + 1, nil
	case TagMap:
		return skipType(b, off+1)
	}
	return off, malformed(off)
}

// Scanner skips values. It remembers class definitions, because an object instance refers to its class by
// index and its field count is only known from the definition. A zero Scanner is ready; call Reset before
// scanning a new, unrelated stream. A Dubbo body is one Hessian stream, so one Scanner walks a whole body.
type Scanner struct {
	fields []int // field count of each class definition seen, by index; grown only when a stream has classes
}

// Reset forgets class definitions, keeping the memory.
func (s *Scanner) Reset() { s.fields = s.fields[:0] }

// Skip returns the offset just past the value (with any class definitions before it) at b[off].
func (s *Scanner) Skip(b []byte, off int) (int, error) { return s.skip(b, off, 0) }

func (s *Scanner) skip(b []byte, off, depth int) (int, error) {
	if depth > MaxDepth {
		return off, &Error{Off: off, Err: ErrTooDeep}
	}
	// Class definitions before a value are consumed in this loop rather than by recursion, so a long run of
	// them cannot grow the stack.
	for off < len(b) && b[off] == 'C' {
		next, err := SkipString(b, off+1)
		if err != nil {
			return off, err
		}
		n, next, err := Int(b, next)
		if err != nil {
			return off, err
		}
		if n < 0 {
			return off, malformed(off)
		}
		for i := int32(0); i < n; i++ {
			if next, err = SkipString(b, next); err != nil {
				return off, err
			}
		}
		s.fields = append(s.fields, int(n))
		off = next
	}
	if off >= len(b) {
		return off, short(off)
	}
	t := b[off]
	// fixed returns off+n if n bytes are there.
	fixed := func(n int) (int, error) {
		if off+n > len(b) {
			return off, short(off)
		}
		return off + n, nil
	}
	switch {
	case t <= 0x1f, t >= 0x30 && t <= 0x33, t == 'S', t == 'R':
		return SkipString(b, off)
	case t >= 0x20 && t <= 0x2f: // binary, 0-15 bytes
		return fixed(1 + int(t-0x20))
	case t >= 0x34 && t <= 0x37: // binary, 0-1023 bytes
		if off+2 > len(b) {
			return off, short(off)
		}
		return fixed(2 + (int(t-0x34)<<8 | int(b[off+1])))
	case t == 'A' || t == 'B': // binary: 'A' chunks, then a final chunk in any binary form
		next := off
		for next < len(b) && b[next] == 'A' {
			if next+3 > len(b) {
				return off, short(next)
			}
			n := int(binary.BigEndian.Uint16(b[next+1:]))
			if next+3+n > len(b) {
				return off, short(next)
			}
			next += 3 + n
		}
		if next >= len(b) {
			return off, short(next)
		}
		switch f := b[next]; {
		case f == 'B':
			if next+3 > len(b) {
				return off, short(next)
			}
			n := int(binary.BigEndian.Uint16(b[next+1:]))
			if next+3+n > len(b) {
				return off, short(next)
			}
			return next + 3 + n, nil
		case f >= 0x20 && f <= 0x2f:
			if next+1+int(f-0x20) > len(b) {
				return off, short(next)
			}
			return next + 1 + int(f-0x20), nil
		case f >= 0x34 && f <= 0x37:
			if next+2 > len(b) {
				return off, short(next)
			}
			n := int(f-0x34)<<8 | int(b[next+1])
			if next+2+n > len(b) {
				return off, short(next)
			}
			return next + 2 + n, nil
		}
		return off, malformed(next)
	case t >= 0x38 && t <= 0x3f: // long, 3 bytes
		return fixed(3)
	case t == 'D' || t == 'L' || t == 'J':
		return fixed(9)
	case t == 'I' || t == 'K' || t == 'Y' || t == 0x5f:
		return fixed(5)
	case t == 'F' || t == 'T' || t == 'N' || t == 0x5b || t == 0x5c:
		return off + 1, nil
	case t == 0x5d:
		return fixed(2)
	case t == 0x5e:
		return fixed(3)
	case t == 'H': // untyped map
		return s.skipUntil(b, off+1, depth)
	case t == 'M': // typed map
		next, err := skipType(b, off+1)
		if err != nil {
			return off, err
		}
		return s.skipUntil(b, next, depth)
	case t == 'O': // object: class index, then its fields
		idx, next, err := Int(b, off+1)
		if err != nil {
			return off, err
		}
		return s.skipObject(b, next, int(idx), depth)
	case t >= 0x60 && t <= 0x6f:
		return s.skipObject(b, off+1, int(t-0x60), depth)
	case t == 'Q': // reference to an earlier value
		_, next, err := Int(b, off+1)
		return next, err
	case t == 'U': // variable-length typed list
		next, err := skipType(b, off+1)
		if err != nil {
			return off, err
		}
		return s.skipUntil(b, next, depth)
	case t == 'W': // variable-length untyped list
		return s.skipUntil(b, off+1, depth)
	case t == 'V': // fixed-length typed list
		next, err := skipType(b, off+1)
		if err != nil {
			return off, err
		}
		n, next, err := Int(b, next)
		if err != nil {
			return off, err
		}
		return s.skipN(b, next, int(n), depth)
	case t == 'X': // fixed-length untyped list
		n, next, err := Int(b, off+1)
		if err != nil {
			return off, err
		}
		return s.skipN(b, next, int(n), depth)
	case t >= 0x70 && t <= 0x77: // compact fixed-length typed list
		next, err := skipType(b, off+1)
		if err != nil {
			return off, err
		}
		return s.skipN(b, next, int(t-0x70), depth)
	case t >= 0x78 && t <= 0x7f: // compact fixed-length untyped list
		return s.skipN(b, off+1, int(t-0x78), depth)
	case t >= 0x80 && t <= 0xbf: // int, 1 byte
		return off + 1, nil
	case t >= 0xc0 && t <= 0xcf: // int, 2 bytes
		return fixed(2)
	case t >= 0xd0 && t <= 0xd7: // int, 3 bytes
		return fixed(3)
	case t >= 0xd8 && t <= 0xef: // long, 1 byte
		return off + 1, nil
	case t >= 0xf0: // long, 2 bytes
		return fixed(2)
	}
	// 0x40, 0x45, 0x47, 0x50 are reserved; 'Z' is not a value.
	return off, malformed(off)
}

func (s *Scanner) skipObject(b []byte, off, idx, depth int) (int, error) {
	if idx < 0 || idx >= len(s.fields) {
		return off, malformed(off)
	}
	return s.skipN(b, off, s.fields[idx], depth)
}

// skipN skips n values. n comes from the input, but every value takes at least one byte, so the loop ends
// when the input does.
func (s *Scanner) skipN(b []byte, off, n, depth int) (int, error) {
	if n < 0 || n > len(b)-off {
		return off, malformed(off)
	}
	var err error
	for i := 0; i < n; i++ {
		if off, err = s.skip(b, off, depth+1); err != nil {
			return off, err
		}
	}
	return off, nil
}

// skipUntil skips values until the TagEnd byte and returns the offset after it.
func (s *Scanner) skipUntil(b []byte, off, depth int) (int, error) {
	var err error
	for {
		if off >= len(b) {
			return off, short(off)
		}
		if b[off] == TagEnd {
			return off + 1, nil
		}
		if off, err = s.skip(b, off, depth+1); err != nil {
			return off, err
		}
	}
}
