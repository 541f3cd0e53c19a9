// Package drain counts the streams using a configuration so the configuration is closed after the last one,
// once it has been replaced. It is the reference count behind hot reload.
//
//	ref := drain.New()
//	if !ref.Acquire() { /* retired: load the new config and try again */ }
//	defer ref.Release()
//	// on reload: swap the pointer first, then
//	ref.Retire(); <-ref.Done() // close the old filters and clusters
package drain

import (
	"sync/atomic"
	"time"
)

const retired = int64(1) << 62

// Ref is a reference count that can be retired: after Retire, Acquire fails and Done closes when the count
// reaches zero.
type Ref struct {
	n    atomic.Int64
	done chan struct{}
}

// New returns a live Ref.
func New() *Ref { return &Ref{done: make(chan struct{})} }

// Acquire takes a reference unless the Ref is retired.
func (r *Ref) Acquire() bool {
	for {
		v := r.n.Load()
		if v&retired != 0 {
			return false
		}
		if r.n.CompareAndSwap(v, v+1) {
			return true
		}
	}
}

// Release drops a reference taken by Acquire.
func (r *Ref) Release() {
	if r.n.Add(-1) == retired {
		close(r.done)
	}
}

// Retire refuses new references; Done closes once the existing ones are released. Call it once.
func (r *Ref) Retire() {
	if r.n.Or(retired) == 0 {
		close(r.done)
	}
}

// Done is closed when the Ref is retired and unused.
func (r *Ref) Done() <-chan struct{} { return r.done }

// InUse is the number of references held, for the admin API.
func (r *Ref) InUse() int64 { return r.n.Load() &^ retired }

// Current holds the configuration a listener serves new streams with. Acquire returns it with a reference
// held; Swap installs the next one. A configuration retired between the load and the acquire has already been
// replaced, so Acquire loads again and finds the new one.
type Current[C any] struct {
	p   atomic.Pointer[C]
	ref func(*C) *Ref
}

// NewCurrent returns a Current serving c; ref gives a configuration's Ref.
func NewCurrent[C any](c *C, ref func(*C) *Ref) *Current[C] {
	cur := &Current[C]{ref: ref}
	cur.p.Store(c)
	return cur
}

// Acquire returns the current configuration with a reference held; release it with Ref.Release.
func (c *Current[C]) Acquire() *C {
	for {
		v := c.p.Load()
		if c.ref(v).Acquire() {
			return v
		}
	}
}

// Load returns the current configuration without a reference.
func (c *Current[C]) Load() *C { return c.p.Load() }

// Swap installs next and returns the previous configuration.
func (c *Current[C]) Swap(next *C) *C { return c.p.Swap(next) }

// Timeout is a duration a reload may change while a listener reads it at shutdown.
type Timeout struct{ d atomic.Int64 }

// Set stores d.
func (t *Timeout) Set(d time.Duration) { t.d.Store(int64(d)) }

// Get returns the duration.
func (t *Timeout) Get() time.Duration { return time.Duration(t.d.Load()) }
