package inspect

import (
	"strings"

	"github.com/wasmesh/wasmesh/host/internal/wasmbin"
)

// producersLanguage reads the "language" field of a producers custom section (the tool-conventions format: a
// vector of fields, each a name and a vector of name/version pairs) and returns e.g. "Rust" or "C11". It returns
// "" for anything it cannot read: the section comes from the module author and is untrusted.
func producersLanguage(b []byte) string {
	r := wasmbin.NewReader(b)
	fields, ok := r.U32()
	if !ok {
		return ""
	}
	for i := uint32(0); i < fields; i++ {
		name, ok := r.Name()
		if !ok {
			return ""
		}
		n, ok := r.U32()
		if !ok {
			return ""
		}
		var values []string
		for j := uint32(0); j < n; j++ {
			v, ok1 := r.Name()
			ver, ok2 := r.Name()
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
