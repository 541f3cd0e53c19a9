package engine_test

import (
	"context"
	"fmt"

	"github.com/wasmesh/wasmesh/host/abi"
	"github.com/wasmesh/wasmesh/host/engine"
)

// A data plane's view: compile, start a plugin, run one request through it.
func Example() {
	ctx := context.Background()
	eng, err := engine.New(engine.Config{})
	if err != nil {
		panic(err)
	}
	defer eng.Close(ctx)

	mod, err := eng.Compile(ctx, rawHeadersFilter()) // any proxy-wasm module's bytes
	if err != nil {
		panic(err)
	}
	p, err := eng.NewPlugin(ctx, engine.PluginConfig{Module: mod, Name: "example", FailStrategy: engine.FailClose})
	if err != nil {
		panic(err) // *engine.Error: errors.Is(err, engine.ErrConfigure) etc.
	}
	defer p.Close(ctx)

	s, err := p.NewHTTPStream(ctx, engine.StreamInfo{})
	if err != nil {
		panic(err)
	}
	defer s.Done()
	hdrs := abi.Headers{{Key: ":path", Value: "/"}, {Key: ":method", Value: "GET"}}
	action := s.OnRequestHeaders(&hdrs, true)
	v, _ := hdrs.Get("x-wasm")
	fmt.Println(action == abi.ActionContinue, v, s.LocalResponse() == nil)
	// Output: true seen true
}
