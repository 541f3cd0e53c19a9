package main

import (
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

type tcpContext struct{ types.DefaultTcpContext }

func (*tcpContext) OnDownstreamData(dataSize int, endOfStream bool) types.Action {
	data, err := proxywasm.GetDownstreamData(0, dataSize)
	if err == nil && len(data) > 0 && data[0] == 'Q' {
		_ = proxywasm.CloseDownstream()
		return types.ActionPause
	}
	return types.ActionContinue
}
