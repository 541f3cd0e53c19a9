package tokenbucket

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestTakeRefillsAndCaps(t *testing.T) {
	r := NewRate(60, time.Minute, 2) // one token per second, at most 2
	var b Bucket
	found := false
	steps := []struct {
		at        time.Duration
		allowed   bool
		remaining uint64
	}{
		{0, true, 1}, {0, true, 0}, {0, false, 0},
		{500 * time.Millisecond, false, 0}, // half a token
		{time.Second, true, 0},
		{10 * time.Second, true, 1}, // capped at burst 2
	}
	for i, s := range steps {
		nb, v := r.Take(b, found, int64(s.at))
		if v.Allowed != s.allowed || v.Remaining != s.remaining {
			t.Fatalf("step %d: %+v, want allowed=%v remaining=%d", i, v, s.allowed, s.remaining)
		}
		if v.Allowed {
			b, found = nb, true
			if want := int64(s.at) + int64(v.Reset); b.Full != want {
				t.Fatalf("step %d: full at %d, want %d (now + time to refill)", i, b.Full, want)
			}
		}
	}
}

func TestBucketFromLargerBurstIsCapped(t *testing.T) {
	rt := NewRate(10, time.Second, 5)
	b, v := rt.Take(Bucket{Tokens: 1e6, Last: 100}, true, 50) // stored under an older config; clock behind
	if b.Tokens != 4 || v.Remaining != 4 {
		t.Fatalf("tokens %v remaining %d, want the bucket capped at burst 5 minus one", b.Tokens, v.Remaining)
	}
	b, _ = rt.Take(Bucket{Tokens: 0, Last: 1 << 62}, true, 1e9) // refill time far in the future
	if b.Last != 1e9 {
		t.Fatalf("a refill time far in the future is kept (%d): the bucket would never refill", b.Last)
	}
}

// mapStore is shared data in a map; steal makes the next sets fail as if another VM had written first.
type mapStore struct {
	data  map[string][]byte
	cas   map[string]uint32
	steal int
	err   error
}

func (m *mapStore) Get(key string) ([]byte, uint32, bool, error) {
	v, ok := m.data[key]
	return v, m.cas[key], ok, m.err
}

func (m *mapStore) Set(key string, v []byte, cas uint32) error {
	if m.err != nil {
		return m.err
	}
	if m.steal > 0 {
		m.steal--
		return ErrCASMismatch
	}
	if cur, ok := m.cas[key]; ok && cas != 0 && cur != cas {
		return ErrCASMismatch
	}
	m.data[strings.Clone(key)] = append([]byte{}, v...)
	m.cas[strings.Clone(key)]++
	return nil
}

func TestTakeAt(t *testing.T) {
	st := &mapStore{data: map[string][]byte{}, cas: map[string]uint32{}}
	r := NewRate(2, time.Hour, 0)
	var buf []byte
	for i, want := range []bool{true, true, false} {
		v, err := TakeAt(st, "k", r, 1000, 8, &buf)
		if err != nil || v.Allowed != want {
			t.Fatalf("take %d: %+v %v, want allowed=%v", i, v, err, want)
		}
	}
	st.data["k"] = []byte("garbage") // unreadable: a new bucket
	st.steal = 3
	if v, err := TakeAt(st, "k", r, 1000, 8, &buf); err != nil || !v.Allowed || v.Remaining != 1 {
		t.Fatalf("after 3 CAS mismatches: %+v %v, want a fresh bucket taken on the 4th write", v, err)
	}
	st.steal = 100
	if _, err := TakeAt(st, "k", r, 1000, 8, &buf); err == nil || !strings.Contains(err.Error(), "gave up after 8 CAS mismatches") {
		t.Fatalf("endless contention: %v, want a bounded give-up", err)
	}
	st.steal, st.err = 0, errors.New("boom")
	if _, err := TakeAt(st, "k", r, 1000, 8, &buf); err == nil {
		t.Fatal("a failing store must be reported")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(Bucket{Tokens: 3, Last: 42, Full: 99}.Append(nil, []byte("0/alice")))
	f.Add([]byte("short"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		bk, owner, ok := Decode(b)
		if !ok {
			return
		}
		if len(owner) == 0 {
			t.Fatalf("bucket %x decoded without an owner", b)
		}
		rt := NewRate(10, time.Second, 5)
		nb, v := rt.Take(bk, true, 1e18)
		if nb.Tokens < 0 || nb.Tokens > 5 || v.Reset < 0 {
			t.Fatalf("bucket %+v from %x: tokens %v reset %v out of range", bk, b, nb.Tokens, v.Reset)
		}
	})
}
