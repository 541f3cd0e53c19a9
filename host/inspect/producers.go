package inspect

import "strings"

// producersLanguage reads the "language" field of a producers custom section (the tool-conventions format: a
// vector of fields, each a name and a vector of name/version pairs) and returns e.g. "Rust" or "C11". It returns
// "" for anything it cannot read: the section comes from the module author and is untrusted.
func producersLanguage(b []byte) string {
	r := reader{b: b}
	fields, ok := r.u32()
	if !ok {
		return ""
	}
	for i := uint32(0); i < fields; i++ {
		name, ok := r.name()
		if !ok {
			return ""
		}
		n, ok := r.u32()
		if !ok {
			return ""
		}
		var values []string
		for j := uint32(0); j < n; j++ {
			v, ok1 := r.name()
			ver, ok2 := r.name()
			if !ok1 || !ok2 {
				return ""
			}
			if ver != "" {
				v += " " + ver
			}
			values = append(values, v)
		}
		if name == "language" && len(values) > 0 {
			return strings.Join(values, ", ")
		}
	}
	return ""
}

// reader decodes LEB128 integers and length-prefixed names without ever reading past its slice.
type reader struct {
	b   []byte
	off int
}

func (r *reader) u32() (uint32, bool) {
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

func (r *reader) name() (string, bool) {
	n, ok := r.u32()
	if !ok || uint64(n) > uint64(len(r.b)-r.off) {
		return "", false
	}
	s := string(r.b[r.off : r.off+int(n)])
	r.off += int(n)
	return s, true
}
