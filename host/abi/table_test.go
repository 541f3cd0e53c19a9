package abi

import (
	"context"
	"encoding/binary"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// memoryModule is a module with nothing but one exported page of memory: the guest side of the host-function
// tests, whose pointers and lengths come straight from the fuzzer.
var memoryModule = []byte{
	0, 'a', 's', 'm', 1, 0, 0, 0,
	5, 3, 1, 0, 1, // memory section: one memory, min 1 page
	7, 10, 1, 6, 'm', 'e', 'm', 'o', 'r', 'y', 2, 0, // export "memory"
}

// fakeHost answers every call with fixed data and allocates from a bump pointer that may run off the end of
// memory, so the host functions' own bounds checks are exercised too.
type fakeHost struct {
	next  uint32
	hdrs  Headers
	calls int
}

func (h *fakeHost) Allocate(size uint32) (uint32, error) {
	p := h.next
	h.next += size
	return p, nil
}
func (h *fakeHost) Log(LogLevel, []byte) Status             { h.calls++; return StatusOK }
func (h *fakeHost) GetLogLevel() (LogLevel, Status)         { return LogInfo, StatusOK }
func (h *fakeHost) GetCurrentTimeNanoseconds() uint64       { return 42 }
func (h *fakeHost) SetTickPeriodMilliseconds(uint32) Status { return StatusOK }
func (h *fakeHost) SetEffectiveContext(uint32) Status       { return StatusOK }
func (h *fakeHost) Done() Status                            { return StatusOK }
func (h *fakeHost) GetBufferBytes(BufferType, uint32, uint32) ([]byte, Status) {
	return []byte("buffer-bytes"), StatusOK
}
func (h *fakeHost) GetBufferStatus(BufferType) (uint32, uint32, Status) { return 12, 1, StatusOK }
func (h *fakeHost) SetBufferBytes(BufferType, uint32, uint32, []byte) Status {
	h.calls++
	return StatusOK
}
func (h *fakeHost) GetHeaderMapPairs(MapType) (Headers, Status) { return h.hdrs, StatusOK }
func (h *fakeHost) GetHeaderMapSize(MapType) (uint32, Status) {
	return uint32(h.hdrs.SerializedSize()), StatusOK
}
func (h *fakeHost) GetHeaderMapValue(_ MapType, k []byte) (string, Status) {
	if v, ok := h.hdrs.GetBytes(k); ok {
		return v, StatusOK
	}
	return "", StatusNotFound
}
func (h *fakeHost) SetHeaderMapPairs(_ MapType, m Headers) Status { h.hdrs = m; return StatusOK }
func (h *fakeHost) AddHeaderMapValue(_ MapType, k, v []byte) Status {
	h.hdrs.AddBytes(k, v)
	return StatusOK
}
func (h *fakeHost) ReplaceHeaderMapValue(_ MapType, k, v []byte) Status {
	h.hdrs.SetBytes(k, v)
	return StatusOK
}
func (h *fakeHost) RemoveHeaderMapValue(_ MapType, k []byte) Status {
	h.hdrs.DelBytes(k)
	return StatusOK
}
func (h *fakeHost) GetProperty([]byte) ([]byte, Status)           { return []byte("prop"), StatusOK }
func (h *fakeHost) SetProperty([]byte, []byte) Status             { return StatusOK }
func (h *fakeHost) GetSharedData([]byte) ([]byte, uint32, Status) { return []byte("v"), 7, StatusOK }
func (h *fakeHost) SetSharedData([]byte, []byte, uint32) Status   { return StatusOK }
func (h *fakeHost) RegisterSharedQueue([]byte) (uint32, Status)   { return 1, StatusOK }
func (h *fakeHost) ResolveSharedQueue([]byte, []byte) (uint32, Status) {
	return 1, StatusOK
}
func (h *fakeHost) DequeueSharedQueue(uint32) ([]byte, Status) { return []byte("item"), StatusOK }
func (h *fakeHost) EnqueueSharedQueue(uint32, []byte) Status   { return StatusOK }
func (h *fakeHost) ContinueStream(StreamType) Status           { return StatusOK }
func (h *fakeHost) CloseStream(StreamType) Status              { return StatusOK }
func (h *fakeHost) GetStatus() (uint32, []byte, Status)        { return 200, []byte("ok"), StatusOK }
func (h *fakeHost) SendLocalResponse(uint32, []byte, []byte, Headers, int32) Status {
	return StatusOK
}
func (h *fakeHost) HTTPCall([]byte, Headers, []byte, Headers, uint32) (uint32, Status) {
	return 3, StatusOK
}
func (h *fakeHost) GRPCCall([]byte, []byte, []byte, Headers, []byte, uint32) (uint32, Status) {
	return 4, StatusOK
}
func (h *fakeHost) GRPCStream([]byte, []byte, []byte, Headers) (uint32, Status) { return 5, StatusOK }
func (h *fakeHost) GRPCSend(uint32, []byte, bool) Status                        { return StatusOK }
func (h *fakeHost) GRPCCancel(uint32) Status                                    { return StatusOK }
func (h *fakeHost) GRPCClose(uint32) Status                                     { return StatusOK }
func (h *fakeHost) DefineMetric(MetricType, []byte) (uint32, Status)            { return 1, StatusOK }
func (h *fakeHost) IncrementMetric(uint32, int64) Status                        { return StatusOK }
func (h *fakeHost) RecordMetric(uint32, uint64) Status                          { return StatusOK }
func (h *fakeHost) GetMetric(uint32) (uint64, Status)                           { return 9, StatusOK }
func (h *fakeHost) CallForeignFunction([]byte, []byte) ([]byte, Status) {
	return nil, StatusNotFound
}

type guest struct {
	mod  api.Module
	host *fakeHost
	fns  map[string]hostFunc
}

func newGuest(t testing.TB) *guest {
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	t.Cleanup(func() { _ = r.Close(ctx) })
	mod, err := r.InstantiateWithConfig(ctx, memoryModule, wazero.NewModuleConfig().WithName("guest"))
	if err != nil {
		t.Fatal(err)
	}
	g := &guest{mod: mod, host: &fakeHost{}, fns: map[string]hostFunc{}}
	tb := &table{resolve: func(context.Context, api.Module) Host { return g.host }}
	for _, f := range tb.functions() {
		g.fns[f.name] = f
	}
	return g
}

func (g *guest) call(name string, args ...uint64) Status {
	s := make([]uint64, 12)
	copy(s, args)
	g.fns[name].fn(context.Background(), g.mod, s)
	return Status(s[0])
}

func TestHostFunctionsDecode(t *testing.T) {
	g := newGuest(t)
	mem := g.mod.Memory()
	g.host.hdrs = Headers{{":path", "/a"}, {"x", "1"}}
	g.host.next = 4096

	mem.Write(100, []byte(":path"))
	// The upper 32 bits of i32 slots are garbage in wazero; the host must ignore them.
	const junk = 0xdead_beef_0000_0000
	if st := g.call("proxy_get_header_map_value", 0, junk|100, junk|5, 200, 204); st != StatusOK {
		t.Fatalf("get value: %v", st)
	}
	ptr, _ := mem.ReadUint32Le(200)
	n, _ := mem.ReadUint32Le(204)
	if v, _ := mem.Read(ptr, n); string(v) != "/a" {
		t.Errorf("value = %q", v)
	}

	if st := g.call("proxy_get_header_map_pairs", 0, 200, 204); st != StatusOK {
		t.Fatalf("pairs: %v", st)
	}
	ptr, _ = mem.ReadUint32Le(200)
	n, _ = mem.ReadUint32Le(204)
	b, _ := mem.Read(ptr, n)
	got, err := DecodeMap(b)
	if err != nil || len(got) != 2 || got[1] != (Header{"x", "1"}) {
		t.Errorf("pairs decoded to %v, %v", got, err)
	}

	tests := []struct {
		name string
		args []uint64
		want Status
	}{
		{"key out of memory", []uint64{0, 65530, 100, 200, 204}, StatusInvalidMemoryAccess},
		{"result pointer out of memory", []uint64{0, 100, 5, 65534, 204}, StatusInvalidMemoryAccess},
		{"length wraps", []uint64{0, 0xffffffff, 2, 200, 204}, StatusInvalidMemoryAccess},
	}
	for _, tc := range tests {
		if st := g.call("proxy_get_header_map_value", tc.args...); st != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, st, tc.want)
		}
	}

	// A malformed map from the guest is a bad argument, not a crash.
	le := binary.LittleEndian
	mem.Write(300, le.AppendUint32(nil, 1000))
	if st := g.call("proxy_set_header_map_pairs", 0, 300, 4); st != StatusBadArgument {
		t.Errorf("bad map: %v", st)
	}
	// An allocator that hands out memory past the end is caught before writing.
	g.host.next = 65535
	if st := g.call("proxy_get_buffer_bytes", 0, 0, 100, 200, 204); st != StatusInvalidMemoryAccess {
		t.Errorf("bad allocation: %v", st)
	}
}

func TestHostFunctionsAllocationFree(t *testing.T) {
	g := newGuest(t)
	mem := g.mod.Memory()
	g.host.hdrs = Headers{{":path", "/a"}, {"x", "1"}}
	mem.Write(100, []byte(":path"))
	s := make([]uint64, 12)
	fn := g.fns["proxy_get_header_map_value"].fn
	n := testing.AllocsPerRun(100, func() {
		g.host.next = 4096
		s[0], s[1], s[2], s[3], s[4] = 0, 100, 5, 200, 204
		fn(context.Background(), g.mod, s)
	})
	if n != 0 {
		t.Errorf("proxy_get_header_map_value allocates %v times per call", n)
	}
}

// FuzzHostFunctions calls every host function with fuzzer-chosen argument slots (pointers, lengths, enum values,
// garbage upper bits) against a one-page guest memory. Any panic or out-of-range status fails.
func FuzzHostFunctions(f *testing.F) {
	f.Add(uint8(0), []byte{100, 0, 0, 0, 5, 0, 0, 0})
	f.Add(uint8(7), []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4})
	f.Add(uint8(12), make([]byte, 96))
	g := newGuest(f)
	var names []string
	for _, fn := range (&table{}).functions() {
		if len(fn.results) == 1 && fn.results[0] == api.ValueTypeI32 {
			names = append(names, fn.name) // skip abort/trace/seed, which are not status functions
		}
	}
	mem := g.mod.Memory()
	for i := uint32(0); i < 65536; i += 4 {
		mem.WriteUint32Le(i, i*2654435761) // deterministic noise for maps and lengths
	}
	f.Fuzz(func(t *testing.T, which uint8, raw []byte) {
		s := make([]uint64, 12)
		for i := range s {
			if len(raw) >= 8*(i+1) {
				s[i] = binary.LittleEndian.Uint64(raw[8*i:])
			} else if len(raw) >= 4*(i+1) {
				s[i] = uint64(binary.LittleEndian.Uint32(raw[4*i:]))
			}
		}
		g.host.next = uint32(len(raw)) * 977 % 70000
		g.host.hdrs = Headers{{"k", "v"}}
		name := names[int(which)%len(names)]
		g.fns[name].fn(context.Background(), g.mod, s)
		if Status(s[0]) > StatusUnimplemented {
			t.Fatalf("%s returned status %d", name, s[0])
		}
	})
}

// BenchmarkGetHeaderMapValue times the Go side of one host call (decode, lookup, allocate, copy, write back)
// without the wasm-to-Go transition; the engine's BenchmarkHostCall measures the whole round trip.
func BenchmarkGetHeaderMapValue(b *testing.B) {
	g := newGuest(b)
	mem := g.mod.Memory()
	g.host.hdrs = Headers{{":path", "/a"}, {":method", "GET"}, {":authority", "x"}, {"user-agent", "y"}}
	mem.Write(100, []byte("user-agent"))
	s := make([]uint64, 12)
	fn := g.fns["proxy_get_header_map_value"].fn
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		g.host.next = 4096
		s[0], s[1], s[2], s[3], s[4] = 0, 100, 10, 200, 204
		fn(ctx, g.mod, s)
	}
}
