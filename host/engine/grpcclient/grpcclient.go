// Package grpcclient carries the gRPC calls of proxy-wasm modules (proxy_grpc_call, proxy_grpc_stream) over
// grpc-go: it implements engine.GRPCCaller and engine.GRPCStreamer on connections the data plane supplies per
// cluster. Messages pass through as bytes (the module serializes its own protobufs), metadata as header maps.
//
// A data plane composes it with its HTTP caller:
//
//	type caller struct {
//		*grpcclient.Client // proxy_grpc_call, proxy_grpc_stream
//		http               // proxy_http_call
//	}
//	eng, _ := engine.New(engine.Config{Caller: caller{grpcclient.New(clusters), http}})
//
// where clusters returns a *grpc.ClientConn (or any grpc.ClientConnInterface) for a cluster name.
package grpcclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/wasmesh/wasmesh/host/abi"
	"github.com/wasmesh/wasmesh/host/engine"
)

// Conns finds the connection of a cluster. It is called with a module's VM locked, so it must not dial
// synchronously: return a lazily connecting *grpc.ClientConn (grpc.NewClient) that is reused across calls.
type Conns interface {
	Conn(cluster string) (grpc.ClientConnInterface, error)
}

// ConnsFunc adapts a function to Conns.
type ConnsFunc func(cluster string) (grpc.ClientConnInterface, error)

// Conn implements Conns.
func (f ConnsFunc) Conn(cluster string) (grpc.ClientConnInterface, error) { return f(cluster) }

// Client implements engine.GRPCCaller and engine.GRPCStreamer. It is safe for concurrent use.
type Client struct{ conns Conns }

var (
	_ engine.GRPCCaller   = (*Client)(nil)
	_ engine.GRPCStreamer = (*Client)(nil)
)

// New returns a Client over conns.
func New(conns Conns) *Client { return &Client{conns: conns} }

// RawCodec is a grpc-go codec for messages that are already serialized: it marshals and unmarshals *[]byte.
// The client forces it on every call (the module serialized its protobufs itself); a server may use it to see
// the bytes (grpc.ForceServerCodec), as grpcclienttest does.
type RawCodec struct{}

// Name is what the server sees in content-type.
func (RawCodec) Name() string { return "proto" }

// Marshal implements encoding.Codec.
func (RawCodec) Marshal(v any) ([]byte, error) {
	b, ok := v.(*[]byte)
	if !ok {
		return nil, fmt.Errorf("grpcclient: cannot marshal %T", v)
	}
	return *b, nil
}

// Unmarshal implements encoding.Codec.
func (RawCodec) Unmarshal(data []byte, v any) error {
	b, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("grpcclient: cannot unmarshal into %T", v)
	}
	*b = append((*b)[:0], data...)
	return nil
}

func fullMethod(service, method string) string { return "/" + service + "/" + method }

func toMD(h abi.Headers) metadata.MD {
	md := make(metadata.MD, len(h))
	for _, kv := range h {
		k := strings.ToLower(kv.Key)
		md[k] = append(md[k], kv.Value)
	}
	return md
}

func fromMD(md metadata.MD) abi.Headers {
	var h abi.Headers
	for k, vs := range md {
		for _, v := range vs {
			h = append(h, abi.Header{Key: k, Value: v})
		}
	}
	return h
}

// statusOf turns a grpc-go error into the code and message proxy_on_grpc_close reports.
func statusOf(err error) (uint32, string) {
	if err == nil || errors.Is(err, io.EOF) {
		return uint32(codes.OK), ""
	}
	st := status.Convert(err)
	return uint32(st.Code()), st.Message()
}

// GRPCCall implements engine.GRPCCaller: a unary call whose failure comes back as a status, not an error, so the
// module sees the server's code.
func (c *Client) GRPCCall(ctx context.Context, cluster, service, method string, md abi.Headers, msg []byte, timeout time.Duration) (*engine.GRPCResponse, error) {
	cc, err := c.conns.Conn(cluster)
	if err != nil {
		return nil, fmt.Errorf("grpcclient: cluster %q: %w", cluster, err)
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	ctx = metadata.NewOutgoingContext(ctx, toMD(md))
	var header, trailer metadata.MD
	in, out := msg, []byte(nil)
	err = cc.Invoke(ctx, fullMethod(service, method), &in, &out, grpc.Header(&header), grpc.Trailer(&trailer),
		grpc.ForceCodec(RawCodec{}))
	code, text := statusOf(err)
	return &engine.GRPCResponse{InitialMetadata: fromMD(header), Message: out, TrailingMetadata: fromMD(trailer),
		Status: code, StatusMessage: text}, nil
}

var streamDesc = &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}

// GRPCStream implements engine.GRPCStreamer. It returns at once: the stream opens on its own goroutine, which
// then sends what the module queued, while another receives and reports to events. A stream that cannot open
// reports Close with the error's status (UNAVAILABLE for a cluster it cannot reach).
func (c *Client) GRPCStream(ctx context.Context, cluster, service, method string, md abi.Headers, events engine.GRPCStreamEvents) (engine.GRPCClientStream, error) {
	cc, err := c.conns.Conn(cluster)
	if err != nil {
		return nil, fmt.Errorf("grpcclient: cluster %q: %w", cluster, err)
	}
	ctx, cancel := context.WithCancel(metadata.NewOutgoingContext(ctx, toMD(md)))
	s := &stream{cancel: cancel, wake: make(chan struct{}, 1)}
	go s.run(ctx, cc, fullMethod(service, method), events)
	return s, nil
}

type frame struct {
	msg []byte
	end bool // CloseSend after msg (if any)
}

// stream queues the module's sends so that Send never waits for the network.
type stream struct {
	cancel context.CancelFunc
	wake   chan struct{}

	mu        sync.Mutex
	queue     []frame
	closed    bool // CloseSend queued
	cancelled bool
}

func (s *stream) push(f frame) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cancelled || s.closed {
		return errors.New("grpcclient: stream already closed for sending")
	}
	s.closed = f.end
	s.queue = append(s.queue, f)
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return nil
}

// Send implements engine.GRPCClientStream.
func (s *stream) Send(msg []byte, endOfStream bool) error {
	return s.push(frame{msg: msg, end: endOfStream})
}

// CloseSend implements engine.GRPCClientStream.
func (s *stream) CloseSend() error { return s.push(frame{end: true}) }

// Cancel implements engine.GRPCClientStream: the call is reset and nothing more is reported.
func (s *stream) Cancel() {
	s.mu.Lock()
	s.cancelled = true
	s.mu.Unlock()
	s.cancel()
}

func (s *stream) isCancelled() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cancelled
}

func (s *stream) run(ctx context.Context, cc grpc.ClientConnInterface, method string, events engine.GRPCStreamEvents) {
	defer s.cancel()
	cs, err := cc.NewStream(ctx, streamDesc, method, grpc.ForceCodec(RawCodec{}))
	if err != nil {
		if !s.isCancelled() {
			code, text := statusOf(err)
			events.Close(code, text)
		}
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.receive(cs, events)
	}()
	s.send(ctx, cs)
	<-done
}

// send writes queued frames until the module half-closes or the stream ends.
func (s *stream) send(ctx context.Context, cs grpc.ClientStream) {
	for {
		s.mu.Lock()
		batch := s.queue
		s.queue = nil
		s.mu.Unlock()
		for _, f := range batch {
			if f.msg != nil {
				msg := f.msg
				if cs.SendMsg(&msg) != nil {
					return // the receive side reports why
				}
			}
			if f.end {
				_ = cs.CloseSend()
				return
			}
		}
		select {
		case <-s.wake:
		case <-ctx.Done():
			return
		}
	}
}

func (s *stream) receive(cs grpc.ClientStream, events engine.GRPCStreamEvents) {
	if md, err := cs.Header(); err == nil && len(md) > 0 && !s.isCancelled() {
		events.InitialMetadata(fromMD(md))
	}
	for {
		var msg []byte
		err := cs.RecvMsg(&msg)
		if s.isCancelled() {
			return
		}
		if err != nil {
			if tr := cs.Trailer(); len(tr) > 0 {
				events.TrailingMetadata(fromMD(tr))
			}
			code, text := statusOf(err)
			events.Close(code, text)
			return
		}
		events.Message(msg)
	}
}
