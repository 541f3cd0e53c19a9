// Package tokenbucket is the token bucket the filters keep in proxy-wasm shared data, so that a limit holds for the
// whole proxy rather than per VM: the bucket arithmetic, its stored form, and the compare-and-swap loop that
// updates a bucket at a fixed key. The ratelimit filter builds its bounded per-value tables on it; auth guards its
// costly password checks with it.
//
//	r := tokenbucket.NewRate(10, time.Minute, 5)
//	var buf []byte
//	v, err := tokenbucket.TakeAt(tokenbucket.SharedData{}, "wasmesh.auth/cold", r, time.Now().UnixNano(), 8, &buf)
//	if err == nil && !v.Allowed {
//		// over the limit: retry after v.Reset
//	}
package tokenbucket

import (
	"encoding/binary"
	"errors"
	"math"
	"strconv"
	"time"
)

// HeaderSize is the fixed part of a bucket in shared data: tokens (float64 bits), the last refill and the time the
// bucket is full again (both Unix ns). The owner follows: whatever the caller needs to tell the keys of a slot shared
// by hash apart. An empty value is a free slot.
const HeaderSize = 24

// Bucket is a token bucket's state. It is stored, not kept: every request reads and writes it in shared data.
type Bucket struct {
	Tokens float64
	Last   int64
	// Full is when the bucket has refilled completely. From then on it is indistinguishable from a new bucket, so
	// its slot may be given to another key without changing anyone's limit.
	Full int64
}

// Rate is a compiled limit: Requests per Per, holding at most Burst tokens.
type Rate struct {
	Requests uint64
	Per      time.Duration
	Burst    float64
	perNano  float64 // tokens added per nanosecond
}

// NewRate returns the rate of requests per period with the given burst (requests when 0).
func NewRate(requests uint64, per time.Duration, burst uint64) Rate {
	if burst == 0 {
		burst = requests
	}
	return Rate{Requests: requests, Per: per, Burst: float64(burst), perNano: float64(requests) / float64(per)}
}

// Decode reads a stored bucket and its owner. ok is false for a free slot and for bytes that are not a bucket
// (another writer, an older format), which callers treat as free.
func Decode(b []byte) (bk Bucket, owner []byte, ok bool) {
	if len(b) <= HeaderSize {
		return Bucket{}, nil, false
	}
	t := math.Float64frombits(binary.LittleEndian.Uint64(b))
	if math.IsNaN(t) || t < 0 {
		return Bucket{}, nil, false
	}
	bk = Bucket{Tokens: t, Last: int64(binary.LittleEndian.Uint64(b[8:])), Full: int64(binary.LittleEndian.Uint64(b[16:]))}
	return bk, b[HeaderSize:], true
}

// Append appends the stored form of b owned by owner (not empty) to dst.
func (b Bucket) Append(dst, owner []byte) []byte {
	dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(b.Tokens))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(b.Last))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(b.Full))
	return append(dst, owner...)
}

// Verdict is one bucket's answer.
type Verdict struct {
	Allowed   bool
	Remaining uint64
	// Reset is, when limited, how long until one token is back (retry-after); when allowed, until the bucket is full.
	Reset time.Duration
}

// maxClockSkew is how far in the future a stored refill time may be (another VM's clock, a clock step) before the
// bucket is treated as refilled now; beyond it a bucket could otherwise stay frozen.
const maxClockSkew = int64(time.Minute)

// Take refills b up to now and takes one token if there is one; found is false for a new bucket. A clock that went
// backwards refills nothing.
func (r Rate) Take(b Bucket, found bool, now int64) (Bucket, Verdict) {
	if !found {
		b = Bucket{Tokens: r.Burst, Last: now}
	}
	if b.Last < 0 || b.Last > now+maxClockSkew {
		b.Last = now // corrupt, or written by a clock far ahead: refill from now on
	}
	if now > b.Last {
		b.Tokens += float64(now-b.Last) * r.perNano
		b.Last = now
	}
	// Also caps buckets stored under a larger burst, e.g. before a configuration change (shared data outlives it).
	if b.Tokens > r.Burst { // not math.Min, a call in Wasm; Tokens is never NaN here (Decode refuses it)
		b.Tokens = r.Burst
	}
	if b.Tokens >= 1 {
		b.Tokens--
		v := Verdict{Allowed: true, Remaining: uint64(b.Tokens), Reset: r.until(b.Tokens, r.Burst)}
		b.Full = now + int64(v.Reset)
		return b, v
	}
	return b, Verdict{Allowed: false, Remaining: 0, Reset: r.until(b.Tokens, 1)}
}

// until is the time for the bucket to go from have to want tokens.
func (r Rate) until(have, want float64) time.Duration {
	if have >= want {
		return 0
	}
	return time.Duration(math.Ceil((want - have) / r.perNano))
}

// Store is the bucket storage: proxy-wasm shared data in the filters (SharedData), a map in tests. Set reports a
// CAS mismatch with ErrCASMismatch; cas 0 means "create or overwrite" (proxy-wasm has no atomic create). Keys and
// values passed in are only valid during the call: callers reuse their memory.
type Store interface {
	Get(key string) (value []byte, cas uint32, found bool, err error)
	Set(key string, value []byte, cas uint32) error
}

// ErrCASMismatch is what Store.Set returns when another writer came first.
var ErrCASMismatch = errors.New("cas mismatch")

// TakeAt runs the compare-and-swap loop on the bucket at key: read, take, write with the CAS read, at most
// maxRetries times. A limited request writes nothing. buf is reused for the encoded value.
func TakeAt(st Store, key string, r Rate, now int64, maxRetries int, buf *[]byte) (Verdict, error) {
	for attempt := 0; attempt < maxRetries; attempt++ {
		raw, cas, found, err := st.Get(key)
		if err != nil {
			return Verdict{}, err
		}
		b, _, ok := Decode(raw)
		nb, v := r.Take(b, ok, now)
		if !v.Allowed {
			return v, nil
		}
		if !found {
			cas = 0
		}
		*buf = nb.Append((*buf)[:0], fixedOwner)
		err = st.Set(key, *buf, cas)
		if errors.Is(err, ErrCASMismatch) {
			continue
		}
		if err != nil {
			return Verdict{}, err
		}
		return v, nil
	}
	return Verdict{}, errors.New("bucket " + key + ": gave up after " + strconv.Itoa(maxRetries) + " CAS mismatches")
}

// fixedOwner marks buckets at a fixed key, which need no owner to be told apart.
var fixedOwner = []byte{'-'}
