package engine

import (
	"context"
	"sync"

	"github.com/wasmesh/wasmesh/host/abi"
)

// GRPCStreamer is the optional streaming side of a Caller: a Caller that also implements it serves
// proxy_grpc_stream, proxy_grpc_send, proxy_grpc_close and proxy_grpc_cancel.
type GRPCStreamer interface {
	// GRPCStream opens a client stream to cluster. It is called with the VM locked, from inside the module's
	// proxy_grpc_stream, so it must return promptly (connect lazily). What the server sends goes to events, from
	// any goroutine but one event at a time and in order; Close is the last event. ctx ends when the module
	// cancels the stream or its VM dies.
	GRPCStream(ctx context.Context, cluster, service, method string, metadata abi.Headers, events GRPCStreamEvents) (GRPCClientStream, error)
}

// GRPCClientStream is the module's end of an open stream. Its methods are called with the VM locked: they must
// not block on the network for long (buffer, or fail). msg is the implementation's to keep.
type GRPCClientStream interface {
	Send(msg []byte, endOfStream bool) error
	CloseSend() error // half-close: nothing more will be sent; responses keep coming
	Cancel()          // reset: the engine delivers nothing more
}

// GRPCStreamEvents receives a stream's responses. The engine queues them and delivers each, in order, to the
// module on the VM and root context that opened the stream: proxy_on_grpc_receive_initial_metadata,
// proxy_on_grpc_receive, proxy_on_grpc_receive_trailing_metadata and proxy_on_grpc_close (status is the gRPC
// code, 0 OK). The methods never block, and the engine keeps md and msg.
type GRPCStreamEvents interface {
	InitialMetadata(md abi.Headers)
	Message(msg []byte)
	TrailingMetadata(md abi.Headers)
	Close(status uint32, message string)
}

// grpcStream is an open stream in a VM; it is also the events sink handed to the data plane.
type grpcStream struct {
	v      *vm
	token  uint32
	root   *ctxState
	stream GRPCClientStream
	cancel context.CancelFunc

	localClosed bool // guarded by the VM lock

	mu       sync.Mutex
	queue    []grpcEvent
	draining bool
}

type grpcEventKind uint8

const (
	evInitial grpcEventKind = iota
	evMessage
	evTrailing
	evClose
)

type grpcEvent struct {
	kind   grpcEventKind
	md     abi.Headers
	msg    []byte
	status uint32
	text   string
}

func (st *grpcStream) InitialMetadata(md abi.Headers) { st.post(grpcEvent{kind: evInitial, md: md}) }
func (st *grpcStream) Message(msg []byte)             { st.post(grpcEvent{kind: evMessage, msg: msg}) }
func (st *grpcStream) TrailingMetadata(md abi.Headers) {
	st.post(grpcEvent{kind: evTrailing, md: md})
}
func (st *grpcStream) Close(status uint32, message string) {
	st.post(grpcEvent{kind: evClose, status: status, text: message})
}

// post queues an event and starts the stream's drainer if it is not running: delivery waits for the VM lock,
// which the data plane's receive loop must never do (the guest may be inside Send, waiting on that loop).
func (st *grpcStream) post(ev grpcEvent) {
	st.mu.Lock()
	st.queue = append(st.queue, ev)
	start := !st.draining
	st.draining = true
	st.mu.Unlock()
	if start {
		go st.drain()
	}
}

func (st *grpcStream) drain() {
	for {
		st.mu.Lock()
		if len(st.queue) == 0 {
			st.draining = false
			st.mu.Unlock()
			return
		}
		ev := st.queue[0]
		st.queue[0] = grpcEvent{}
		st.queue = st.queue[1:]
		st.mu.Unlock()
		st.v.deliverStreamEvent(st, ev)
	}
}

func (v *vm) deliverStreamEvent(st *grpcStream, ev grpcEvent) {
	if v.acquire(context.Background()) != nil {
		return
	}
	defer v.release()
	if v.dead.Load() || v.grpcStreams[st.token] != st {
		return // cancelled or closed: nothing more for the module
	}
	root := st.root
	if v.contexts[root.id] != root { // the plugin is gone: nobody to tell
		v.endStream(st.token, st)
		st.stream.Cancel()
		return
	}
	rid, tok := uint64(root.id), uint64(st.token)
	resp := &GRPCResponse{}
	v.grpcResp = resp
	defer func() { v.grpcResp = nil }()
	switch ev.kind {
	case evInitial:
		resp.InitialMetadata = ev.md
		_, _ = v.call(root, cbGRPCInitialMetadata, rid, tok, uint64(len(ev.md)), 0, 0)
	case evMessage:
		resp.Message = ev.msg
		_, _ = v.call(root, cbGRPCReceive, rid, tok, uint64(len(ev.msg)), 0, 0)
	case evTrailing:
		resp.TrailingMetadata = ev.md
		_, _ = v.call(root, cbGRPCTrailingMetadata, rid, tok, uint64(len(ev.md)), 0, 0)
	case evClose:
		v.endStream(st.token, st)
		v.status, v.statusMsg = ev.status, ev.text
		_, _ = v.call(root, cbGRPCClose, rid, tok, uint64(ev.status), 0, 0)
	}
}

// endStream forgets a stream; its context ends, so a data plane watching it stops too. Called with the VM lock.
func (v *vm) endStream(token uint32, st *grpcStream) {
	delete(v.grpcStreams, token)
	st.cancel()
}

// GRPCStream implements abi.Host when the Caller implements GRPCStreamer (UNIMPLEMENTED otherwise, so a module
// can fall back to unary calls).
func (v *vm) GRPCStream(upstream, service, method []byte, md abi.Headers) (uint32, abi.Status) {
	gs, ok := v.eng.cfg.Caller.(GRPCStreamer)
	if !ok {
		return 0, abi.StatusUnimplemented
	}
	if len(upstream) == 0 || v.cur == nil {
		return 0, abi.StatusBadArgument
	}
	v.nextCallout++
	st := &grpcStream{v: v, token: v.nextCallout, root: v.cur.root}
	ctx, cancel := context.WithCancel(v.ctx)
	st.cancel = cancel
	cs, err := gs.GRPCStream(ctx, string(upstream), string(service), string(method), md, st)
	if err != nil {
		cancel()
		v.eng.log.Debug("wasm grpc stream failed to open", "cluster", string(upstream), "error", err)
		return 0, abi.StatusInternalFailure
	}
	st.stream = cs
	if v.grpcStreams == nil {
		v.grpcStreams = map[uint32]*grpcStream{}
	}
	v.grpcStreams[st.token] = st
	return st.token, abi.StatusOK
}

// GRPCSend implements abi.Host: NOT_FOUND for an unknown or finished stream, BAD_ARGUMENT after the module
// half-closed it.
func (v *vm) GRPCSend(token uint32, msg []byte, endOfStream bool) abi.Status {
	st := v.grpcStreams[token]
	if st == nil {
		return abi.StatusNotFound
	}
	if st.localClosed {
		return abi.StatusBadArgument
	}
	if endOfStream {
		st.localClosed = true
	}
	if err := st.stream.Send(append([]byte(nil), msg...), endOfStream); err != nil { // msg is guest memory
		v.eng.log.Debug("wasm grpc send failed", "error", err)
		return abi.StatusInternalFailure
	}
	return abi.StatusOK
}
