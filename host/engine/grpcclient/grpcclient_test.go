package grpcclient_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/wasmesh/wasmesh/host/abi"
	"github.com/wasmesh/wasmesh/host/engine/grpcclient"
	"github.com/wasmesh/wasmesh/host/engine/grpcclient/grpcclienttest"
)

func dialer(t testing.TB, addrs map[string]string) grpcclient.Conns {
	t.Helper()
	conns := map[string]*grpc.ClientConn{}
	for cluster, addr := range addrs {
		cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cc.Close() })
		conns[cluster] = cc
	}
	return grpcclient.ConnsFunc(func(cluster string) (grpc.ClientConnInterface, error) {
		if cc, ok := conns[cluster]; ok {
			return cc, nil
		}
		return nil, errors.New("unknown cluster")
	})
}

// recorder is engine.GRPCStreamEvents writing one line per event.
type recorder struct {
	mu     sync.Mutex
	events []string
	closed chan struct{}
}

func newRecorder() *recorder { return &recorder{closed: make(chan struct{})} }

func (r *recorder) add(s string) {
	r.mu.Lock()
	r.events = append(r.events, s)
	r.mu.Unlock()
}

func (r *recorder) InitialMetadata(md abi.Headers) {
	v, _ := md.Get("x-md")
	r.add("I:" + v)
}
func (r *recorder) Message(msg []byte) { r.add("M:" + string(msg)) }
func (r *recorder) TrailingMetadata(md abi.Headers) {
	v, _ := md.Get("x-md")
	r.add("T:" + v)
}
func (r *recorder) Close(code uint32, msg string) {
	r.add("C:" + codes.Code(code).String())
	close(r.closed)
}

func (r *recorder) wait(t *testing.T) string {
	t.Helper()
	select {
	case <-r.closed:
	case <-time.After(10 * time.Second):
		t.Fatalf("no Close; events so far %v", r.String())
	}
	return r.String()
}

func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.events, " ")
}

func TestStream(t *testing.T) {
	c := grpcclient.New(dialer(t, map[string]string{"echo": grpcclienttest.EchoServer(t)}))
	ev := newRecorder()
	s, err := c.GRPCStream(context.Background(), "echo", "test.Echo", "Chat", abi.Headers{{Key: "x-in", Value: "1"}}, ev)
	if err != nil {
		t.Fatal(err)
	}
	// Queued before the stream is even open: Send never waits for the network.
	if err := s.Send([]byte("one"), false); err != nil {
		t.Fatal(err)
	}
	if err := s.Send([]byte("two"), true); err != nil {
		t.Fatal(err)
	}
	if err := s.Send([]byte("three"), false); err == nil {
		t.Error("Send after end of stream was accepted")
	}
	if got, want := ev.wait(t), "I:hello M:echo:one M:echo:two T:bye C:OK"; got != want {
		t.Fatalf("events %q, want %q", got, want)
	}
}

func TestStreamHalfCloseAndCancel(t *testing.T) {
	c := grpcclient.New(dialer(t, map[string]string{"echo": grpcclienttest.EchoServer(t)}))
	ev := newRecorder()
	s, _ := c.GRPCStream(context.Background(), "echo", "test.Echo", "Chat", nil, ev)
	_ = s.Send([]byte("solo"), false)
	_ = s.CloseSend()
	if got, want := ev.wait(t), "I:hello M:echo:solo T:bye C:OK"; got != want {
		t.Fatalf("half-close: events %q, want %q", got, want)
	}

	ev = newRecorder()
	s, _ = c.GRPCStream(context.Background(), "echo", "test.Echo", "Chat", nil, ev)
	_ = s.Send([]byte("x"), false)
	s.Cancel()
	time.Sleep(100 * time.Millisecond)
	if got := ev.String(); strings.Contains(got, "C:") {
		t.Fatalf("a cancelled stream reported %q", got)
	}
}

func TestStreamErrors(t *testing.T) {
	lis, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := lis.Addr().String()
	_ = lis.Close() // nothing listens here
	c := grpcclient.New(dialer(t, map[string]string{"echo": grpcclienttest.EchoServer(t), "dead": dead}))

	ev := newRecorder()
	s, _ := c.GRPCStream(context.Background(), "echo", "test.Echo", "Fail", nil, ev)
	_ = s.CloseSend()
	if got := ev.wait(t); !strings.HasSuffix(got, "C:PermissionDenied") {
		t.Fatalf("server error: events %q", got)
	}

	ev = newRecorder()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, _ = c.GRPCStream(ctx, "dead", "test.Echo", "Chat", nil, ev)
	_ = s.Send([]byte("x"), true)
	if got := ev.wait(t); got != "C:Unavailable" {
		t.Fatalf("unreachable cluster: events %q", got)
	}

	if _, err := c.GRPCStream(context.Background(), "nowhere", "s", "m", nil, newRecorder()); err == nil {
		t.Error("unknown cluster accepted")
	}
}

func TestUnaryCall(t *testing.T) {
	c := grpcclient.New(dialer(t, map[string]string{"echo": grpcclienttest.EchoServer(t)}))
	resp, err := c.GRPCCall(context.Background(), "echo", "test.Echo", "Say", nil, []byte("hi"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 0 || string(resp.Message) != "echo:hi" {
		t.Fatalf("response %+v", resp)
	}
	if v, _ := resp.InitialMetadata.Get("x-md"); v != "hello" {
		t.Errorf("initial metadata %v", resp.InitialMetadata)
	}
	if v, _ := resp.TrailingMetadata.Get("x-md"); v != "bye" {
		t.Errorf("trailing metadata %v", resp.TrailingMetadata)
	}
	resp, err = c.GRPCCall(context.Background(), "echo", "test.Echo", "Fail", nil, nil, time.Second)
	if err != nil || codes.Code(resp.Status) != codes.PermissionDenied || resp.StatusMessage != "no" {
		t.Fatalf("failing call: %+v %v", resp, err)
	}
}
