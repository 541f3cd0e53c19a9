package hessian

import (
	"encoding/binary"
	"unicode/utf8"
)

// maxChunk is the most characters one string chunk can hold (its length is a uint16).
const maxChunk = 0xffff

// AppendString appends s as a Hessian string, in the shortest form, split into chunks past 65535 characters.
// Hessian counts UTF-16 code units and Java's reader only knows 1- to 3-byte sequences, so a supplementary
// character (4 bytes in UTF-8) is written as two 3-byte surrogates, as Java and dubbo-go write it.
func AppendString(dst []byte, s string) []byte {
	for {
		units, size, wide := measure(s)
		rest := s[size:]
		switch {
		case rest != "":
			dst = append(dst, TagStringChunk, byte(units>>8), byte(units))
		case units <= 0x1f:
			dst = append(dst, byte(units))
		case units <= 0x3ff:
			dst = append(dst, byte(0x30+units>>8), byte(units))
		default:
			dst = append(dst, TagStringFinal, byte(units>>8), byte(units))
		}
		if wide {
			dst = appendSurrogates(dst, s[:size])
		} else {
			dst = append(dst, s[:size]...)
		}
		if rest == "" {
			return dst
		}
		s = rest
	}
}

// measure reads at most one chunk of s by lead bytes, as the reader counts: it returns the chunk's length in
// UTF-16 units, its size in bytes, and whether it holds a 4-byte sequence to rewrite as surrogates. Bytes that
// are not valid UTF-8 are counted one unit each and passed through.
func measure(s string) (units, size int, wide bool) {
	for size < len(s) {
		c := s[size]
		w, u, room := 1, 1, 1
		switch {
		case c >= 0xc0 && c <= 0xdf:
			w = 2
		case c >= 0xe0 && c <= 0xef:
			w = 3
			// A high surrogate needs room for its low half: chunks must not split a pair.
			if c == 0xed && size+1 < len(s) && s[size+1] >= 0xa0 && s[size+1] <= 0xaf {
				room = 2
			}
		case c >= 0xf0 && c <= 0xf7:
			if r, n := utf8.DecodeRuneInString(s[size:]); n == 4 && r > 0xffff {
				w, u, room, wide = 4, 2, 2, true
			}
		}
		if units+room > maxChunk {
			break
		}
		units += u
		size = min(size+w, len(s))
	}
	return units, size, wide
}

// appendSurrogates copies s, writing each 4-byte sequence as a UTF-16 surrogate pair of 3-byte sequences.
func appendSurrogates(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		if c := s[i]; c >= 0xf0 && c <= 0xf7 {
			if r, n := utf8.DecodeRuneInString(s[i:]); n == 4 && r > 0xffff {
				r -= 0x10000
				dst = append3(dst, 0xd800+(r>>10))
				dst = append3(dst, 0xdc00+(r&0x3ff))
				i += 4
				continue
			}
		}
		dst = append(dst, s[i])
		i++
	}
	return dst
}

func append3(dst []byte, u rune) []byte {
	return append(dst, byte(0xe0|u>>12), byte(0x80|(u>>6)&0x3f), byte(0x80|u&0x3f))
}

// AppendInt appends a 32-bit int in its shortest form.
func AppendInt(dst []byte, v int32) []byte {
	switch {
	case v >= -16 && v <= 47:
		return append(dst, byte(v+0x90))
	case v >= -2048 && v <= 2047:
		return append(dst, byte(0xc8+v>>8), byte(v))
	case v >= -262144 && v <= 262143:
		return append(dst, byte(0xd4+v>>16), byte(v>>8), byte(v))
	}
	dst = append(dst, 'I', 0, 0, 0, 0)
	binary.BigEndian.PutUint32(dst[len(dst)-4:], uint32(v))
	return dst
}

// AppendNull appends the null value.
func AppendNull(dst []byte) []byte { return append(dst, TagNull) }

// AppendMapStart starts an untyped map ('H'); append key and value pairs, then AppendEnd.
func AppendMapStart(dst []byte) []byte { return append(dst, TagMapUntyped) }

// AppendEnd closes a map or a variable-length list.
func AppendEnd(dst []byte) []byte { return append(dst, TagEnd) }
