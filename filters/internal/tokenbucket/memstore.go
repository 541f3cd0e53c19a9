package tokenbucket

import "strings"

// MemStore is a Store in a map, with proxy-wasm's CAS rules, for native tests and benchmarks of the filters. It is
// not safe for concurrent use. Steal makes the next Steal writes fail with ErrCASMismatch, as if another VM had
// written first; Writes counts Set calls.
type MemStore struct {
	data   map[string]memEntry
	Steal  int
	Writes int
}

type memEntry struct {
	v   []byte
	cas uint32
}

// NewMemStore returns an empty store.
func NewMemStore() *MemStore { return &MemStore{data: map[string]memEntry{}} }

// Get returns the value and CAS of key.
func (m *MemStore) Get(key string) ([]byte, uint32, bool, error) {
	e, ok := m.data[key]
	return e.v, e.cas, ok, nil
}

// Set writes key when cas is 0 or the key's current CAS. Key and value are copied: callers reuse their memory.
func (m *MemStore) Set(key string, v []byte, cas uint32) error {
	m.Writes++
	if m.Steal > 0 {
		m.Steal--
		return ErrCASMismatch
	}
	e, ok := m.data[key]
	if cas != 0 && (!ok || e.cas != cas) {
		return ErrCASMismatch
	}
	if ok {
		// Overwrite in place, so benchmarks count the filter's allocations rather than the map's.
		m.data[key] = memEntry{v: append(e.v[:0], v...), cas: e.cas + 1}
		return nil
	}
	m.data[strings.Clone(key)] = memEntry{v: append([]byte{}, v...), cas: 1}
	return nil
}

// Put stores raw bytes at key, as another writer (or an older version of a filter) could have.
func (m *MemStore) Put(key string, v []byte) { _ = m.Set(key, v, 0) } // cas 0 cannot mismatch

// Len is the number of keys.
func (m *MemStore) Len() int { return len(m.data) }
