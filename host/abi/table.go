package abi

import (
	"context"
	"encoding/binary"
	"math"
	"unicode/utf16"

	"github.com/tetratelabs/wazero/api"
)

// This file holds the wazero side of the host functions: decoding pointers and lengths from the value stack,
// checking them against guest memory, calling the Host, and writing results back. wazero leaves the upper 32 bits
// of i32 slots undefined, so every i32 argument is read through uint32(...).

type table struct{ resolve Resolver }

type hostFunc struct {
	name            string
	params, results []api.ValueType
	fn              api.GoModuleFunc
}

// call is the shape of every status-returning host function body.
type call func(h Host, mem api.Memory, s []uint64) Status

func (t *table) status(name string, params []api.ValueType, f call) hostFunc {
	return hostFunc{name, params, []api.ValueType{i32}, func(ctx context.Context, mod api.Module, s []uint64) {
		h := t.resolve(ctx, mod)
		if h == nil {
			s[0] = uint64(StatusInternalFailure)
			return
		}
		s[0] = uint64(f(h, mod.Memory(), s))
	}}
}

func u32(s []uint64, i int) uint32 { return uint32(s[i]) }

func params(n int) []api.ValueType {
	p := make([]api.ValueType, n)
	for i := range p {
		p[i] = i32
	}
	return p
}

// read returns the guest bytes at the (ptr, size) argument pair starting at stack slot i.
func read(mem api.Memory, s []uint64, i int) ([]byte, bool) {
	if mem == nil {
		return nil, u32(s, i+1) == 0
	}
	b, err := ReadBytes(mem, u32(s, i), u32(s, i+1))
	return b, err == nil
}

// readMap decodes the encoded map at the (ptr, size) pair at stack slot i.
func readMap(mem api.Memory, s []uint64, i int) (Headers, Status) {
	b, ok := read(mem, s, i)
	if !ok {
		return nil, StatusInvalidMemoryAccess
	}
	h, err := DecodeMap(b)
	if err != nil {
		return nil, StatusBadArgument
	}
	return h, StatusOK
}

func writeU32(mem api.Memory, ptr, v uint32) Status {
	if mem == nil || !mem.WriteUint32Le(ptr, v) {
		return StatusInvalidMemoryAccess
	}
	return StatusOK
}

func writeU64(mem api.Memory, ptr uint32, v uint64) Status {
	if mem == nil || !mem.WriteUint64Le(ptr, v) {
		return StatusInvalidMemoryAccess
	}
	return StatusOK
}

// checkOut verifies that both result slots are writable before anything is allocated in the guest, so a bad
// pointer costs no guest memory.
func checkOut(mem api.Memory, ptrPtr, sizePtr uint32) bool {
	if mem == nil {
		return false
	}
	_, ok1 := mem.Read(ptrPtr, 4)
	_, ok2 := mem.Read(sizePtr, 4)
	return ok1 && ok2
}

// allocate gets size bytes of guest memory and returns a writable view of them.
func allocate(h Host, mem api.Memory, size uint32) (uint32, []byte, Status) {
	ptr, err := h.Allocate(size)
	if err != nil {
		return 0, nil, StatusInternalFailure
	}
	dst, ok := mem.Read(ptr, size)
	if !ok {
		return 0, nil, StatusInvalidMemoryAccess
	}
	return ptr, dst, StatusOK
}

// returnBytes copies data into freshly allocated guest memory and stores its address and size at the result
// pointers. Empty data is returned as (0, 0) without calling the allocator.
func returnBytes[T string | []byte](h Host, mem api.Memory, data T, ptrPtr, sizePtr uint32) Status {
	if !checkOut(mem, ptrPtr, sizePtr) {
		return StatusInvalidMemoryAccess
	}
	var ptr uint32
	if len(data) > 0 {
		if uint64(len(data)) > math.MaxUint32 {
			return StatusBadArgument
		}
		p, dst, st := allocate(h, mem, uint32(len(data)))
		if st != StatusOK {
			return st
		}
		copy(dst, data)
		ptr = p
	}
	mem.WriteUint32Le(ptrPtr, ptr)
	mem.WriteUint32Le(sizePtr, uint32(len(data)))
	return StatusOK
}

func (t *table) functions() []hostFunc {
	fs := []hostFunc{
		t.status("proxy_log", params(3), func(h Host, mem api.Memory, s []uint64) Status {
			msg, ok := read(mem, s, 1)
			if !ok {
				return StatusInvalidMemoryAccess
			}
			return h.Log(LogLevel(u32(s, 0)), msg)
		}),
		t.status("proxy_get_log_level", params(1), func(h Host, mem api.Memory, s []uint64) Status {
			l, st := h.GetLogLevel()
			if st != StatusOK {
				return st
			}
			return writeU32(mem, u32(s, 0), uint32(l))
		}),
		t.status("proxy_get_current_time_nanoseconds", params(1), func(h Host, mem api.Memory, s []uint64) Status {
			return writeU64(mem, u32(s, 0), h.GetCurrentTimeNanoseconds())
		}),
		t.status("proxy_set_tick_period_milliseconds", params(1), func(h Host, _ api.Memory, s []uint64) Status {
			return h.SetTickPeriodMilliseconds(u32(s, 0))
		}),
		t.status("proxy_set_effective_context", params(1), func(h Host, _ api.Memory, s []uint64) Status {
			return h.SetEffectiveContext(u32(s, 0))
		}),
		t.status("proxy_done", nil, func(h Host, _ api.Memory, _ []uint64) Status { return h.Done() }),

		// Buffers.
		t.status("proxy_get_buffer_bytes", params(5), func(h Host, mem api.Memory, s []uint64) Status {
			if !checkOut(mem, u32(s, 3), u32(s, 4)) {
				return StatusInvalidMemoryAccess
			}
			b, st := h.GetBufferBytes(BufferType(u32(s, 0)), u32(s, 1), u32(s, 2))
			if st != StatusOK {
				return st
			}
			return returnBytes(h, mem, b, u32(s, 3), u32(s, 4))
		}),
		t.status("proxy_get_buffer_status", params(3), func(h Host, mem api.Memory, s []uint64) Status {
			n, flags, st := h.GetBufferStatus(BufferType(u32(s, 0)))
			if st != StatusOK {
				return st
			}
			if st := writeU32(mem, u32(s, 1), n); st != StatusOK {
				return st
			}
			return writeU32(mem, u32(s, 2), flags)
		}),
		t.status("proxy_set_buffer_bytes", params(5), func(h Host, mem api.Memory, s []uint64) Status {
			data, ok := read(mem, s, 3)
			if !ok {
				return StatusInvalidMemoryAccess
			}
			return h.SetBufferBytes(BufferType(u32(s, 0)), u32(s, 1), u32(s, 2), data)
		}),
		// ABI 0.1.0 reads the plugin configuration through its own call.
		t.status("proxy_get_configuration", params(2), func(h Host, mem api.Memory, s []uint64) Status {
			b, st := h.GetBufferBytes(BufferPluginConfiguration, 0, math.MaxUint32)
			if st != StatusOK {
				return st
			}
			return returnBytes(h, mem, b, u32(s, 0), u32(s, 1))
		}),

		// Header maps.
		t.status("proxy_get_header_map_pairs", params(3), func(h Host, mem api.Memory, s []uint64) Status {
			if !checkOut(mem, u32(s, 1), u32(s, 2)) {
				return StatusInvalidMemoryAccess
			}
			m, st := h.GetHeaderMapPairs(MapType(u32(s, 0)))
			if st != StatusOK {
				return st
			}
			size := m.SerializedSize()
			if uint64(size) > math.MaxUint32 {
				return StatusBadArgument
			}
			ptr, dst, st := allocate(h, mem, uint32(size))
			if st != StatusOK {
				return st
			}
			EncodeMap(dst, m) // straight into guest memory
			mem.WriteUint32Le(u32(s, 1), ptr)
			mem.WriteUint32Le(u32(s, 2), uint32(size))
			return StatusOK
		}),
		t.status("proxy_get_header_map_size", params(2), func(h Host, mem api.Memory, s []uint64) Status {
			n, st := h.GetHeaderMapSize(MapType(u32(s, 0)))
			if st != StatusOK {
				return st
			}
			return writeU32(mem, u32(s, 1), n)
		}),
		t.status("proxy_get_header_map_value", params(5), func(h Host, mem api.Memory, s []uint64) Status {
			key, ok := read(mem, s, 1)
			if !ok || !checkOut(mem, u32(s, 3), u32(s, 4)) {
				return StatusInvalidMemoryAccess
			}
			v, st := h.GetHeaderMapValue(MapType(u32(s, 0)), key)
			if st != StatusOK {
				return st
			}
			return returnBytes(h, mem, v, u32(s, 3), u32(s, 4))
		}),
		t.status("proxy_set_header_map_pairs", params(3), func(h Host, mem api.Memory, s []uint64) Status {
			m, st := readMap(mem, s, 1)
			if st != StatusOK {
				return st
			}
			return h.SetHeaderMapPairs(MapType(u32(s, 0)), m)
		}),
		t.status("proxy_add_header_map_value", params(5), func(h Host, mem api.Memory, s []uint64) Status {
			k, ok1 := read(mem, s, 1)
			v, ok2 := read(mem, s, 3)
			if !ok1 || !ok2 {
				return StatusInvalidMemoryAccess
			}
			return h.AddHeaderMapValue(MapType(u32(s, 0)), k, v)
		}),
		t.status("proxy_replace_header_map_value", params(5), func(h Host, mem api.Memory, s []uint64) Status {
			k, ok1 := read(mem, s, 1)
			v, ok2 := read(mem, s, 3)
			if !ok1 || !ok2 {
				return StatusInvalidMemoryAccess
			}
			return h.ReplaceHeaderMapValue(MapType(u32(s, 0)), k, v)
		}),
		t.status("proxy_remove_header_map_value", params(3), func(h Host, mem api.Memory, s []uint64) Status {
			k, ok := read(mem, s, 1)
			if !ok {
				return StatusInvalidMemoryAccess
			}
			return h.RemoveHeaderMapValue(MapType(u32(s, 0)), k)
		}),

		// Properties.
		t.status("proxy_get_property", params(4), func(h Host, mem api.Memory, s []uint64) Status {
			path, ok := read(mem, s, 0)
			if !ok || !checkOut(mem, u32(s, 2), u32(s, 3)) {
				return StatusInvalidMemoryAccess
			}
			v, st := h.GetProperty(path)
			if st != StatusOK {
				return st
			}
			return returnBytes(h, mem, v, u32(s, 2), u32(s, 3))
		}),
		t.status("proxy_set_property", params(4), func(h Host, mem api.Memory, s []uint64) Status {
			path, ok1 := read(mem, s, 0)
			v, ok2 := read(mem, s, 2)
			if !ok1 || !ok2 {
				return StatusInvalidMemoryAccess
			}
			return h.SetProperty(path, v)
		}),

		// Shared data and queues.
		t.status("proxy_get_shared_data", params(5), func(h Host, mem api.Memory, s []uint64) Status {
			key, ok := read(mem, s, 0)
			if !ok || !checkOut(mem, u32(s, 2), u32(s, 3)) {
				return StatusInvalidMemoryAccess
			}
			if _, ok := mem.Read(u32(s, 4), 4); !ok {
				return StatusInvalidMemoryAccess
			}
			v, cas, st := h.GetSharedData(key)
			if st != StatusOK {
				return st
			}
			if st := returnBytes(h, mem, v, u32(s, 2), u32(s, 3)); st != StatusOK {
				return st
			}
			return writeU32(mem, u32(s, 4), cas)
		}),
		t.status("proxy_set_shared_data", params(5), func(h Host, mem api.Memory, s []uint64) Status {
			key, ok1 := read(mem, s, 0)
			v, ok2 := read(mem, s, 2)
			if !ok1 || !ok2 {
				return StatusInvalidMemoryAccess
			}
			return h.SetSharedData(key, v, u32(s, 4))
		}),
		t.status("proxy_register_shared_queue", params(3), func(h Host, mem api.Memory, s []uint64) Status {
			name, ok := read(mem, s, 0)
			if !ok {
				return StatusInvalidMemoryAccess
			}
			id, st := h.RegisterSharedQueue(name)
			if st != StatusOK {
				return st
			}
			return writeU32(mem, u32(s, 2), id)
		}),
		t.status("proxy_resolve_shared_queue", params(5), func(h Host, mem api.Memory, s []uint64) Status {
			vm, ok1 := read(mem, s, 0)
			name, ok2 := read(mem, s, 2)
			if !ok1 || !ok2 {
				return StatusInvalidMemoryAccess
			}
			id, st := h.ResolveSharedQueue(vm, name)
			if st != StatusOK {
				return st
			}
			return writeU32(mem, u32(s, 4), id)
		}),
		t.status("proxy_dequeue_shared_queue", params(3), func(h Host, mem api.Memory, s []uint64) Status {
			if !checkOut(mem, u32(s, 1), u32(s, 2)) {
				return StatusInvalidMemoryAccess
			}
			v, st := h.DequeueSharedQueue(u32(s, 0))
			if st != StatusOK {
				return st
			}
			return returnBytes(h, mem, v, u32(s, 1), u32(s, 2))
		}),
		t.status("proxy_enqueue_shared_queue", params(3), func(h Host, mem api.Memory, s []uint64) Status {
			v, ok := read(mem, s, 1)
			if !ok {
				return StatusInvalidMemoryAccess
			}
			return h.EnqueueSharedQueue(u32(s, 0), v)
		}),

		// Streams.
		t.status("proxy_continue_stream", params(1), func(h Host, _ api.Memory, s []uint64) Status {
			return h.ContinueStream(StreamType(u32(s, 0)))
		}),
		t.status("proxy_continue_request", nil, func(h Host, _ api.Memory, _ []uint64) Status {
			return h.ContinueStream(StreamRequest)
		}),
		t.status("proxy_continue_response", nil, func(h Host, _ api.Memory, _ []uint64) Status {
			return h.ContinueStream(StreamResponse)
		}),
		t.status("proxy_close_stream", params(1), func(h Host, _ api.Memory, s []uint64) Status {
			return h.CloseStream(StreamType(u32(s, 0)))
		}),
		// The route cache is the data plane's business; reading upstream_cluster after each callback is enough.
		t.status("proxy_clear_route_cache", nil, func(Host, api.Memory, []uint64) Status { return StatusOK }),
		t.status("proxy_get_status", params(3), func(h Host, mem api.Memory, s []uint64) Status {
			if _, ok := mem.Read(u32(s, 0), 4); !ok || !checkOut(mem, u32(s, 1), u32(s, 2)) {
				return StatusInvalidMemoryAccess
			}
			code, msg, st := h.GetStatus()
			if st != StatusOK {
				return st
			}
			mem.WriteUint32Le(u32(s, 0), code)
			return returnBytes(h, mem, msg, u32(s, 1), u32(s, 2))
		}),
		t.status("proxy_send_local_response", params(8), func(h Host, mem api.Memory, s []uint64) Status {
			details, ok1 := read(mem, s, 1)
			body, ok2 := read(mem, s, 3)
			if !ok1 || !ok2 {
				return StatusInvalidMemoryAccess
			}
			hdrs, st := readMap(mem, s, 5)
			if st != StatusOK {
				return st
			}
			return h.SendLocalResponse(u32(s, 0), details, body, hdrs, int32(u32(s, 7)))
		}),

		// Calls out.
		t.status("proxy_http_call", params(10), func(h Host, mem api.Memory, s []uint64) Status {
			up, ok1 := read(mem, s, 0)
			body, ok2 := read(mem, s, 4)
			if !ok1 || !ok2 {
				return StatusInvalidMemoryAccess
			}
			hdrs, st := readMap(mem, s, 2)
			if st != StatusOK {
				return st
			}
			trl, st := readMap(mem, s, 6)
			if st != StatusOK {
				return st
			}
			if _, ok := mem.Read(u32(s, 9), 4); !ok {
				return StatusInvalidMemoryAccess
			}
			id, st := h.HTTPCall(up, hdrs, body, trl, u32(s, 8))
			if st != StatusOK {
				return st
			}
			return writeU32(mem, u32(s, 9), id)
		}),
		t.status("proxy_grpc_call", params(12), func(h Host, mem api.Memory, s []uint64) Status {
			up, ok1 := read(mem, s, 0)
			svc, ok2 := read(mem, s, 2)
			method, ok3 := read(mem, s, 4)
			msg, ok4 := read(mem, s, 8)
			if !ok1 || !ok2 || !ok3 || !ok4 {
				return StatusInvalidMemoryAccess
			}
			md, st := readMap(mem, s, 6)
			if st != StatusOK {
				return st
			}
			if _, ok := mem.Read(u32(s, 11), 4); !ok {
				return StatusInvalidMemoryAccess
			}
			id, st := h.GRPCCall(up, svc, method, md, msg, u32(s, 10))
			if st != StatusOK {
				return st
			}
			return writeU32(mem, u32(s, 11), id)
		}),
		t.status("proxy_grpc_stream", params(9), func(h Host, mem api.Memory, s []uint64) Status {
			up, ok1 := read(mem, s, 0)
			svc, ok2 := read(mem, s, 2)
			method, ok3 := read(mem, s, 4)
			if !ok1 || !ok2 || !ok3 {
				return StatusInvalidMemoryAccess
			}
			md, st := readMap(mem, s, 6)
			if st != StatusOK {
				return st
			}
			if _, ok := mem.Read(u32(s, 8), 4); !ok {
				return StatusInvalidMemoryAccess
			}
			id, st := h.GRPCStream(up, svc, method, md)
			if st != StatusOK {
				return st
			}
			return writeU32(mem, u32(s, 8), id)
		}),
		t.status("proxy_grpc_send", params(4), func(h Host, mem api.Memory, s []uint64) Status {
			msg, ok := read(mem, s, 1)
			if !ok {
				return StatusInvalidMemoryAccess
			}
			return h.GRPCSend(u32(s, 0), msg, u32(s, 3) != 0)
		}),
		t.status("proxy_grpc_cancel", params(1), func(h Host, _ api.Memory, s []uint64) Status {
			return h.GRPCCancel(u32(s, 0))
		}),
		t.status("proxy_grpc_close", params(1), func(h Host, _ api.Memory, s []uint64) Status {
			return h.GRPCClose(u32(s, 0))
		}),

		// Metrics.
		t.status("proxy_define_metric", params(4), func(h Host, mem api.Memory, s []uint64) Status {
			name, ok := read(mem, s, 1)
			if !ok {
				return StatusInvalidMemoryAccess
			}
			id, st := h.DefineMetric(MetricType(u32(s, 0)), name)
			if st != StatusOK {
				return st
			}
			return writeU32(mem, u32(s, 3), id)
		}),
		t.status("proxy_increment_metric", []api.ValueType{i32, i64}, func(h Host, _ api.Memory, s []uint64) Status {
			return h.IncrementMetric(u32(s, 0), int64(s[1]))
		}),
		t.status("proxy_record_metric", []api.ValueType{i32, i64}, func(h Host, _ api.Memory, s []uint64) Status {
			return h.RecordMetric(u32(s, 0), s[1])
		}),
		t.status("proxy_get_metric", params(2), func(h Host, mem api.Memory, s []uint64) Status {
			if _, ok := mem.Read(u32(s, 1), 8); !ok {
				return StatusInvalidMemoryAccess
			}
			v, st := h.GetMetric(u32(s, 0))
			if st != StatusOK {
				return st
			}
			return writeU64(mem, u32(s, 1), v)
		}),

		t.status("proxy_call_foreign_function", params(6), func(h Host, mem api.Memory, s []uint64) Status {
			name, ok1 := read(mem, s, 0)
			args, ok2 := read(mem, s, 2)
			if !ok1 || !ok2 || !checkOut(mem, u32(s, 4), u32(s, 5)) {
				return StatusInvalidMemoryAccess
			}
			out, st := h.CallForeignFunction(name, args)
			if st != StatusOK {
				return st
			}
			return returnBytes(h, mem, out, u32(s, 4), u32(s, 5))
		}),
	}
	return append(fs, assemblyScriptImports()...)
}

// assemblyScriptImports are the env imports the AssemblyScript runtime adds on its own.
func assemblyScriptImports() []hostFunc {
	f64 := api.ValueTypeF64
	return []hostFunc{
		{"abort", params(4), nil, func(_ context.Context, mod api.Module, s []uint64) {
			msg := readASString(mod.Memory(), u32(s, 0))
			file := readASString(mod.Memory(), u32(s, 1))
			panic(&GuestAbort{Message: msg + " at " + file})
		}},
		{"trace", []api.ValueType{i32, i32, f64, f64, f64, f64, f64}, nil, func(context.Context, api.Module, []uint64) {}},
		{"seed", nil, []api.ValueType{f64}, func(_ context.Context, _ api.Module, s []uint64) {
			s[0] = math.Float64bits(float64(nowNanos()))
		}},
	}
}

// readASString decodes an AssemblyScript string (UTF-16LE, byte length stored in the 4 bytes before ptr).
func readASString(mem api.Memory, ptr uint32) string {
	if mem == nil || ptr < 4 {
		return ""
	}
	n, ok := mem.ReadUint32Le(ptr - 4)
	if !ok || n > 4096 {
		return "?"
	}
	b, ok := mem.Read(ptr, n&^1)
	if !ok {
		return "?"
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}
