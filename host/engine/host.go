package engine

import (
	"context"
	"log/slog"
	"slices"
	"unsafe"

	"github.com/wasmesh/wasmesh/host/abi"
)

// This file implements abi.Host on the VM: the meaning of each host function, against the context the guest is
// running in (v.cur). Everything here runs with the VM lock held.

var _ abi.Host = (*vm)(nil)

func (v *vm) stream() *streamCore {
	if v.cur == nil {
		return nil
	}
	return v.cur.stream
}

func (v *vm) http() *HTTPStream {
	s := v.stream()
	if s == nil {
		return nil
	}
	return s.owner.http
}

func (v *vm) tcp() *TCPStream {
	s := v.stream()
	if s == nil {
		return nil
	}
	return s.owner.tcp
}

var slogLevels = [...]slog.Level{slog.LevelDebug - 4, slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError, slog.LevelError + 4}

func (v *vm) Log(level abi.LogLevel, msg []byte) abi.Status {
	if level >= abi.LogWarn {
		v.lastLog = string(msg)
	}
	if level < v.eng.cfg.LogLevel {
		return abi.StatusOK
	}
	l := slog.LevelError + 4
	if int(level) < len(slogLevels) {
		l = slogLevels[level]
	}
	log := v.eng.log
	if v.cur != nil {
		log = v.cur.plugin.log
	}
	if log.Enabled(context.Background(), l) {
		log.Log(context.Background(), l, string(msg), "source", "guest")
	}
	return abi.StatusOK
}

func (v *vm) GetLogLevel() (abi.LogLevel, abi.Status) { return v.eng.cfg.LogLevel, abi.StatusOK }

func (v *vm) GetCurrentTimeNanoseconds() uint64 { return uint64(v.eng.cfg.Now().UnixNano()) }

func (v *vm) SetTickPeriodMilliseconds(ms uint32) abi.Status {
	if v.cur == nil {
		return abi.StatusBadArgument
	}
	root := v.cur.root
	root.tickPeriod = msDuration(ms)
	root.nextTick = v.eng.cfg.Now().Add(root.tickPeriod)
	root.plugin.wakeTicker()
	return abi.StatusOK
}

func (v *vm) SetEffectiveContext(id uint32) abi.Status {
	cs := v.contexts[id]
	if cs == nil {
		return abi.StatusBadArgument
	}
	v.cur = cs
	return abi.StatusOK
}

// Done is proxy_done: the effective context, whose proxy_on_done returned false, is finished; proxy_on_delete
// runs when the current callback returns. NOT_FOUND for a context that is not waiting for it.
func (v *vm) Done() abi.Status {
	cs := v.cur
	if cs == nil || !cs.pendingDone || slices.Contains(v.doneQueue, cs) {
		return abi.StatusNotFound
	}
	v.doneQueue = append(v.doneQueue, cs)
	return abi.StatusOK
}

func (v *vm) buffer(bt abi.BufferType) (*[]byte, bool) {
	switch bt {
	case abi.BufferHTTPRequestBody:
		if h := v.http(); h != nil && h.lent && h.reqBody != nil {
			return h.reqBody, h.reqEnd
		}
	case abi.BufferHTTPResponseBody:
		if h := v.http(); h != nil && h.lent && h.respBody != nil {
			return h.respBody, h.respEnd
		}
	case abi.BufferDownstreamData:
		if t := v.tcp(); t != nil && t.downstream != nil {
			return t.downstream, t.downstreamEnd
		}
	case abi.BufferUpstreamData:
		if t := v.tcp(); t != nil && t.upstream != nil {
			return t.upstream, t.upstreamEnd
		}
	case abi.BufferHTTPCallResponseBody:
		if v.callResp != nil {
			return &v.callResp.Body, true
		}
	case abi.BufferGRPCReceive:
		if v.grpcResp != nil {
			return &v.grpcResp.Message, true
		}
	case abi.BufferVMConfiguration:
		return &v.g.vmConfig, true
	case abi.BufferPluginConfiguration:
		if v.cur != nil {
			return &v.cur.plugin.cfg.Configuration, true
		}
	case abi.BufferCallData:
		if v.callData != nil {
			return &v.callData, true
		}
	}
	return nil, false
}

func (v *vm) GetBufferBytes(bt abi.BufferType, start, maxSize uint32) ([]byte, abi.Status) {
	b, _ := v.buffer(bt)
	if b == nil {
		return nil, abi.StatusNotFound
	}
	lo, hi, ok := abi.BufferRange(len(*b), start, maxSize)
	if !ok {
		return nil, abi.StatusBadArgument
	}
	return (*b)[lo:hi], abi.StatusOK
}

func (v *vm) GetBufferStatus(bt abi.BufferType) (uint32, uint32, abi.Status) {
	b, end := v.buffer(bt)
	if b == nil {
		return 0, 0, abi.StatusNotFound
	}
	var flags uint32
	if end {
		flags = abi.BufferFlagEndOfStream
	}
	return uint32(len(*b)), flags, abi.StatusOK
}

func (v *vm) SetBufferBytes(bt abi.BufferType, start, size uint32, data []byte) abi.Status {
	switch bt {
	case abi.BufferHTTPRequestBody, abi.BufferHTTPResponseBody, abi.BufferDownstreamData, abi.BufferUpstreamData:
	default:
		return abi.StatusBadArgument // configuration and call responses are read-only
	}
	b, _ := v.buffer(bt)
	if b == nil {
		return abi.StatusNotFound
	}
	*b = abi.SpliceBuffer(*b, start, size, data)
	return abi.StatusOK
}

func (v *vm) headers(mt abi.MapType) *abi.Headers {
	switch mt {
	case abi.MapHTTPRequestHeaders, abi.MapHTTPRequestTrailers, abi.MapHTTPResponseHeaders, abi.MapHTTPResponseTrailers:
		if h := v.http(); h != nil && h.lent {
			return h.maps[mt]
		}
	case abi.MapHTTPCallResponseHeaders:
		if v.callResp != nil {
			return &v.callResp.Headers
		}
	case abi.MapHTTPCallResponseTrailers:
		if v.callResp != nil {
			return &v.callResp.Trailers
		}
	case abi.MapGRPCReceiveInitialMetadata:
		if v.grpcResp != nil {
			return &v.grpcResp.InitialMetadata
		}
	case abi.MapGRPCReceiveTrailingMetadata:
		if v.grpcResp != nil {
			return &v.grpcResp.TrailingMetadata
		}
	}
	return nil
}

func (v *vm) GetHeaderMapPairs(mt abi.MapType) (abi.Headers, abi.Status) {
	h := v.headers(mt)
	if h == nil {
		return nil, abi.StatusNotFound
	}
	return *h, abi.StatusOK
}

func (v *vm) GetHeaderMapSize(mt abi.MapType) (uint32, abi.Status) {
	h := v.headers(mt)
	if h == nil {
		return 0, abi.StatusNotFound
	}
	return uint32(h.SerializedSize()), abi.StatusOK
}

func (v *vm) GetHeaderMapValue(mt abi.MapType, key []byte) (string, abi.Status) {
	h := v.headers(mt)
	if h == nil {
		return "", abi.StatusNotFound
	}
	val, ok := h.GetBytes(key)
	if !ok {
		return "", abi.StatusNotFound
	}
	return val, abi.StatusOK
}

// writable returns a header map the guest may change: call responses and gRPC metadata are read-only.
func (v *vm) writable(mt abi.MapType) *abi.Headers {
	if mt > abi.MapHTTPResponseTrailers {
		return nil
	}
	return v.headers(mt)
}

func (v *vm) SetHeaderMapPairs(mt abi.MapType, h abi.Headers) abi.Status {
	dst := v.writable(mt)
	if dst == nil {
		return abi.StatusNotFound
	}
	clear(*dst)
	*dst = append((*dst)[:0], h...) // keep the data plane's backing array
	return abi.StatusOK
}

func (v *vm) AddHeaderMapValue(mt abi.MapType, key, value []byte) abi.Status {
	dst := v.writable(mt)
	if dst == nil {
		return abi.StatusNotFound
	}
	dst.AddBytes(key, value)
	return abi.StatusOK
}

func (v *vm) ReplaceHeaderMapValue(mt abi.MapType, key, value []byte) abi.Status {
	dst := v.writable(mt)
	if dst == nil {
		return abi.StatusNotFound
	}
	dst.SetBytes(key, value)
	return abi.StatusOK
}

func (v *vm) RemoveHeaderMapValue(mt abi.MapType, key []byte) abi.Status {
	dst := v.writable(mt)
	if dst == nil {
		return abi.StatusNotFound
	}
	dst.DelBytes(key)
	return abi.StatusOK
}

// GetProperty answers, in order: what the module set on this stream or root context, the plugin's own
// properties, the stream's data-plane properties, and the engine's (node) properties.
func (v *vm) GetProperty(path []byte) ([]byte, abi.Status) {
	buf, err := abi.PropertyPath(v.propBuf[:0], path)
	v.propBuf = buf
	if err != nil {
		return nil, abi.StatusBadArgument
	}
	key := unsafe.String(unsafe.SliceData(buf), len(buf)) // valid until the next property call; never stored
	if v.cur == nil {
		return nil, abi.StatusNotFound
	}
	if s := v.stream(); s != nil {
		s.mu.Lock()
		val, ok := findProp(s.props, key)
		s.mu.Unlock()
		if ok {
			return val, abi.StatusOK
		}
	} else if val, ok := findProp(v.cur.root.props, key); ok {
		return val, abi.StatusOK
	}
	p := v.cur.plugin
	switch key {
	case "plugin_name":
		return p.ids.name, abi.StatusOK
	case "plugin_root_id":
		return p.ids.rootID, abi.StatusOK
	case "plugin_vm_id":
		return p.ids.vmID, abi.StatusOK
	}
	if s := v.stream(); s != nil && s.info.Properties != nil {
		if val, ok := s.info.Properties.GetProperty(key); ok {
			return val, abi.StatusOK
		}
	}
	if g := v.eng.cfg.Properties; g != nil {
		if val, ok := g.GetProperty(key); ok {
			return val, abi.StatusOK
		}
	}
	return nil, abi.StatusNotFound
}

// SetProperty stores any path on the current stream (or root context); the data plane reads them back with
// Property, notably "upstream_cluster" to route the request.
func (v *vm) SetProperty(path, value []byte) abi.Status {
	buf, err := abi.PropertyPath(v.propBuf[:0], path)
	v.propBuf = buf
	if err != nil {
		return abi.StatusBadArgument
	}
	if v.cur == nil {
		return abi.StatusNotFound
	}
	props := &v.cur.root.props
	if s := v.stream(); s != nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		props = &s.props
	}
	for i := range *props {
		if (*props)[i].key == string(buf) {
			(*props)[i].value = slices.Clone(value)
			return abi.StatusOK
		}
	}
	*props = append(*props, prop{key: string(buf), value: slices.Clone(value)})
	return abi.StatusOK
}

func (v *vm) GetSharedData(key []byte) ([]byte, uint32, abi.Status) {
	val, cas, ok := v.g.shared.getBytes(key)
	if !ok {
		return nil, 0, abi.StatusNotFound
	}
	return val, cas, abi.StatusOK
}

func (v *vm) SetSharedData(key, value []byte, cas uint32) abi.Status {
	return v.g.shared.set(key, value, cas)
}

func (v *vm) RegisterSharedQueue(name []byte) (uint32, abi.Status) {
	if v.cur == nil {
		return 0, abi.StatusBadArgument
	}
	return v.g.shared.register(name, v, v.cur.root.id), abi.StatusOK
}

func (v *vm) ResolveSharedQueue(vmID, name []byte) (uint32, abi.Status) {
	store := v.g.shared
	if len(vmID) > 0 && string(vmID) != v.g.key.vmID {
		v.eng.mu.Lock()
		store = v.eng.shared[string(vmID)]
		v.eng.mu.Unlock()
		if store == nil {
			return 0, abi.StatusNotFound
		}
	}
	id, ok := store.resolve(name)
	if !ok {
		return 0, abi.StatusNotFound
	}
	return id, abi.StatusOK
}

func (v *vm) DequeueSharedQueue(id uint32) ([]byte, abi.Status) {
	store := v.eng.queueStore(id)
	if store == nil {
		return nil, abi.StatusNotFound
	}
	return store.dequeue(id)
}

func (v *vm) EnqueueSharedQueue(id uint32, data []byte) abi.Status {
	store := v.eng.queueStore(id)
	if store == nil {
		return abi.StatusNotFound
	}
	return store.enqueue(id, data)
}

func (v *vm) ContinueStream(st abi.StreamType) abi.Status {
	s := v.stream()
	if s == nil {
		return abi.StatusNotFound
	}
	s.signal()
	return abi.StatusOK
}

func (v *vm) CloseStream(st abi.StreamType) abi.Status {
	s := v.stream()
	if s == nil {
		return abi.StatusNotFound
	}
	s.mu.Lock()
	s.reset = true
	s.mu.Unlock()
	s.signal()
	return abi.StatusOK
}

func (v *vm) GetStatus() (uint32, []byte, abi.Status) {
	return v.status, []byte(v.statusMsg), abi.StatusOK
}

func (v *vm) SendLocalResponse(code uint32, details, body []byte, headers abi.Headers, grpcStatus int32) abi.Status {
	s := v.stream()
	if s == nil {
		return abi.StatusNotFound
	}
	s.setLocal(&LocalResponse{StatusCode: code, Details: string(details), Headers: headers, Body: slices.Clone(body), GRPCStatus: grpcStatus})
	return abi.StatusOK
}

func (v *vm) DefineMetric(t abi.MetricType, name []byte) (uint32, abi.Status) {
	return v.eng.metrics.define(t, name)
}

func (v *vm) IncrementMetric(id uint32, offset int64) abi.Status {
	return v.eng.metrics.increment(id, offset)
}

func (v *vm) RecordMetric(id uint32, value uint64) abi.Status { return v.eng.metrics.record(id, value) }

func (v *vm) GetMetric(id uint32) (uint64, abi.Status) { return v.eng.metrics.get(id) }
