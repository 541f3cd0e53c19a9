package wasm

import (
	"strings"
	"sync"

	"github.com/wasmesh/wasmesh/host/abi"
	"github.com/wasmesh/wasmesh/host/proxy/filter"
)

// toPairs appends h as proxy-wasm pairs with lower-case names.
func toPairs(dst abi.Headers, h filter.Headers) abi.Headers {
	h.Range(func(k, v string) bool {
		dst = append(dst, abi.Header{Key: lowerName(k), Value: v})
		return true
	})
	return dst
}

// applyPairs writes the module's edits back when there are any: the common case, a module that only reads or
// adds nothing, costs a comparison.
func applyPairs(h filter.Headers, orig, now abi.Headers) {
	if equalPairs(orig, now) {
		return
	}
	// Remove every name that was there, then set what is there now; pseudo-headers are set in place.
	for _, p := range orig {
		if !isPseudo(p.Key) {
			h.Del(p.Key)
		}
	}
	seenPseudo := map[string]bool{}
	for _, p := range now {
		if isPseudo(p.Key) {
			if !seenPseudo[p.Key] {
				h.Set(p.Key, p.Value)
				seenPseudo[p.Key] = true
			}
			continue
		}
		h.Add(p.Key, p.Value)
	}
}

func isPseudo(k string) bool { return len(k) > 0 && k[0] == ':' }

func equalPairs(a, b abi.Headers) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// lowerNames caches the lower-case form of header names, which net/http keeps canonical ("User-Agent"), so
// converting the usual names does not allocate. It stops growing at maxLowerNames so clients sending random
// names cannot grow it without bound.
var (
	lowerNames     sync.Map
	lowerNameCount atomicCounter
)

const maxLowerNames = 4096

func lowerName(k string) string {
	if !hasUpper(k) {
		return k
	}
	if v, ok := lowerNames.Load(k); ok {
		return v.(string)
	}
	l := strings.ToLower(k)
	if lowerNameCount.add() <= maxLowerNames {
		lowerNames.Store(k, l)
	}
	return l
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			return true
		}
	}
	return false
}
