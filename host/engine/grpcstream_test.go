package engine_test

import (
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/wasmesh/wasmesh/host/abi"
	"github.com/wasmesh/wasmesh/host/engine"
	"github.com/wasmesh/wasmesh/host/engine/grpcclient"
	"github.com/wasmesh/wasmesh/host/engine/grpcclient/grpcclienttest"
)

// echoStreamer is a test double of the data plane's gRPC streams that behaves like a transport: each stream
// has its own goroutine that answers every message with initial metadata (first time), "echo:<msg>", and,
// after the client's end of stream or half-close, trailing metadata and status 0. Cancel stops it silently.
type echoStreamer struct {
	mu      sync.Mutex
	streams []*echoStream
}

func (*echoStreamer) HTTPCall(context.Context, string, abi.Headers, []byte, abi.Headers, time.Duration) (*engine.CallResponse, error) {
	return nil, errors.New("no HTTP in this test")
}

func (f *echoStreamer) GRPCStream(ctx context.Context, cluster, service, method string, _ abi.Headers, ev engine.GRPCStreamEvents) (engine.GRPCClientStream, error) {
	if cluster != "grpc-cluster" || service != "echo.Echo" || method != "Chat" {
		return nil, errors.New("unknown cluster or method " + cluster + " " + service + "/" + method)
	}
	s := &echoStream{ctx: ctx, ev: ev, in: make(chan echoFrame, 16)}
	f.mu.Lock()
	f.streams = append(f.streams, s)
	f.mu.Unlock()
	go s.serve()
	return s, nil
}

func (f *echoStreamer) last(t *testing.T) *echoStream {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.streams) == 0 {
		t.Fatal("no stream was opened")
	}
	return f.streams[len(f.streams)-1]
}

type echoFrame struct {
	msg []byte
	end bool
}

type echoStream struct {
	ctx context.Context
	ev  engine.GRPCStreamEvents
	in  chan echoFrame

	mu                    sync.Mutex
	sent                  []string
	halfClosed, cancelled bool
}

func (s *echoStream) Send(msg []byte, end bool) error {
	s.mu.Lock()
	s.sent = append(s.sent, string(msg))
	s.mu.Unlock()
	s.in <- echoFrame{msg: msg, end: end}
	return nil
}

func (s *echoStream) CloseSend() error {
	s.mu.Lock()
	s.halfClosed = true
	s.mu.Unlock()
	s.in <- echoFrame{end: true}
	return nil
}

func (s *echoStream) Cancel() {
	s.mu.Lock()
	s.cancelled = true
	s.mu.Unlock()
}

func (s *echoStream) serve() {
	first := true
	for {
		select {
		case <-s.ctx.Done():
			return
		case f := <-s.in:
			s.mu.Lock()
			cancelled := s.cancelled
			s.mu.Unlock()
			if cancelled {
				return
			}
			if first {
				s.ev.InitialMetadata(headers("x-md", "hello"))
				first = false
			}
			if f.msg != nil {
				s.ev.Message(append([]byte("echo:"), f.msg...))
			}
			if f.end {
				s.ev.TrailingMetadata(headers("x-md", "bye"))
				s.ev.Close(0, "")
				return
			}
		}
	}
}

func grpcPlugin(t *testing.T, e *engine.Engine) *engine.Plugin {
	t.Helper()
	mod, err := e.Compile(context.Background(), cFixture(t, "c-grpc"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.NewPlugin(context.Background(), engine.PluginConfig{Module: mod, Name: "grpc", VMID: "grpc"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close(context.Background()) })
	return p
}

func request(t *testing.T, p *engine.Plugin, path string) {
	t.Helper()
	s := stream(t, p, engine.StreamInfo{})
	defer s.Done()
	req := headers(":path", path)
	if a := s.OnRequestHeaders(&req, true); a != abi.ActionContinue {
		t.Fatalf("%s: action %v err %v", path, a, s.Err())
	}
}

func guestLog(e *engine.Engine) string {
	b, _, _ := e.SharedData("grpc", "log")
	return strings.TrimSpace(string(b))
}

func TestGRPCStream(t *testing.T) {
	f := &echoStreamer{}
	e := newEngine(t, engine.Config{Caller: f})
	p := grpcPlugin(t, e)

	request(t, p, "/stream")
	want := "I:hello M:echo:one M:echo:two T:bye C:0"
	waitFor(t, "the stream's callbacks", func() bool { return guestLog(e) == want })
	s := f.last(t)
	s.mu.Lock()
	sent := strings.Join(s.sent, ",")
	s.mu.Unlock()
	if sent != "one,two" {
		t.Fatalf("module sent %q, want one,two (two from inside proxy_on_grpc_receive)", sent)
	}
}

func TestGRPCStreamHalfCloseAndCancel(t *testing.T) {
	f := &echoStreamer{}
	e := newEngine(t, engine.Config{Caller: f})
	p := grpcPlugin(t, e)

	request(t, p, "/halfclose")
	want := "I:hello M:echo:solo T:bye C:0"
	waitFor(t, "the half-closed stream's answer", func() bool { return guestLog(e) == want })
	hs := f.last(t)
	hs.mu.Lock()
	if !hs.halfClosed || hs.cancelled {
		t.Fatalf("half-closed %v cancelled %v", hs.halfClosed, hs.cancelled)
	}
	hs.mu.Unlock()

	request(t, p, "/cancel")
	s := f.last(t)
	waitFor(t, "the cancel", func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.cancelled })
	select {
	case <-s.ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the cancelled stream's context did not end")
	}
	time.Sleep(50 * time.Millisecond) // anything the double still posts must be dropped
	if got := guestLog(e); got != want {
		t.Fatalf("callbacks after cancel: log %q", got)
	}
}

func TestGRPCStreamUnimplemented(t *testing.T) {
	e := newEngine(t, engine.Config{Caller: &fakeCaller{}}) // HTTP only
	p := grpcPlugin(t, e)
	request(t, p, "/nostream")
	b, _, ok := e.SharedData("grpc", "open-status")
	if !ok || abi.Status(binary.LittleEndian.Uint32(b)) != abi.StatusUnimplemented {
		t.Fatalf("proxy_grpc_stream without a GRPCStreamer: %x %v, want UNIMPLEMENTED", b, ok)
	}
}

// Closing the plugin (its last, so the VM closes) cancels the streams still open.
func TestGRPCStreamEndsWithVM(t *testing.T) {
	f := &echoStreamer{}
	e := newEngine(t, engine.Config{Caller: f})
	p := grpcPlugin(t, e)
	request(t, p, "/open")
	s := f.last(t)
	_ = p.Close(context.Background())
	select {
	case <-s.ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("closing the plugin left its stream open")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.cancelled {
		t.Error("the data plane's stream was not cancelled")
	}
}

// grpcCaller is what a data plane passes as Config.Caller: grpcclient for the gRPC calls, its own HTTP caller.
type grpcCaller struct{ *grpcclient.Client }

func (grpcCaller) HTTPCall(context.Context, string, abi.Headers, []byte, abi.Headers, time.Duration) (*engine.CallResponse, error) {
	return nil, errors.New("no HTTP in this test")
}

// The C module's streams through the engine, grpcclient and a real gRPC server on loopback.
func TestGRPCStreamOverLoopback(t *testing.T) {
	cc, err := grpc.NewClient(grpcclienttest.EchoServer(t), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	client := grpcclient.New(grpcclient.ConnsFunc(func(cluster string) (grpc.ClientConnInterface, error) {
		if cluster != "grpc-cluster" {
			return nil, errors.New("unknown cluster " + cluster)
		}
		return cc, nil
	}))
	e := newEngine(t, engine.Config{Caller: grpcCaller{Client: client}})
	p := grpcPlugin(t, e)

	request(t, p, "/stream")
	want := "I:hello M:echo:one M:echo:two T:bye C:0"
	waitFor(t, "the stream's callbacks over loopback", func() bool { return guestLog(e) == want })

	request(t, p, "/halfclose")
	want += " I:hello M:echo:solo T:bye C:0"
	waitFor(t, "the half-closed stream over loopback", func() bool { return guestLog(e) == want })

	request(t, p, "/cancel")
	time.Sleep(100 * time.Millisecond)
	if got := guestLog(e); got != want {
		t.Fatalf("callbacks after cancel: log %q", got)
	}
}
