package hessian

import (
	"encoding/binary"
	"unicode/utf8"
)

// maxChunk is the most characters one string chunk can hold (its length is a uint16).
const maxChunk = 0xffff

// AppendString appends s as a Hessian string, in the shortest form, split into chunks past 65535 characters.
// Hessian counts UTF-16 code units and Java's reader only knows 1- to 3-byte sequences, so a supplementary
// character (4 bytes in UTF-8) is written as two 3-byte surrogates, as Java and dubbo-go write it. Bytes that
// are not UTF-8 are written as U+FFFD, so the output is always readable.
func AppendString(dst []byte, s string) []byte {
	for {
		units, size, rewrite := measure(s)
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
		if rewrite {
			dst = appendRewritten(dst, s[:size])
		} else {
			dst = append(dst, s[:size]...)
		}
		if rest == "" {
			return dst
		}
		s = rest
	}
}

// measure reads at most one chunk of s: its length in UTF-16 units, its size in bytes, and whether it holds
// sequences to rewrite (4-byte ones, or invalid bytes).
func measure(s string) (units, size int, rewrite bool) {
	// ASCII fast path: one unit per byte, nothing to rewrite.
	for size < len(s) && size < maxChunk && s[size] < 0x80 {
		size++
	}
	units = size
	for size < len(s) {
		w, u, room := 1, 1, 1
		if s[size] >= 0x80 {
			w, u = utf16Seq(s, size)
			switch {
			case w <= 0: // invalid: one byte becomes U+FFFD
				w, u, rewrite = 1, 1, true
			case w == 4:
				room, rewrite = 2, true
			case w == 3 && s[size] == 0xed && s[size+1] >= 0xa0 && s[size+1] <= 0xaf:
				// A high surrogate needs room for its low half: chunks must not split a pair.
				room = 2
			}
		}
		if units+room > maxChunk {
			break
		}
		units += u
		size += w
	}
	return units, size, rewrite
}

// appendRewritten copies s, writing each 4-byte sequence as a UTF-16 surrogate pair of 3-byte sequences and
// each invalid byte as U+FFFD.
func appendRewritten(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		if s[i] < 0x80 {
			dst = append(dst, s[i])
			i++
			continue
		}
		switch w, _ := utf16Seq(s, i); w {
		case 4:
			r, _ := utf8.DecodeRuneInString(s[i:])
			r -= 0x10000
			dst = append3(dst, 0xd800+(r>>10))
			dst = append3(dst, 0xdc00+(r&0x3ff))
			i += 4
		case 2, 3:
			dst = append(dst, s[i:i+w]...)
			i += w
		default:
			dst = append3(dst, utf8.RuneError)
			i++
		}
	}
	return dst
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

func append3(dst []byte, u rune) []byte {
	return append(dst, byte(0xe0|u>>12), byte(0x80|(u>>6)&0x3f), byte(0x80|u&0x3f))
}
