package cluster

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync/atomic"
)

// balancer picks an available endpoint, or nil when none is; pickAny ignores availability.
type balancer interface {
	pick(key string, now int64) *Endpoint
	pickAny(key string) *Endpoint
}

// HeaderGetter is what a hash key is read from: a request's header map (filter.Headers for HTTP and Dubbo
// streams, where Dubbo attachments are headers), or anything else with a case-insensitive Get.
type HeaderGetter interface {
	Get(name string) string
}

// HashKey is the key to pass to Pick for a request: with ring_hash and hash_header, that header's value (a Dubbo
// attachment on Dubbo streams) when the request has it, else source (the client address). Other balancers ignore
// keys, and HashKey returns source without reading a header.
func (c *Cluster) HashKey(h HeaderGetter, source string) string {
	if c.hashHeader == "" || h == nil {
		return source
	}
	if v := h.Get(c.hashHeader); v != "" {
		return v
	}
	return source
}

func newBalancer(kind string, eps []*Endpoint) (balancer, error) {
	switch kind {
	case "", "round_robin":
		return &roundRobin{eps: eps}, nil
	case "weighted":
		var sched []*Endpoint
		for _, e := range eps {
			for range e.Weight {
				sched = append(sched, e)
			}
		}
		return &roundRobin{eps: sched}, nil
	case "least_request":
		return &leastRequest{eps: eps}, nil
	case "ring_hash":
		return newRing(eps), nil
	}
	return nil, fmt.Errorf("unknown load balancer %q", kind)
}

// roundRobin walks a schedule; the weighted balancer is round robin over a schedule with each endpoint repeated
// by its weight.
type roundRobin struct {
	eps  []*Endpoint
	next atomic.Uint64
}

func (b *roundRobin) pick(_ string, now int64) *Endpoint {
	n := uint64(len(b.eps))
	start := b.next.Add(1)
	for i := uint64(0); i < n; i++ {
		if e := b.eps[(start+i)%n]; e.available(now) {
			return e
		}
	}
	return nil
}

func (b *roundRobin) pickAny(string) *Endpoint {
	return b.eps[b.next.Add(1)%uint64(len(b.eps))]
}

// leastRequest takes the less loaded of two random available endpoints (power of two choices).
type leastRequest struct{ eps []*Endpoint }

func (b *leastRequest) pick(_ string, now int64) *Endpoint {
	n := len(b.eps)
	if n == 1 {
		if b.eps[0].available(now) {
			return b.eps[0]
		}
		return nil
	}
	a, c := b.eps[rand.IntN(n)], b.eps[rand.IntN(n)]
	switch {
	case a.available(now) && c.available(now):
		if c.active.Load() < a.active.Load() {
			return c
		}
		return a
	case a.available(now):
		return a
	case c.available(now):
		return c
	}
	var best *Endpoint
	for _, e := range b.eps {
		if e.available(now) && (best == nil || e.active.Load() < best.active.Load()) {
			best = e
		}
	}
	return best
}

func (b *leastRequest) pickAny(string) *Endpoint { return b.eps[rand.IntN(len(b.eps))] }

// ring is a consistent-hash ring with points per endpoint proportional to its weight, so adding or removing an
// endpoint moves only its share of keys.
type ring struct {
	hashes []uint64
	eps    []*Endpoint
}

const pointsPerWeight = 64

func newRing(eps []*Endpoint) *ring {
	type point struct {
		h uint64
		e *Endpoint
	}
	var pts []point
	for _, e := range eps {
		for i := range e.Weight * pointsPerWeight {
			pts = append(pts, point{hashKey(fmt.Sprintf("%s#%d", e.Address, i)), e})
		}
	}
	slices.SortFunc(pts, func(a, b point) int {
		switch {
		case a.h < b.h:
			return -1
		case a.h > b.h:
			return 1
		}
		return 0
	})
	r := &ring{hashes: make([]uint64, len(pts)), eps: make([]*Endpoint, len(pts))}
	for i, p := range pts {
		r.hashes[i], r.eps[i] = p.h, p.e
	}
	return r
}

func (r *ring) start(key string) int {
	h := hashKey(key)
	i, _ := slices.BinarySearch(r.hashes, h)
	return i
}

// hashKey is FNV-1a with a final mix: fnv's low bits are weak for short similar keys, and the ring needs them spread.
func hashKey(s string) uint64 {
	const offset, prime = 14695981039346656037, 1099511628211
	x := uint64(offset)
	for i := 0; i < len(s); i++ {
		x ^= uint64(s[i])
		x *= prime
	}
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	return x
}

func (r *ring) pick(key string, now int64) *Endpoint {
	n := len(r.hashes)
	s := r.start(key)
	for i := range n {
		if e := r.eps[(s+i)%n]; e.available(now) {
			return e
		}
	}
	return nil
}

func (r *ring) pickAny(key string) *Endpoint { return r.eps[r.start(key)%len(r.eps)] }
