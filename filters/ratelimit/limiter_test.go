package main

import (
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/filters/internal/pluginconfig"
	"github.com/wasmesh/wasmesh/filters/internal/request"
	"github.com/wasmesh/wasmesh/filters/internal/tokenbucket"
)

func mustCompile(t testing.TB, cfg string, st tokenbucket.Store) *limiter {
	t.Helper()
	l, err := pluginconfig.Parse([]byte(cfg), compile)
	if err != nil {
		t.Fatal(err)
	}
	l.store = st
	return l
}

const perUser = `{"rules": [{"name": "u", "key": {"source": "header", "name": "x-user"},
  "limit_keys": [{"value": "*", "requests": 60, "per": "minute", "burst": 2}]}]}`

func TestBucketRefill(t *testing.T) {
	l := mustCompile(t, perUser, tokenbucket.NewMemStore())
	r := request.New([][2]string{{"x-user", "u1"}}, "")
	t0 := time.Unix(1000, 0)
	steps := []struct {
		at        time.Duration
		limited   bool
		remaining uint64
	}{
		{0, false, 1}, {0, false, 0}, {0, true, 0},
		{500 * time.Millisecond, true, 0}, // half a token
		{time.Second, false, 0},           // one token per second
		{10 * time.Second, false, 1},      // capped at burst 2
	}
	for i, s := range steps {
		res, err := l.Decide(&r, t0.Add(s.at))
		if err != nil {
			t.Fatal(err)
		}
		if res.Limited != s.limited || res.Remaining != s.remaining {
			t.Fatalf("step %d: limited=%v remaining=%d, want %v %d", i, res.Limited, res.Remaining, s.limited, s.remaining)
		}
	}
}

func TestLimitHoldsAcrossVMs(t *testing.T) {
	shared := tokenbucket.NewMemStore()
	vm1, vm2 := mustCompile(t, perUser, shared), mustCompile(t, perUser, shared)
	r := request.New([][2]string{{"x-user", "u1"}}, "")
	now := time.Unix(1000, 0)
	allowed := 0
	for i := 0; i < 6; i++ {
		vm := vm1
		if i%2 == 1 {
			vm = vm2
		}
		res, err := vm.Decide(&r, now)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Limited {
			allowed++
		}
	}
	if allowed != 2 {
		t.Fatalf("two VMs allowed %d requests, want the shared burst of 2", allowed)
	}
}

func TestCASRetries(t *testing.T) {
	st := tokenbucket.NewMemStore()
	l := mustCompile(t, perUser, st)
	r := request.New([][2]string{{"x-user", "u1"}}, "")
	st.Steal = 3
	res, err := l.Decide(&r, time.Unix(1000, 0))
	if err != nil || res.Limited || st.Writes != 4 {
		t.Fatalf("after 3 mismatches: err=%v limited=%v sets=%d, want a success on the 4th set", err, res.Limited, st.Writes)
	}
	st.Steal = 100
	res, err = l.Decide(&r, time.Unix(1000, 0))
	if err == nil || !strings.Contains(err.Error(), "gave up after 8 CAS mismatches") || res.Limited || res.StoreErrors != 1 {
		t.Fatalf("endless contention: err=%v limited=%v, want a bounded give-up that lets the request through", err, res.Limited)
	}
}

type brokenStore struct{}

func (brokenStore) Get(string) ([]byte, uint32, bool, error) {
	return nil, 0, false, errors.New("boom")
}
func (brokenStore) Set(string, []byte, uint32) error { return errors.New("boom") }

func TestStoreErrorFailsOpen(t *testing.T) {
	l := mustCompile(t, perUser, brokenStore{})
	r := request.New([][2]string{{"x-user", "u1"}}, "")
	res, err := l.Decide(&r, time.Unix(1000, 0))
	if err == nil || res.Limited {
		t.Fatalf("err=%v limited=%v, want an error and the request allowed", err, res.Limited)
	}
}

func TestCorruptBucketIsReset(t *testing.T) {
	st := tokenbucket.NewMemStore()
	l := mustCompile(t, perUser, st)
	r := request.New([][2]string{{"x-user", "u1"}}, "")
	slot := hash64([]byte("0/u1")) % defaultMaxBuckets
	st.Put("wasmesh.ratelimit/default/u/slot/"+strconv.FormatUint(slot, 10), []byte("garbage, not a bucket"))
	res, err := l.Decide(&r, time.Unix(1000, 0))
	if err != nil || res.Limited || res.Remaining != 1 {
		t.Fatalf("corrupt bucket: err=%v %+v, want a fresh bucket", err, res)
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct{ cfg, want string }{
		{`{"rules": [{"name": "r", "key": {"source": "header"}, "limit_keys": [{"value": "*", "requests": 1, "per": "minute"}]}]}`, "rules[0].key.name: must name the header"},
		{`{"rules": [{"name": "r", "key": {"source": "path", "name": "x"}, "limit_keys": [{"value": "*", "requests": 1, "per": "minute"}]}]}`, "rules[0].key.name: only used"},
		{`{"rules": [{"name": "r", "key": {"source": "path"}, "limit_keys": [{"value": "a", "regex": "b", "requests": 1, "per": "minute"}]}]}`, "rules[0].limit_keys[0]: set exactly one"},
		{`{"rules": [{"name": "r", "key": {"source": "path"}, "limit_keys": [{"regex": "(", "requests": 1, "per": "minute"}]}]}`, "rules[0].limit_keys[0].regex: invalid regular expression"},
		{`{"rules": [{"name": "r", "key": {"source": "path"}, "limit_keys": []}]}`, "rules[0].limit_keys: must not be empty"},
		{`{"max_cas_retries": 1000, "rules": [{"name": "r", "key": {"source": "path"}, "limit_keys": [{"value": "*", "requests": 1, "per": "minute"}]}]}`, "max_cas_retries"},
		{`{"rules": [{"name": "r", "key": {"source": "path"}, "limit_keys": [{"value": "*", "requests": "1", "per": "minute"}]}]}`, "requests: must be uint64"},
		{`{"max_buckets": 2, "rules": [{"name": "r", "key": {"source": "path"}, "limit_keys": [{"value": "*", "requests": 1, "per": "minute"}]}]}`, "max_buckets: 2: must be between 4 and 1048576"},
		{`{"rules": [{"name": "r", "max_buckets": -1, "key": {"source": "path"}, "limit_keys": [{"value": "*", "requests": 1, "per": "minute"}]}]}`, "rules[0].max_buckets: -1"},
	}
	for _, tt := range tests {
		if _, err := pluginconfig.Parse([]byte(tt.cfg), compile); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s:\n got %v\nwant %q", tt.cfg, err, tt.want)
		}
	}
}

func BenchmarkDecide(b *testing.B) {
	raw := `{"rules": [
	  {"name": "per-consumer", "key": {"source": "consumer"}, "limit_keys": [{"value": "*", "requests": 1000000000, "per": "second"}]},
	  {"name": "by-ip", "key": {"source": "client_ip"}, "limit_keys": [{"cidr": "10.0.0.0/8", "requests": 1000000000, "per": "second"}]}]}`
	l, err := pluginconfig.Parse([]byte(raw), compile)
	if err != nil {
		b.Fatal(err)
	}
	l.store = tokenbucket.NewMemStore()
	h := [][2]string{{":method", "GET"}, {":path", "/hello"}, {":authority", "api"}, {"x-wasmesh-consumer", "alice"}}
	now := time.Unix(1000, 0)
	b.ReportAllocs()
	for b.Loop() {
		// The map store stands in for shared data; in the host the get/set are host calls (measured in test/filters).
		r := request.New(h, "10.1.2.3:4567")
		now = now.Add(time.Microsecond)
		if res, _ := l.Decide(&r, now); res.Limited {
			b.Fatal("limited")
		}
	}
}

func TestBucketTableIsBounded(t *testing.T) {
	st := tokenbucket.NewMemStore()
	l := mustCompile(t, `{"max_buckets": 16, "rules": [{"name": "ip", "key": {"source": "client_ip"},
	  "limit_keys": [{"value": "*", "requests": 10, "per": "second", "burst": 1}]}]}`, st)
	if _, err := l.initSlots(); err != nil {
		t.Fatal(err)
	}
	size := st.Len()
	t0 := time.Unix(1000, 0)
	for i := 0; i < 2000; i++ {
		// 2000 clients, one per 50 ms: a bucket refills in 100 ms, so few are live at a time and slots are reused.
		now := t0.Add(time.Duration(i) * 50 * time.Millisecond)
		r := request.New(nil, "10.0."+strconv.Itoa(i/250)+"."+strconv.Itoa(i%250)+":1")
		res, err := l.Decide(&r, now)
		if err != nil || res.Limited || res.Overflowed != 0 {
			t.Fatalf("client %d: err=%v %+v, want its own fresh bucket", i, err, res)
		}
		// The same client right away: its bucket is empty and must be found again (owner check), not reset.
		res, err = l.Decide(&r, now)
		if err != nil || !res.Limited {
			t.Fatalf("client %d again: err=%v %+v, want limited by its own bucket", i, err, res)
		}
	}
	if st.Len() != size {
		t.Fatalf("shared data grew from %d to %d entries, want the fixed table", size, st.Len())
	}
}

func TestFullTableOverflowsIntoOneStricterBucket(t *testing.T) {
	st := tokenbucket.NewMemStore()
	l := mustCompile(t, `{"rules": [{"name": "u", "max_buckets": 4, "key": {"source": "header", "name": "x-user"},
	  "limit_keys": [{"value": "*", "requests": 2, "per": "hour"}]}]}`, st)
	now := time.Unix(1000, 0)
	decide := userDecider(t, l, &now)
	for _, u := range []string{"a", "b", "c", "d"} {
		if res := decide(u); res.Limited || res.Overflowed != 0 {
			t.Fatalf("%s: %+v, want a slot", u, res)
		}
	}
	// Four live buckets fill the table: new users share the overflow bucket (2 per hour between them).
	if res := decide("e"); res.Limited || res.Overflowed != 1 {
		t.Fatalf("e: %+v, want allowed from the overflow bucket", res)
	}
	if res := decide("f"); res.Limited || res.Overflowed != 1 {
		t.Fatalf("f: %+v, want allowed from the overflow bucket", res)
	}
	if res := decide("g"); !res.Limited || res.Overflowed != 1 {
		t.Fatalf("g: %+v, want limited: the overflow bucket is empty", res)
	}
	if res := decide("a"); res.Limited || res.Overflowed != 0 || res.Remaining != 0 {
		t.Fatalf("a: %+v, want its own slot with its last token", res)
	}
	// After a full refill period every bucket may be reused, so a new user gets a slot again.
	now = now.Add(time.Hour)
	if res := decide("h"); res.Limited || res.Overflowed != 0 {
		t.Fatalf("h after an hour: %+v, want a reused slot", res)
	}
}

// TestLiveBucketFurtherOnIsFound checks the probe order: a key whose bucket sits behind another key's refilled
// bucket must find its own (still empty) bucket instead of taking the refilled slot as new.
func TestLiveBucketFurtherOnIsFound(t *testing.T) {
	cfg := `{"max_buckets": 4, "rules": [{"name": "u", "key": {"source": "header", "name": "x-user"},
	  "limit_keys": [{"value": "fast", "requests": 1, "per": "second", "burst": 1},
	                 {"value": "*", "requests": 1, "per": "hour", "burst": 1}]}]}`
	slot := func(owner string) uint64 { return hash64([]byte(owner)) % 4 }
	slow := ""
	for i := 0; slow == ""; i++ {
		if u := "u" + strconv.Itoa(i); slot("1/"+u) == slot("0/fast") {
			slow = u
		}
	}
	l := mustCompile(t, cfg, tokenbucket.NewMemStore())
	now := time.Unix(1000, 0)
	decide := userDecider(t, l, &now)
	if res := decide("fast"); res.Limited {
		t.Fatalf("fast: %+v", res)
	}
	if res := decide(slow); res.Limited { // placed one slot further on: "fast" holds its hash slot
		t.Fatalf("%s: %+v", slow, res)
	}
	now = now.Add(2 * time.Second) // "fast" has refilled, the hourly bucket has not
	if res := decide(slow); !res.Limited {
		t.Fatalf("%s after 2 s: %+v, want limited by its own bucket (not a fresh one in the refilled slot)", slow, res)
	}
}

func TestInitSlotsOncePerProxy(t *testing.T) {
	st := tokenbucket.NewMemStore()
	cfg := `{"max_buckets": 8, "rules": [{"name": "u", "key": {"source": "header", "name": "x-user"},
	  "limit_keys": [{"value": "vip", "shared": true, "requests": 5, "per": "second"}, {"value": "*", "requests": 1, "per": "second"}]}]}`
	n, err := mustCompile(t, cfg, st).initSlots()
	if err != nil || n != 8+2 {
		t.Fatalf("first VM created %d entries (err %v), want 8 slots + 2 fixed buckets", n, err)
	}
	if n, err := mustCompile(t, cfg, st).initSlots(); err != nil || n != 0 {
		t.Fatalf("second VM created %d entries (err %v), want none", n, err)
	}
}

// userDecider decides requests of one x-user at *now.
func userDecider(t *testing.T, l *limiter, now *time.Time) func(user string) Result {
	return func(user string) Result {
		t.Helper()
		r := request.New([][2]string{{"x-user", user}}, "")
		res, err := l.Decide(&r, *now)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
}

func TestHeadersToFetch(t *testing.T) {
	rule := func(key, match string) string {
		return `{"name": "r` + strconv.Itoa(len(key)+len(match)) + `", "key": ` + key + match + `, "limit_keys": [{"value": "*", "requests": 1, "per": "second"}]}`
	}
	tests := []struct {
		rules []string
		want  []string // nil: the whole map
	}{
		{[]string{rule(`{"source": "consumer"}`, "")}, []string{"x-wasmesh-consumer"}},
		{[]string{rule(`{"source": "client_ip"}`, "")}, []string{}},
		{[]string{rule(`{"source": "header", "name": "X-User"}`, `, "match": {"path_prefix": "/api"}`)}, []string{":path", "x-user"}},
		{[]string{rule(`{"source": "query", "name": "k"}`, ""), rule(`{"source": "path"}`, "")}, []string{":path"}},
		{[]string{rule(`{"source": "consumer"}`, `, "match": {"hosts": ["a.example"]}`)}, nil},    // 3 headers
		{[]string{rule(`{"source": "dubbo_service"}`, "")}, nil},                                  // Dubbo view
		{[]string{rule(`{"source": "consumer"}`, `, "match": {"service": {"exact": "s"}}`)}, nil}, // Dubbo view
	}
	for _, tt := range tests {
		cfg := `{"rules": [` + strings.Join(tt.rules, ", ") + `]}`
		l := mustCompile(t, cfg, tokenbucket.NewMemStore())
		if (l.fetch == nil) != (tt.want == nil) || !slices.Equal(l.fetch, tt.want) {
			t.Errorf("%s:\n fetch %q, want %q", cfg, l.fetch, tt.want)
		}
	}
}

func TestAppendDecimal(t *testing.T) {
	for _, n := range []uint64{0, 7, 10, 99, 12345, 1<<32 + 1, math.MaxUint64} {
		if got, want := string(appendDecimal([]byte("slot/"), n)), "slot/"+strconv.FormatUint(n, 10); got != want {
			t.Errorf("appendDecimal(%d) = %q, want %q", n, got, want)
		}
	}
}
