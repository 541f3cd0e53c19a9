// Package ctxlock is a mutual-exclusion lock whose Lock gives up when a context ends.
//
// The engine takes a VM's lock for every guest call, several times per request. A buffered channel used as a lock
// costs two runtime-lock round trips per Lock/Unlock pair (about 12% of a minimal stream's host CPU); this lock takes
// the uncontended path with one compare-and-swap and one atomic store, and only waiters touch a channel.
package ctxlock

import (
	"context"
	"sync/atomic"
)

// Mutex is a lock that waiters can abandon. The zero value is not usable: make one with New. Like sync.Mutex it
// lets a newcomer take a just-released lock ahead of a waiter; a waiter that loses retries.
type Mutex struct {
	held    atomic.Bool
	waiters atomic.Int32
	wake    chan struct{} // one token: "the lock was released while someone waited"
}

// New returns an unlocked Mutex.
func New() *Mutex { return &Mutex{wake: make(chan struct{}, 1)} }

// TryLock takes the lock if it is free and says whether it did.
func (m *Mutex) TryLock() bool { return m.held.CompareAndSwap(false, true) }

// Lock takes the lock, waiting until it is free or ctx ends; it returns ctx.Err() in the second case, without the
// lock.
func (m *Mutex) Lock(ctx context.Context) error {
	if m.held.CompareAndSwap(false, true) {
		return nil
	}
	// Registering before the retry closes the race with Unlock: either Unlock sees this waiter and leaves a token,
	// or it released before the registration and the retry below finds the lock free.
	m.waiters.Add(1)
	defer m.waiters.Add(-1)
	for {
		if m.held.CompareAndSwap(false, true) {
			return nil
		}
		select {
		case <-m.wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Unlock releases the lock. Unlocking a Mutex that is not locked panics, as with sync.Mutex: it is a bug in the
// caller that would otherwise let two goroutines in.
func (m *Mutex) Unlock() {
	if !m.held.CompareAndSwap(true, false) {
		panic("ctxlock: unlock of unlocked mutex")
	}
	if m.waiters.Load() > 0 {
		select {
		case m.wake <- struct{}{}:
		default: // a token is already waiting; one wakes a waiter, which retries and leaves one on its Unlock
		}
	}
}
