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

// applyPairs writes the module's edits back when there are any. A module that only reads costs a comparison;
// one that only appends (proxy_add_header_map_value, or replacing a header that was absent) costs the Adds.
func applyPairs(h filter.Headers, orig, now abi.Headers) {
	if len(now) >= len(orig) && equalPairs(orig, now[:len(orig)]) {
		for _, p := range now[len(orig):] {
			if isPseudo(p.Key) {
				h.Set(p.Key, p.Value)
			} else {
				h.Add(p.Key, p.Value)
			}
		}
		return
	}
	// Anything else: remove every name that was there, then write what is there now; a pseudo-header is set
	// once, from its first entry.
	for _, p := range orig {
		if !isPseudo(p.Key) {
			h.Del(p.Key)
		}
	}
	var pseudoSeen [8]string
	nSeen := 0
	for _, p := range now {
		if !isPseudo(p.Key) {
			h.Add(p.Key, p.Value)
			continue
		}
		seen := false
		for _, k := range pseudoSeen[:nSeen] {
			seen = seen || k == p.Key
		}
		if !seen {
			h.Set(p.Key, p.Value)
			if nSeen < len(pseudoSeen) {
				pseudoSeen[nSeen] = p.Key
				nSeen++
			}
		}
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
