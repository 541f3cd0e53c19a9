// A filter that makes one unary gRPC call (proxy_grpc_call) per request and answers the request with what came
// back, for the data plane's tests of modules' gRPC calls. proxy-wasm-go-sdk v0.24.0 has no gRPC calls, so the
// import and the four receive callbacks are declared here; the SDK runs everything else.
//
// A request for /<cluster>/<method>/<message> calls method <method> of service echo.Echo on cluster <cluster>
// with metadata x-in: <message> and the bytes of <message>, timeout 2s. The reply is 200 with the body
//
//	initial=<x-md>,<x-in> message=<message> trailing=<x-md> status=<gRPC code>
//
// or 500 "proxy_grpc_call: status <n>" when the host refuses the call.
package main

import (
	"encoding/binary"
	"strconv"
	"strings"
	"unsafe"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

//go:wasmimport env proxy_grpc_call
func proxyGrpcCall(upstream *byte, upstreamSize uint32, service *byte, serviceSize uint32, method *byte, methodSize uint32,
	metadata *byte, metadataSize uint32, message *byte, messageSize uint32, timeoutMillis uint32, token *uint32) uint32

//go:wasmimport env proxy_get_header_map_value
func proxyGetHeaderMapValue(mapType uint32, key *byte, keySize uint32, retData *uint32, retSize *uint32) uint32

//go:wasmimport env proxy_get_buffer_bytes
func proxyGetBufferBytes(bufferType uint32, start uint32, maxSize uint32, retData *uint32, retSize *uint32) uint32

const (
	mapGrpcInitialMetadata  = 4
	mapGrpcTrailingMetadata = 5
	bufferGrpcReceive       = 5
)

// Out-parameters live in globals: the host may call back into the guest (allocation) while they are pending,
// which can move a goroutine stack.
var retToken, retData, retSize uint32

// calls maps a call's token to the stream waiting for it and what has arrived so far.
var calls = map[uint32]*call{}

type call struct {
	stream                     uint32
	initial, message, trailing string
}

func main() { proxywasm.SetVMContext(&vmContext{}) }

type vmContext struct{ types.DefaultVMContext }

func (*vmContext) NewPluginContext(uint32) types.PluginContext { return &pluginContext{} }

type pluginContext struct{ types.DefaultPluginContext }

func (*pluginContext) NewHttpContext(id uint32) types.HttpContext { return &httpContext{id: id} }

type httpContext struct {
	types.DefaultHttpContext
	id uint32
}

func ptr(s string) *byte {
	if s == "" {
		return nil
	}
	return unsafe.StringData(s)
}

// serialize writes a header map in the proxy-wasm layout: count, (name size, value size) pairs, then each name
// and value followed by a NUL.
func serialize(pairs [][2]string) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(pairs)))
	for _, p := range pairs {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(p[0])))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(p[1])))
	}
	for _, p := range pairs {
		b = append(append(append(append(b, p[0]...), 0), p[1]...), 0)
	}
	return b
}

func (h *httpContext) OnHttpRequestHeaders(int, bool) types.Action {
	path, err := proxywasm.GetHttpRequestHeader(":path")
	if err != nil {
		return types.ActionContinue
	}
	parts := strings.SplitN(strings.TrimPrefix(path, "/"), "/", 3)
	if len(parts) != 3 {
		return types.ActionContinue
	}
	cluster, method, msg := parts[0], parts[1], parts[2]
	md := serialize([][2]string{{"x-in", msg}})
	service := "echo.Echo"
	st := proxyGrpcCall(ptr(cluster), uint32(len(cluster)), ptr(service), uint32(len(service)), ptr(method), uint32(len(method)),
		&md[0], uint32(len(md)), ptr(msg), uint32(len(msg)), 2000, &retToken)
	if st != 0 {
		proxywasm.SendHttpResponse(500, nil, []byte("proxy_grpc_call: status "+strconv.Itoa(int(st))), -1)
		return types.ActionPause
	}
	calls[retToken] = &call{stream: h.id}
	return types.ActionPause
}

func hostBytes() string {
	if retSize == 0 {
		return ""
	}
	return string(unsafe.Slice((*byte)(unsafe.Pointer(uintptr(retData))), retSize))
}

func mapValue(mapType uint32, key string) string {
	if proxyGetHeaderMapValue(mapType, ptr(key), uint32(len(key)), &retData, &retSize) != 0 {
		return ""
	}
	return hostBytes()
}

//go:wasmexport proxy_on_grpc_receive_initial_metadata
func onInitialMetadata(_, token, _ uint32) {
	if c := calls[token]; c != nil {
		c.initial = mapValue(mapGrpcInitialMetadata, "x-md") + "," + mapValue(mapGrpcInitialMetadata, "x-in")
	}
}

//go:wasmexport proxy_on_grpc_receive
func onReceive(_, token, size uint32) {
	c := calls[token]
	if c == nil || proxyGetBufferBytes(bufferGrpcReceive, 0, size, &retData, &retSize) != 0 {
		return
	}
	c.message = hostBytes()
}

//go:wasmexport proxy_on_grpc_receive_trailing_metadata
func onTrailingMetadata(_, token, _ uint32) {
	if c := calls[token]; c != nil {
		c.trailing = mapValue(mapGrpcTrailingMetadata, "x-md")
	}
}

//go:wasmexport proxy_on_grpc_close
func onClose(_, token, code uint32) {
	c := calls[token]
	if c == nil {
		return
	}
	delete(calls, token)
	body := "initial=" + c.initial + " message=" + c.message + " trailing=" + c.trailing + " status=" + strconv.Itoa(int(code))
	if err := proxywasm.SetEffectiveContext(c.stream); err != nil {
		return
	}
	proxywasm.SendHttpResponse(200, [][2]string{{"content-type", "text/plain"}}, []byte(body), -1)
}
