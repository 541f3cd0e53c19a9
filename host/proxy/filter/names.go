package filter

import (
	"net/textproto"
	"strings"
	"sync"
	"sync/atomic"
)

// Header names cross between two spellings on every request: net/http keeps them canonical ("User-Agent") and
// proxy-wasm guests see and write them in lower case ("user-agent"). Converting allocates a string each time, so
// both directions go through a cache. Each cache stops growing at maxCachedNames entries, so clients sending
// random names cannot grow it without bound (names past the limit are converted, and allocate, every time).
const maxCachedNames = 4096

type nameCache struct {
	m sync.Map // string -> string
	n atomic.Int64
}

func (c *nameCache) get(k string, convert func(string) string) string {
	if v, ok := c.m.Load(k); ok {
		return v.(string)
	}
	v := convert(k)
	if c.n.Add(1) <= maxCachedNames {
		c.m.Store(strings.Clone(k), v)
	}
	return v
}

var lowerNames, canonicalNames nameCache

// LowerName returns name with its ASCII letters in lower case (header names are ASCII tokens; other bytes are
// kept as they are, where strings.ToLower would rewrite invalid UTF-8), without allocating for names seen before.
func LowerName(name string) string {
	if !hasUpper(name) {
		return name
	}
	return lowerNames.get(name, asciiLower)
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// CanonicalName returns the net/http spelling of a header name ("x-user" -> "X-User"), without allocating for
// names already canonical or seen before. Native filters convert their configured names once at build time.
func CanonicalName(name string) string {
	if isCanonical(name) {
		return name
	}
	return canonicalNames.get(name, textproto.CanonicalMIMEHeaderKey)
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			return true
		}
	}
	return false
}

// isCanonical reports whether textproto.CanonicalMIMEHeaderKey would return s unchanged: letters upper case at
// the start and after each '-', lower case elsewhere. Names with other bytes (spaces, non-token bytes) are left
// to textproto, which keeps them as they are.
func isCanonical(s string) bool {
	upper := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case upper && 'a' <= c && c <= 'z', !upper && 'A' <= c && c <= 'Z':
			return false
		case c == ' ' || c >= 0x80:
			return false
		}
		upper = c == '-'
	}
	return true
}
