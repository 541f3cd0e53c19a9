package main

import (
	"encoding/binary"
	"math"
	"time"
)

// bucketHeader is the fixed part of a bucket in shared data: tokens (float64 bits), the last refill and the time the
// bucket is full again (both Unix ns). The owner follows: the limit entry and key value the bucket counts, so a
// slot shared by hash can tell its keys apart. An empty value is a free slot.
const bucketHeader = 24

// bucket is a token bucket's state. It is stored, not kept: every request reads and writes it in shared data.
type bucket struct {
	tokens float64
	last   int64
	// full is when the bucket has refilled completely. From then on it is indistinguishable from a new bucket, so
	// its slot may be given to another key without changing anyone's limit.
	full int64
}

// rate is a compiled limit: Requests per Per, holding at most Burst tokens.
type rate struct {
	requests uint64
	per      time.Duration
	burst    float64
	perNano  float64 // tokens added per nanosecond
}

func newRate(requests uint64, per time.Duration, burst uint64) rate {
	if burst == 0 {
		burst = requests
	}
	return rate{requests: requests, per: per, burst: float64(burst), perNano: float64(requests) / float64(per)}
}

// decodeBucket reads a stored bucket and its owner. ok is false for a free slot and for bytes that are not a
// bucket (another writer, an older format), which are treated as free.
func decodeBucket(b []byte) (bk bucket, owner []byte, ok bool) {
	if len(b) <= bucketHeader {
		return bucket{}, nil, false
	}
	t := math.Float64frombits(binary.LittleEndian.Uint64(b))
	if math.IsNaN(t) || t < 0 {
		return bucket{}, nil, false
	}
	bk = bucket{tokens: t, last: int64(binary.LittleEndian.Uint64(b[8:])), full: int64(binary.LittleEndian.Uint64(b[16:]))}
	return bk, b[bucketHeader:], true
}

// encode appends the stored form of b owned by owner to dst.
func (b bucket) encode(dst, owner []byte) []byte {
	dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(b.tokens))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(b.last))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(b.full))
	return append(dst, owner...)
}

// verdict is one bucket's answer.
type verdict struct {
	allowed   bool
	remaining uint64
	// reset is, when limited, how long until one token is back (retry-after); when allowed, until the bucket is full.
	reset time.Duration
}

// maxClockSkew is how far in the future a stored refill time may be (another VM's clock, a clock step) before the
// bucket is treated as refilled now; beyond it a bucket could otherwise stay frozen.
const maxClockSkew = int64(time.Minute)

// take refills b up to now and takes one token if there is one. A clock that went backwards refills nothing.
func (r rate) take(b bucket, found bool, now int64) (bucket, verdict) {
	if !found {
		b = bucket{tokens: r.burst, last: now}
	}
	if b.last < 0 || b.last > now+maxClockSkew {
		b.last = now // corrupt, or written by a clock far ahead: refill from now on
	}
	if now > b.last {
		b.tokens += float64(now-b.last) * r.perNano
		b.last = now
	}
	// Also caps buckets stored under a larger burst, e.g. before a configuration change (shared data outlives it).
	b.tokens = math.Min(r.burst, b.tokens)
	if b.tokens >= 1 {
		b.tokens--
		v := verdict{allowed: true, remaining: uint64(b.tokens), reset: r.until(b.tokens, r.burst)}
		b.full = now + int64(v.reset)
		return b, v
	}
	return b, verdict{allowed: false, remaining: 0, reset: r.until(b.tokens, 1)}
}

// until is the time for the bucket to go from have to want tokens.
func (r rate) until(have, want float64) time.Duration {
	if have >= want {
		return 0
	}
	return time.Duration(math.Ceil((want - have) / r.perNano))
}
