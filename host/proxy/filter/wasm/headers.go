package wasm

import (
	"net/http"

	"github.com/wasmesh/wasmesh/host/abi"
	"github.com/wasmesh/wasmesh/host/proxy/filter"
)

// toPairs appends h as proxy-wasm pairs with lower-case names. The proxy's own header types are walked directly:
// a closure handed to the Range method of an interface escapes, and would cost two allocations per call.
func toPairs(dst abi.Headers, h filter.Headers) abi.Headers {
	switch h := h.(type) {
	case *filter.HTTPRequestHeaders:
		for _, n := range pseudoRequest {
			dst = append(dst, abi.Header{Key: n, Value: h.Get(n)})
		}
		return appendHeader(dst, h.R.Header)
	case *filter.HTTPResponseHeaders:
		dst = append(dst, abi.Header{Key: ":status", Value: h.Get(":status")})
		return appendHeader(dst, h.H)
	case *filter.MapHeaders:
		return appendHeader(dst, h.H)
	case *filter.Pairs:
		for _, p := range h.P {
			dst = append(dst, abi.Header{Key: filter.LowerName(p[0]), Value: p[1]})
		}
		return dst
	}
	return rangePairs(dst, h)
}

// rangePairs is toPairs for other Headers; apart, so that its escaping closure does not move toPairs' dst to
// the heap.
func rangePairs(dst abi.Headers, h filter.Headers) abi.Headers {
	h.Range(func(k, v string) bool {
		dst = append(dst, abi.Header{Key: filter.LowerName(k), Value: v})
		return true
	})
	return dst
}

var pseudoRequest = [...]string{":method", ":path", ":authority", ":scheme"}

func appendHeader(dst abi.Headers, h http.Header) abi.Headers {
	for k, vs := range h {
		lk := filter.LowerName(k)
		for _, v := range vs {
			dst = append(dst, abi.Header{Key: lk, Value: v})
		}
	}
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
	if _, list := h.(*filter.Pairs); !list && len(orig) <= maxDiffPairs && len(now) <= maxDiffPairs {
		applyChangedNames(h, orig, now)
		return
	}
	// Anything else: remove every name that was there, then write what is there now; a pseudo-header is set
	// once, from its first entry.
	if ps, ok := h.(*filter.Pairs); ok {
		// A Dubbo request's list: one pass keeping the pseudo-headers gives what a Del per name would (orig lists
		// every name in it), without scanning the list once per name (a Dubbo call shows a dozen or more).
		kept := ps.P[:0]
		for _, kv := range ps.P {
			if isPseudo(kv[0]) {
				kept = append(kept, kv)
			}
		}
		ps.P = kept
	} else {
		for _, p := range orig {
			if !isPseudo(p.Key) {
				h.Del(p.Key)
			}
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

// maxDiffPairs bounds the maps applyChangedNames compares name by name (quadratic in their length); longer ones
// are rewritten whole.
const maxDiffPairs = 32

// applyChangedNames writes back only the names whose values the module changed, in order: a name it removed is
// deleted, one it added or whose values differ is replaced by its values now, the rest is not touched. An auth
// filter that strips its key header and sets a consumer header costs one delete and one set, not a delete and an
// add for every header of the request. A pseudo-header is set from its first entry when that changed.
func applyChangedNames(h filter.Headers, orig, now abi.Headers) {
	for i, p := range orig {
		if isPseudo(p.Key) || seenBefore(orig[:i], p.Key) || sameValues(orig[i:], now, p.Key) {
			continue
		}
		h.Del(p.Key)
		addValues(h, now, p.Key)
	}
	for i, p := range now {
		if seenBefore(now[:i], p.Key) {
			continue
		}
		if isPseudo(p.Key) {
			if v, ok := firstValue(orig, p.Key); !ok || v != p.Value {
				h.Set(p.Key, p.Value)
			}
			continue
		}
		if !seenBefore(orig, p.Key) {
			addValues(h, now[i:], p.Key)
		}
	}
}

func seenBefore(hs abi.Headers, k string) bool {
	for _, p := range hs {
		if p.Key == k {
			return true
		}
	}
	return false
}

func firstValue(hs abi.Headers, k string) (string, bool) {
	for _, p := range hs {
		if p.Key == k {
			return p.Value, true
		}
	}
	return "", false
}

// sameValues reports whether k has the same values, in the same order, in a and b.
func sameValues(a, b abi.Headers, k string) bool {
	i, j := 0, 0
	for {
		for i < len(a) && a[i].Key != k {
			i++
		}
		for j < len(b) && b[j].Key != k {
			j++
		}
		if i == len(a) || j == len(b) {
			return i == len(a) && j == len(b)
		}
		if a[i].Value != b[j].Value {
			return false
		}
		i, j = i+1, j+1
	}
}

func addValues(h filter.Headers, hs abi.Headers, k string) {
	for _, p := range hs {
		if p.Key == k {
			h.Add(k, p.Value)
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
