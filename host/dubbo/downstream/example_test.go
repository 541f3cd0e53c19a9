package downstream_test

import (
	"context"
	"fmt"
	"net"

	"github.com/wasmesh/wasmesh/host/dubbo"
	"github.com/wasmesh/wasmesh/host/dubbo/downstream"
	"github.com/wasmesh/wasmesh/host/dubbo/hessian"
	"github.com/wasmesh/wasmesh/host/dubbo/upstream"
)

// A server that answers every call with its own path, and the multiplexing client calling it: the two halves
// of a Dubbo hop.
func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	srv, err := downstream.New(downstream.Config{}, downstream.HandlerFunc(
		func(_ context.Context, h dubbo.Header, frame []byte) []byte {
			var req dubbo.Request
			if err := dubbo.DecodeRequest(frame[dubbo.HeaderLen:], &req); err != nil {
				return dubbo.AppendErrorResponse(nil, h.ID, dubbo.StatusBadRequest, err.Error())
			}
			answer := hessian.AppendString(nil, "you called "+req.Path())
			return dubbo.AppendResponse(nil, h.ID, req.DubboVersion, dubbo.ResultValue, answer, nil)
		}))
	if err != nil {
		panic(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go func() { _ = srv.Serve(ctx, ln) }()

	client, err := upstream.New(upstream.Config{Addr: ln.Addr().String()})
	if err != nil {
		panic(err)
	}
	go func() { _ = client.Start(ctx) }()

	call := dubbo.Request{DubboVersion: "2.0.2", Service: "org.example.Echo", Method: "echo"}
	resp, err := client.Do(ctx, call.AppendFrame(nil, 42, dubbo.FlagRequest|dubbo.FlagTwoWay))
	if err != nil {
		panic(err)
	}
	h, _ := dubbo.ParseHeader(resp, 0)
	var r dubbo.Response
	if err := dubbo.DecodeResponse(h, resp[dubbo.HeaderLen:], &r); err != nil {
		panic(err)
	}
	text, _, _ := hessian.String(r.Value, 0)
	fmt.Println(h.ID, r.Status, string(text))
	// Output: 42 20 you called /org.example.Echo/echo
}
