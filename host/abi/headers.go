package abi

// Header is one header (or trailer, or metadata) entry.
type Header struct {
	Key, Value string
}

// Headers is an ordered header map, as the data plane fills it and the guest changes it. It is a plain slice so the
// data plane can reuse its backing array across streams (h = h[:0]) and the host reads it without allocating. Keys
// compare ASCII case-insensitively, like HTTP header names; pseudo headers (":path") and non-HTTP keys (Dubbo
// attachments) are just keys.
type Headers []Header

// Get returns the first value of key.
func (h Headers) Get(key string) (string, bool) { return get(h, key) }

// GetBytes is Get for a key still in guest memory: it compares in place instead of allocating a string.
func (h Headers) GetBytes(key []byte) (string, bool) { return get(h, key) }

func get[K string | []byte](h Headers, key K) (string, bool) {
	for i := range h {
		if equalFold(h[i].Key, key) {
			return h[i].Value, true
		}
	}
	return "", false
}

// Add appends an entry, keeping any existing ones with the same key.
func (h *Headers) Add(key, value string) { *h = append(*h, Header{key, value}) }

// Set replaces the value of the first entry for key, drops the others, or appends one.
func (h *Headers) Set(key, value string) {
	if i := index(*h, key); i >= 0 {
		replaceAt(h, i, key, value)
		return
	}
	h.Add(key, value)
}

// replaceAt sets the value of entry i, which holds key, and drops the later entries for key.
func replaceAt[K string | []byte](h *Headers, i int, key K, value string) {
	(*h)[i].Value = value
	rest := (*h)[i+1:]
	del(&rest, key)
	*h = (*h)[:i+1+len(rest)]
}

// Del removes every entry for key.
func (h *Headers) Del(key string) { del(h, key) }

// DelBytes is Del for a key still in guest memory.
func (h *Headers) DelBytes(key []byte) { del(h, key) }

func index[K string | []byte](h Headers, key K) int {
	for i := range h {
		if equalFold(h[i].Key, key) {
			return i
		}
	}
	return -1
}

func del[K string | []byte](h *Headers, key K) {
	s := *h
	n := 0
	for i := range s {
		if equalFold(s[i].Key, key) {
			continue
		}
		s[n] = s[i]
		n++
	}
	clear(s[n:])
	*h = s[:n]
}

// SerializedSize is the size of h in the proxy-wasm map encoding.
func (h Headers) SerializedSize() int {
	n := 4
	for i := range h {
		n += 8 + len(h[i].Key) + 1 + len(h[i].Value) + 1
	}
	return n
}

// Clone returns a copy of h that shares no backing array with it.
func (h Headers) Clone() Headers {
	if h == nil {
		return nil
	}
	return append(Headers(make([]Header, 0, len(h))), h...)
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// equalFold compares ASCII case-insensitively, which is what header names need; no Unicode folding.
func equalFold[K string | []byte](a string, b K) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if a[i] != b[i] && lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}

// SetBytes is Set for a key and value still in guest memory. It keeps the existing key string when there is one,
// so replacing a value allocates only the value.
func (h *Headers) SetBytes(key, value []byte) {
	if i := index(*h, key); i >= 0 {
		replaceAt(h, i, key, string(value))
		return
	}
	kv := string(key) + string(value) // one allocation for both
	h.Add(kv[:len(key)], kv[len(key):])
}

// AddBytes is Add for a key and value still in guest memory; key and value share one allocation.
func (h *Headers) AddBytes(key, value []byte) {
	kv := string(key) + string(value)
	h.Add(kv[:len(key)], kv[len(key):])
}
