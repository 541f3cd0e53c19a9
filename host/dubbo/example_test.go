package dubbo_test

import (
	"bytes"
	"fmt"

	"github.com/wasmesh/wasmesh/host/dubbo"
	"github.com/wasmesh/wasmesh/host/dubbo/hessian"
)

// A request goes from frame to header pairs, a filter changes one attachment, and the frame is re-encoded with
// the arguments copied as they were.
func Example() {
	client := dubbo.Request{
		DubboVersion: "2.0.2",
		Service:      "org.apache.dubbo.samples.GreetingService",
		Version:      "1.0.0",
		Method:       "greet",
		ParamTypes:   "Ljava/lang/String;",
		Args:         hessian.AppendString(nil, "Alice"),
		Attachments:  []dubbo.Attachment{{Key: "group", Value: "blue"}, {Key: "traceid", Value: "t-1"}},
	}
	wire := client.AppendFrame(nil, 7, dubbo.FlagRequest|dubbo.FlagTwoWay)

	h, frame, err := dubbo.ReadFrame(bytes.NewReader(wire), nil, dubbo.DefaultMaxBody)
	if err != nil {
		panic(err)
	}
	var req dubbo.Request
	if err := dubbo.DecodeRequest(frame[dubbo.HeaderLen:], &req); err != nil {
		panic(err)
	}
	hs := req.AppendHeaders(nil)
	for _, kv := range hs {
		fmt.Printf("%s: %s\n", kv[0], kv[1])
	}

	hs = append(hs, [2]string{"x-user", "alice"}) // what an auth filter might add
	if err := req.ApplyHeaders(hs); err != nil {
		panic(err)
	}
	out := req.AppendFrame(nil, h.ID, h.Flags)
	var again dubbo.Request
	_ = dubbo.DecodeRequest(out[dubbo.HeaderLen:], &again)
	user, _ := again.Attachment("x-user")
	fmt.Println("upstream sees x-user =", user, "and the same args:", bytes.Equal(again.Args, req.Args))
	// Output:
	// :path: /org.apache.dubbo.samples.GreetingService/greet
	// :method: DUBBO
	// x-dubbo-service: org.apache.dubbo.samples.GreetingService
	// x-dubbo-method: greet
	// x-dubbo-version: 1.0.0
	// x-dubbo-group: blue
	// x-dubbo-protocol-version: 2.0.2
	// group: blue
	// traceid: t-1
	// upstream sees x-user = alice and the same args: true
}
