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

// failingStore fails every call.
type failingStore struct{}

func (failingStore) Get(string) ([]byte, uint32, bool, error) {
	return nil, 0, false, errors.New("boom")
}
func (failingStore) Set(string, []byte, uint32) error { return errors.New("boom") }

func TestTakeAt(t *testing.T) {
	st := NewMemStore()
	r := NewRate(2, time.Hour, 0)
	var buf []byte
	for i, want := range []bool{true, true, false} {
		v, err := TakeAt(st, "k", r, 1000, 8, &buf)
		if err != nil || v.Allowed != want {
			t.Fatalf("take %d: %+v %v, want allowed=%v", i, v, err, want)
		}
	}
	st.Put("k", []byte("garbage")) // unreadable: a new bucket
	st.Steal = 3
	if v, err := TakeAt(st, "k", r, 1000, 8, &buf); err != nil || !v.Allowed || v.Remaining != 1 {
		t.Fatalf("after 3 CAS mismatches: %+v %v, want a fresh bucket taken on the 4th write", v, err)
	}
	st.Steal = 100
	if _, err := TakeAt(st, "k", r, 1000, 8, &buf); err == nil || !strings.Contains(err.Error(), "gave up after 8 CAS mismatches") {
		t.Fatalf("endless contention: %v, want a bounded give-up", err)
	}
	if _, err := TakeAt(failingStore{}, "k", r, 1000, 8, &buf); err == nil {
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
