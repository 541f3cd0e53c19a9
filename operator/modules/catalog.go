package modules

import (
	"sync"

	"github.com/opencontainers/go-digest"
)

// Catalog maps the module digests the operator serves to files of the cache. Only digests a reconcile pulled and
// verified are in it: the server answers 404 for anything else, so it cannot be used to probe the cache.
type Catalog struct {
	mu    sync.RWMutex
	paths map[digest.Digest]string
}

// NewCatalog returns an empty catalog.
func NewCatalog() *Catalog { return &Catalog{paths: map[digest.Digest]string{}} }

// Add makes d servable from path.
func (c *Catalog) Add(d digest.Digest, path string) {
	c.mu.Lock()
	c.paths[d] = path
	c.mu.Unlock()
}

// Lookup returns the file of d.
func (c *Catalog) Lookup(d digest.Digest) (string, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	p, ok := c.paths[d]
	return p, ok
}

// Len is the number of servable modules.
func (c *Catalog) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.paths)
}
