package filter

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Phase places a filter in the chain, as Istio's WasmPlugin phases do: AUTHN filters run first, then AUTHZ,
// then STATS, then filters with no phase, just before the router.
type Phase uint8

const (
	PhaseUnspecified Phase = iota
	PhaseAuthn
	PhaseAuthz
	PhaseStats
)

// ParsePhase reads a phase as written in configuration ("AUTHN", "AUTHZ", "STATS", "" or "UNSPECIFIED_PHASE").
func ParsePhase(s string) (Phase, error) {
	switch strings.ToUpper(s) {
	case "", "UNSPECIFIED", "UNSPECIFIED_PHASE":
		return PhaseUnspecified, nil
	case "AUTHN":
		return PhaseAuthn, nil
	case "AUTHZ":
		return PhaseAuthz, nil
	case "STATS":
		return PhaseStats, nil
	}
	return 0, fmt.Errorf("unknown phase %q (expected AUTHN, AUTHZ, STATS or empty)", s)
}

func (p Phase) String() string {
	return [...]string{"UNSPECIFIED_PHASE", "AUTHN", "AUTHZ", "STATS"}[p]
}

// rank orders phases: unspecified runs last.
func (p Phase) rank() int {
	if p == PhaseUnspecified {
		return 4
	}
	return int(p)
}

// Entry is one filter in a chain with the fields that order it.
type Entry struct {
	Name     string
	Kind     string
	Phase    Phase
	Priority int // higher runs first within a phase
	Filter   Filter
	// Observe, when set, receives the duration of each callback in seconds (filter call counts and durations).
	Observe func(seconds float64)
}

// Chain is an ordered, immutable list of filters with, per callback, the positions of the filters that want it.
type Chain struct {
	entries []Entry
	wants   Wants
	by      [7][]int // indexed by callback
}

type callback uint8

const (
	cbRequestHeaders callback = iota
	cbRequestBody
	cbRequestTrailers
	cbResponseHeaders
	cbResponseBody
	cbResponseTrailers
	cbDone
)

// NewChain orders entries by phase, then priority (higher first), then the order given, and indexes them.
func NewChain(entries []Entry) *Chain {
	c := &Chain{entries: slices.Clone(entries)}
	slices.SortStableFunc(c.entries, func(a, b Entry) int {
		if r := cmp.Compare(a.Phase.rank(), b.Phase.rank()); r != 0 {
			return r
		}
		return cmp.Compare(b.Priority, a.Priority)
	})
	for i, e := range c.entries {
		w := e.Filter.Wants()
		c.wants |= w
		for cb := range c.by {
			if w&(1<<cb) != 0 {
				c.by[cb] = append(c.by[cb], i)
			}
		}
	}
	return c
}

// Entries returns the filters in the order they run on requests.
func (c *Chain) Entries() []Entry { return c.entries }

// Len is the number of filters.
func (c *Chain) Len() int { return len(c.entries) }

// Wants is the union of what the chain's filters want; the proxy reads bodies only when it includes a body bit.
func (c *Chain) Wants() Wants { return c.wants }

// RequestHeaders runs the request-header callbacks. It returns false when the stream must not go upstream: a
// filter sent a local response, or the stream ended while paused.
func (c *Chain) RequestHeaders(s *Stream, endOfStream bool) bool {
	return c.run(s, cbRequestHeaders, endOfStream, false)
}

// RequestTrailers runs the request-trailer callbacks on s.RequestTrailers.
func (c *Chain) RequestTrailers(s *Stream) bool { return c.run(s, cbRequestTrailers, true, false) }

// ResponseHeaders runs the response-header callbacks, last filter first.
func (c *Chain) ResponseHeaders(s *Stream, endOfStream bool) bool {
	return c.run(s, cbResponseHeaders, endOfStream, true)
}

// ResponseTrailers runs the response-trailer callbacks, last filter first.
func (c *Chain) ResponseTrailers(s *Stream) bool { return c.run(s, cbResponseTrailers, true, true) }

// Done calls every filter's OnDone that wants it.
func (c *Chain) Done(s *Stream) {
	s.lock()
	defer s.unlock()
	for _, i := range c.by[cbDone] {
		s.cur = i
		c.entries[i].Filter.OnDone(s)
	}
}

func (c *Chain) run(s *Stream, cb callback, end, reverse bool) bool {
	idx := c.by[cb]
	if len(idx) == 0 {
		return true
	}
	s.lock()
	defer s.unlock()
	for n := range idx {
		i := idx[n]
		if reverse {
			i = idx[len(idx)-1-n]
		}
		s.cur = i
		e := &c.entries[i]
		f := e.Filter
		var start time.Time
		if e.Observe != nil {
			start = time.Now()
		}
		var a Action
		switch cb {
		case cbRequestHeaders:
			a = f.OnRequestHeaders(s, end)
		case cbRequestTrailers:
			a = f.OnRequestTrailers(s)
		case cbResponseHeaders:
			a = f.OnResponseHeaders(s, end)
		case cbResponseTrailers:
			a = f.OnResponseTrailers(s)
		}
		if e.Observe != nil {
			e.Observe(time.Since(start).Seconds())
		}
		if a == Pause {
			// Wait without the callback lock, so the other direction's callbacks can run meanwhile.
			s.unlock()
			ok := s.wait()
			s.lock()
			if !ok {
				return false
			}
		}
		if s.LocalResponse() != nil {
			if s.Info.LocalReplyBy == "" {
				s.Info.LocalReplyBy = c.entries[i].Name
			}
			return false
		}
	}
	return true
}
