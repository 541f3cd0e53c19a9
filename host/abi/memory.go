package abi

import (
	"encoding/binary"
	"errors"
)

// Errors of the guest-data decoders. Host functions turn them into StatusInvalidMemoryAccess and StatusBadArgument.
var (
	ErrOutOfBounds = errors.New("abi: guest pointer or length outside linear memory")
	ErrBadEncoding = errors.New("abi: malformed proxy-wasm map encoding")
)

// Memory is the part of wazero's api.Memory the decoders need; a plain byte slice can stand in for it in tests.
type Memory interface {
	Read(offset, byteCount uint32) ([]byte, bool)
}

// ReadBytes returns a view of size bytes of guest memory at ptr, valid until the guest runs again (it may grow or
// reuse memory). A zero size is always valid and yields nil.
func ReadBytes(mem Memory, ptr, size uint32) ([]byte, error) {
	if size == 0 {
		return nil, nil
	}
	b, ok := mem.Read(ptr, size)
	if !ok {
		return nil, ErrOutOfBounds
	}
	return b, nil
}

// VisitMap walks a map in the proxy-wasm encoding (u32 count, count × (u32 key length, u32 value length), then each
// key and value followed by a NUL byte) without allocating; key and value alias b. It checks every length against b
// before slicing, so hostile input yields ErrBadEncoding, never a panic.
func VisitMap(b []byte, fn func(key, value []byte)) error {
	if len(b) == 0 {
		return nil // an empty buffer is how some SDKs send an empty map
	}
	if len(b) < 4 {
		return ErrBadEncoding
	}
	count := uint64(binary.LittleEndian.Uint32(b))
	// Each entry needs 8 bytes of lengths and 2 NULs: reject counts that cannot fit before doing any arithmetic
	// that could overflow.
	if count > uint64(len(b)-4)/10 {
		return ErrBadEncoding
	}
	sizes := b[4 : 4+8*count]
	data := uint64(4 + 8*count)
	end := uint64(len(b))
	for i := uint64(0); i < count; i++ {
		kl := uint64(binary.LittleEndian.Uint32(sizes[8*i:]))
		vl := uint64(binary.LittleEndian.Uint32(sizes[8*i+4:]))
		if data+kl+1+vl+1 > end {
			return ErrBadEncoding
		}
		k := b[data : data+kl]
		data += kl + 1
		v := b[data : data+vl]
		data += vl + 1
		fn(k, v)
	}
	return nil
}

// DecodeMap decodes a proxy-wasm encoded map into fresh Headers (the strings are copies, safe to keep).
func DecodeMap(b []byte) (Headers, error) {
	var h Headers
	err := VisitMap(b, func(k, v []byte) {
		// One allocation per entry: key and value share a string.
		kv := string(k) + string(v)
		h = append(h, Header{kv[:len(k)], kv[len(k):]})
	})
	if err != nil {
		return nil, err
	}
	return h, nil
}

// EncodeMap writes h in the proxy-wasm map encoding into dst, which must be h.SerializedSize() bytes long (it can
// be a view of guest memory, so nothing is allocated).
func EncodeMap(dst []byte, h Headers) {
	binary.LittleEndian.PutUint32(dst, uint32(len(h)))
	p := 4
	for i := range h {
		binary.LittleEndian.PutUint32(dst[p:], uint32(len(h[i].Key)))
		binary.LittleEndian.PutUint32(dst[p+4:], uint32(len(h[i].Value)))
		p += 8
	}
	for i := range h {
		p += copy(dst[p:], h[i].Key)
		dst[p] = 0
		p++
		p += copy(dst[p:], h[i].Value)
		dst[p] = 0
		p++
	}
}

// AppendMap appends the proxy-wasm encoding of h to dst; for tests and for hosts that build maps off-guest.
func AppendMap(dst []byte, h Headers) []byte {
	n := len(dst)
	dst = append(dst, make([]byte, h.SerializedSize())...)
	EncodeMap(dst[n:], h)
	return dst
}

// PropertyPath turns a property path as the guest sends it (segments separated by NUL bytes, with an optional
// trailing NUL) into the dotted form ("request.path") the data plane looks up, writing into dst and returning it.
// A path with an empty segment other than a trailing one is malformed.
func PropertyPath(dst, path []byte) ([]byte, error) {
	if len(path) > 0 && path[len(path)-1] == 0 {
		path = path[:len(path)-1]
	}
	if len(path) == 0 {
		return dst, ErrBadEncoding
	}
	start := len(dst)
	for _, c := range path {
		if c == 0 {
			if len(dst) == start || dst[len(dst)-1] == '.' {
				return dst, ErrBadEncoding
			}
			c = '.'
		}
		dst = append(dst, c)
	}
	if dst[len(dst)-1] == '.' {
		return dst, ErrBadEncoding
	}
	return dst, nil
}

// BufferRange clips the range [start, start+max) to a buffer of length n, the way proxy_get_buffer_bytes reads:
// a start past the end is a bad argument, a long max is cut to what is there.
func BufferRange(n int, start, max uint32) (lo, hi int, ok bool) {
	s := uint64(start)
	if s > uint64(n) {
		return 0, 0, false
	}
	e := s + uint64(max)
	if e > uint64(n) {
		e = uint64(n)
	}
	return int(s), int(e), true
}

// SpliceBuffer applies proxy_set_buffer_bytes to buf: the bytes [start, start+size) (clipped to the buffer) are
// replaced with data. start == 0 && size == 0 prepends, start >= len(buf) appends, size >= len(buf) replaces.
func SpliceBuffer(buf []byte, start, size uint32, data []byte) []byte {
	lo, hi, ok := BufferRange(len(buf), start, size)
	if !ok {
		lo, hi = len(buf), len(buf)
	}
	tail := len(buf) - hi
	newLen := lo + len(data) + tail
	if newLen <= cap(buf) {
		out := buf[:newLen]
		copy(out[lo+len(data):], buf[hi:hi+tail])
		copy(out[lo:], data)
		return out
	}
	out := make([]byte, newLen, newLen+newLen/4)
	copy(out, buf[:lo])
	copy(out[lo:], data)
	copy(out[lo+len(data):], buf[hi:])
	return out
}
