// Package lru is a small bounded least-recently-used cache keyed by a 64-bit hash, used by the filters to remember
// verified credentials. Callers keep whatever they need in the value to confirm a hit (the hash is only an index),
// so a hash collision can never turn into a false positive.
//
//	c := lru.New[entry](1024)
//	c.Put(h, entry{...})
//	if e, ok := c.Get(h); ok && e.token == token { ... }
package lru

// Cache is not safe for concurrent use: a proxy-wasm VM is single-threaded.
type Cache[V any] struct {
	max   int
	items map[uint64]*node[V]
	head  *node[V] // most recent
	tail  *node[V] // least recent
}

type node[V any] struct {
	key        uint64
	val        V
	prev, next *node[V]
}

// New returns a cache holding at most max entries (at least 1).
func New[V any](max int) *Cache[V] {
	if max < 1 {
		max = 1
	}
	return &Cache[V]{max: max, items: make(map[uint64]*node[V], max)}
}

// Len returns the number of entries.
func (c *Cache[V]) Len() int { return len(c.items) }

// Get returns the value for key and marks it most recently used.
func (c *Cache[V]) Get(key uint64) (V, bool) {
	n, ok := c.items[key]
	if !ok {
		var zero V
		return zero, false
	}
	c.moveFront(n)
	return n.val, true
}

// Put stores val under key, evicting the least recently used entry when full.
func (c *Cache[V]) Put(key uint64, val V) {
	if n, ok := c.items[key]; ok {
		n.val = val
		c.moveFront(n)
		return
	}
	var n *node[V]
	if len(c.items) >= c.max {
		// Reuse the evicted node so a full cache does not allocate.
		n = c.tail
		c.unlink(n)
		delete(c.items, n.key)
		*n = node[V]{}
	} else {
		n = &node[V]{}
	}
	n.key, n.val = key, val
	c.items[key] = n
	c.pushFront(n)
}

// Remove deletes key.
func (c *Cache[V]) Remove(key uint64) {
	if n, ok := c.items[key]; ok {
		c.unlink(n)
		delete(c.items, key)
	}
}

func (c *Cache[V]) moveFront(n *node[V]) {
	if c.head == n {
		return
	}
	c.unlink(n)
	c.pushFront(n)
}

func (c *Cache[V]) pushFront(n *node[V]) {
	n.prev, n.next = nil, c.head
	if c.head != nil {
		c.head.prev = n
	}
	c.head = n
	if c.tail == nil {
		c.tail = n
	}
}

func (c *Cache[V]) unlink(n *node[V]) {
	if n.prev != nil {
		n.prev.next = n.next
	} else {
		c.head = n.next
	}
	if n.next != nil {
		n.next.prev = n.prev
	} else {
		c.tail = n.prev
	}
	n.prev, n.next = nil, nil
}
