package filter

import (
	"net/http"
	"strings"
)

// Headers is a header (or trailer) map as filters see it. Names are case-insensitive. Pseudo-headers
// (":path", ":method", ":authority", ":scheme", ":status") are part of the map, as in proxy-wasm.
type Headers interface {
	Get(name string) string
	Set(name, value string)
	Add(name, value string)
	Del(name string)
	// Range calls fn for each pair until it returns false.
	Range(fn func(name, value string) bool)
}

// HTTPRequestHeaders shows an *http.Request's header map and pseudo-headers as Headers without copying.
// Setting ":path", ":authority" or ":method" rewrites the request. Canonical names ("X-User") are cheapest:
// other spellings are canonicalised on each call.
type HTTPRequestHeaders struct {
	R *http.Request
}

func (h *HTTPRequestHeaders) Get(name string) string {
	if len(name) > 0 && name[0] == ':' {
		switch name {
		case ":path":
			return h.R.URL.RequestURI()
		case ":method":
			return h.R.Method
		case ":authority":
			return h.R.Host
		case ":scheme":
			if h.R.TLS != nil {
				return "https"
			}
			return "http"
		}
		return ""
	}
	return get(h.R.Header, name)
}

func (h *HTTPRequestHeaders) Set(name, value string) {
	if len(name) > 0 && name[0] == ':' {
		switch name {
		case ":path":
			path, query, _ := strings.Cut(value, "?")
			h.R.URL.Path, h.R.URL.RawPath, h.R.URL.RawQuery = path, "", query
		case ":method":
			h.R.Method = value
		case ":authority":
			h.R.Host = value
		}
		return
	}
	h.R.Header[CanonicalName(name)] = []string{value}
}

func (h *HTTPRequestHeaders) Add(name, value string) {
	if len(name) > 0 && name[0] == ':' {
		h.Set(name, value)
		return
	}
	add(h.R.Header, name, value)
}

func (h *HTTPRequestHeaders) Del(name string) {
	if len(name) > 0 && name[0] == ':' {
		return
	}
	delete(h.R.Header, CanonicalName(name))
}

func (h *HTTPRequestHeaders) Range(fn func(name, value string) bool) {
	for _, n := range [...]string{":method", ":path", ":authority", ":scheme"} {
		if !fn(n, h.Get(n)) {
			return
		}
	}
	rangeHeader(h.R.Header, fn)
}

// HTTPResponseHeaders shows a response header map and its ":status" as Headers.
type HTTPResponseHeaders struct {
	H      http.Header
	Status *int
}

func (h *HTTPResponseHeaders) Get(name string) string {
	if name == ":status" {
		return statusText(*h.Status)
	}
	return get(h.H, name)
}

func (h *HTTPResponseHeaders) Set(name, value string) {
	if name == ":status" {
		if n, ok := parseStatus(value); ok {
			*h.Status = n
		}
		return
	}
	if len(name) > 0 && name[0] == ':' {
		return
	}
	h.H[CanonicalName(name)] = []string{value}
}

func (h *HTTPResponseHeaders) Add(name, value string) {
	if len(name) > 0 && name[0] == ':' {
		h.Set(name, value)
		return
	}
	add(h.H, name, value)
}

func (h *HTTPResponseHeaders) Del(name string) { delete(h.H, CanonicalName(name)) }

func (h *HTTPResponseHeaders) Range(fn func(name, value string) bool) {
	if !fn(":status", statusText(*h.Status)) {
		return
	}
	rangeHeader(h.H, fn)
}

// MapHeaders shows a plain http.Header (trailers) as Headers.
type MapHeaders struct{ H http.Header }

func (h *MapHeaders) Get(name string) string { return get(h.H, name) }
func (h *MapHeaders) Set(name, value string) { h.H[CanonicalName(name)] = []string{value} }
func (h *MapHeaders) Add(name, value string) { add(h.H, name, value) }
func (h *MapHeaders) Del(name string)        { delete(h.H, CanonicalName(name)) }
func (h *MapHeaders) Range(fn func(name, value string) bool) {
	rangeHeader(h.H, fn)
}

// Pairs is a header list in wire order, the shape host/dubbo produces. Names compare case-insensitively.
type Pairs struct{ P [][2]string }

func (h *Pairs) Get(name string) string {
	for _, p := range h.P {
		if strings.EqualFold(p[0], name) {
			return p[1]
		}
	}
	return ""
}

func (h *Pairs) Set(name, value string) {
	for i, p := range h.P {
		if strings.EqualFold(p[0], name) {
			h.P[i][1] = value
			h.delFrom(name, i+1)
			return
		}
	}
	h.P = append(h.P, [2]string{strings.ToLower(name), value})
}

func (h *Pairs) Add(name, value string) { h.P = append(h.P, [2]string{strings.ToLower(name), value}) }
func (h *Pairs) Del(name string)        { h.delFrom(name, 0) }

func (h *Pairs) delFrom(name string, from int) {
	out := h.P[:from]
	for _, p := range h.P[from:] {
		if !strings.EqualFold(p[0], name) {
			out = append(out, p)
		}
	}
	h.P = out
}

func (h *Pairs) Range(fn func(name, value string) bool) {
	for _, p := range h.P {
		if !fn(p[0], p[1]) {
			return
		}
	}
}

// get, add: http.Header's Get and Add through the canonical-name cache, so lower-case names from guests do not
// allocate a canonical copy on every call.
func get(h http.Header, name string) string {
	if v := h[CanonicalName(name)]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func add(h http.Header, name, value string) {
	k := CanonicalName(name)
	h[k] = append(h[k], value)
}

// rangeHeader reports names in lower case, as proxy-wasm guests expect them.
func rangeHeader(h http.Header, fn func(name, value string) bool) {
	for k, vs := range h {
		lk := LowerName(k)
		for _, v := range vs {
			if !fn(lk, v) {
				return
			}
		}
	}
}

// statusTexts avoids strconv allocations for every status a response can carry.
var statusTexts = func() (t [600]string) {
	for i := 100; i < len(t); i++ {
		t[i] = itoa3(i)
	}
	return t
}()

func itoa3(n int) string {
	return string([]byte{byte('0' + n/100), byte('0' + n/10%10), byte('0' + n%10)})
}

func statusText(n int) string {
	if n >= 100 && n < len(statusTexts) {
		return statusTexts[n]
	}
	return "0"
}

func parseStatus(s string) (int, bool) {
	if len(s) != 3 {
		return 0, false
	}
	n := 0
	for i := 0; i < 3; i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, n >= 100
}
