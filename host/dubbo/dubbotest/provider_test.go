package dubbotest

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/host/dubbo"
)

// startProvider serves a provider on a loopback port until the test ends.
func startProvider(t testing.TB, cfg ProviderConfig) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- NewProvider(cfg).Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("provider stopped with %v", err)
		}
	})
	return ln.Addr().String()
}

func TestProviderAnswersEveryMethod(t *testing.T) {
	addr := startProvider(t, ProviderConfig{Label: "v2", ServiceVersion: "1.0.0"})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	inv := func(method string, args ...any) Invocation {
		return Invocation{Service: GreetingService, Version: "1.0.0", Method: method, Args: args, Attachments: map[string]string{"user": "alice"}}
	}
	tests := []struct {
		name       string
		inv        Invocation
		want       any
		wantStatus dubbo.Status // for StatusError
	}{
		{"greet", inv("greet", "Alice"), "hello Alice from v2", 0},
		{"sayHello", inv("sayHello", "Alice"), "hello Alice from v2", 0},
		{"sayGoodbye", inv("sayGoodbye", "Alice"), "goodbye Alice from v2", 0},
		{"the example service name", Invocation{Service: ExampleGreetingService, Version: "1.0.0", Method: "sayGoodbye", Args: []any{"Bo"}}, "goodbye Bo from v2", 0},
		{"sum", inv("sum", int32(2), int32(40)), int32(42), 0},
		{"attachment", inv("attachment", "user"), "alice", 0},
		{"missing attachment is null", inv("attachment", "nope"), nil, 0},
		{"sleep", inv("sleep", int32(5)), "slept 5ms", 0},
		{"exception", inv("fail", "boom"), nil, dubbo.StatusOK},
		{"unknown method", inv("nope"), nil, dubbo.StatusOK},
		{"wrong version", Invocation{Service: GreetingService, Version: "9", Method: "greet", Args: []any{"x"}}, nil, dubbo.StatusServiceNotFound},
		{"unknown service", Invocation{Service: "org.example.Nope", Method: "greet", Args: []any{"x"}}, nil, dubbo.StatusServiceNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := c.Call(ctx, tt.inv)
			if tt.wantStatus != 0 {
				var se *StatusError
				if !errors.As(err, &se) || se.Status != tt.wantStatus {
					t.Fatalf("Call = %+v, %v; want a status %d error", res, err, tt.wantStatus)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Value != tt.want || res.Attachments["provider"] != "v2" {
				t.Fatalf("Call = %+v, want value %v", res, tt.want)
			}
		})
	}
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("heartbeat: %v", err)
	}
}

func TestProviderClosesOnGarbage(t *testing.T) {
	addr := startProvider(t, ProviderConfig{})
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := nc.Read(make([]byte, 16)); err == nil {
		t.Fatalf("provider answered %d bytes to garbage instead of closing", n)
	}
}
