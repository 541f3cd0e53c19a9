package engine

import (
	"context"
	"testing"

	"github.com/wasmesh/wasmesh/host/abi"
)

// FuzzHostMethods drives the engine's side of the host functions (abi.Host on a VM) with guest-chosen enums,
// offsets, lengths, keys and property paths, in stream and root contexts. abi's FuzzHostFunctions covers the
// pointer decoding; this covers what the decoded values do to streams, buffers and shared state.
func FuzzHostMethods(f *testing.F) {
	f.Add(uint8(0), uint32(0), uint32(5), []byte("key"), []byte("value"))
	f.Add(uint8(1), uint32(0xffffffff), uint32(0xffffffff), []byte{}, []byte("x"))
	f.Add(uint8(9), uint32(3), uint32(1), []byte("request\x00path"), []byte{})
	f.Add(uint8(14), uint32(7), uint32(2), []byte("\x00\x00"), []byte("v"))
	e, err := New(Config{})
	if err != nil {
		f.Fatal(err)
	}
	g := &vmGroup{eng: e, key: groupKey{vmID: "fuzz"}, shared: e.sharedFor("fuzz"), vmConfig: []byte("vm-config"), mod: &Module{}}
	pc := PluginConfig{Name: "fuzz", RootID: "r", Configuration: []byte("config")}
	p := &Plugin{eng: e, cfg: pc, g: g, log: e.log, wake: make(chan struct{}, 1), ids: newPluginIDs(pc)}
	f.Fuzz(func(t *testing.T, op uint8, a, b uint32, x, y []byte) {
		v := &vm{g: g, eng: e, contexts: map[uint32]*ctxState{}, pendingGRPC: map[uint32]context.CancelFunc{}}
		root := &ctxState{id: 1, plugin: p}
		root.root = root
		s := &HTTPStream{}
		s.owner.http = s
		s.p = p
		s.resume = make(chan struct{}, 1)
		reqH, respH := abi.Headers{{Key: ":path", Value: "/"}, {Key: "k", Value: "v"}}, abi.Headers{{Key: ":status", Value: "200"}}
		reqBody, respBody := []byte("request body"), []byte{}
		s.maps[abi.MapHTTPRequestHeaders], s.maps[abi.MapHTTPResponseHeaders] = &reqH, &respH
		s.reqBody, s.respBody, s.lent = &reqBody, &respBody, true
		s.cs = ctxState{id: 2, plugin: p, root: root, stream: &s.streamCore}
		v.contexts[1], v.contexts[2] = root, &s.cs
		v.cur = &s.cs
		if op&0x80 != 0 {
			v.cur = root
		}
		bt, mt := abi.BufferType(a%10), abi.MapType(a%9)
		switch op % 20 {
		case 0:
			got, st := v.GetBufferBytes(bt, a, b)
			if st == abi.StatusOK && uint64(len(got)) > uint64(b) {
				t.Fatalf("read %d bytes, asked for at most %d", len(got), b)
			}
		case 1:
			before := len(reqBody)
			if v.SetBufferBytes(bt, a, b, x) == abi.StatusOK && bt == abi.BufferHTTPRequestBody && len(reqBody) > before+len(x) {
				t.Fatalf("body grew by more than the data")
			}
		case 2:
			v.GetBufferStatus(bt)
		case 3:
			v.GetHeaderMapValue(mt, x)
		case 4:
			v.AddHeaderMapValue(mt, x, y)
		case 5:
			v.ReplaceHeaderMapValue(mt, x, y)
		case 6:
			v.RemoveHeaderMapValue(mt, x)
		case 7:
			if h, err := abi.DecodeMap(x); err == nil {
				v.SetHeaderMapPairs(mt, h)
			}
		case 8:
			v.GetHeaderMapPairs(mt)
			v.GetHeaderMapSize(mt)
		case 9:
			v.GetProperty(x)
		case 10:
			if v.SetProperty(x, y) == abi.StatusOK {
				if _, st := v.GetProperty(x); st != abi.StatusOK {
					t.Fatalf("property %q set but not found", x)
				}
			}
		case 11:
			v.SetSharedData(x, y, b)
			v.GetSharedData(x)
		case 12:
			id, _ := v.DefineMetric(abi.MetricType(a%4), x)
			v.IncrementMetric(id, int64(b))
			v.RecordMetric(id^b, uint64(a))
			v.GetMetric(id)
		case 13:
			v.SetEffectiveContext(a)
		case 14:
			v.ContinueStream(abi.StreamType(a))
			v.CloseStream(abi.StreamType(b))
		case 15:
			v.SendLocalResponse(a, x, y, abi.Headers{{Key: "k", Value: string(x)}}, int32(b))
		case 16:
			v.SetTickPeriodMilliseconds(a)
		case 17:
			v.GetStatus()
			v.CallForeignFunction(x, y)
		case 18:
			v.Log(abi.LogLevel(a), x)
			v.GetLogLevel()
		case 19:
			v.GRPCCancel(a)
			v.GRPCClose(b)
		}
	})
}

// The header and property paths a filter uses on every request allocate nothing on the host.
func TestHostPathsDoNotAllocate(t *testing.T) {
	e, err := New(Config{Properties: PropertyMap{"node.id": []byte("n1")}})
	if err != nil {
		t.Fatal(err)
	}
	g := &vmGroup{eng: e, key: groupKey{vmID: "a"}, shared: e.sharedFor("a"), mod: &Module{}}
	pc := PluginConfig{Name: "p", RootID: "r", VMID: "a"}
	p := &Plugin{eng: e, cfg: pc, g: g, log: e.log, ids: newPluginIDs(pc)}
	v := &vm{g: g, eng: e, contexts: map[uint32]*ctxState{}}
	root := &ctxState{id: 1, plugin: p}
	root.root = root
	s := &HTTPStream{}
	s.owner.http = s
	s.p = p
	s.info = StreamInfo{Properties: PropertyMap{"source.address": []byte("10.0.0.1:1")}}
	req := abi.Headers{{Key: ":path", Value: "/"}, {Key: "user-agent", Value: "x"}}
	s.maps[abi.MapHTTPRequestHeaders], s.lent = &req, true
	s.cs = ctxState{id: 2, plugin: p, root: root, stream: &s.streamCore}
	v.cur = &s.cs
	rootID, srcAddr, nodeID := []byte("plugin_root_id"), []byte("source\x00address"), []byte("node\x00id")
	ua, path, slash := []byte("user-agent"), []byte(":path"), []byte("/")
	for _, tc := range []struct {
		name string
		fn   func()
	}{
		{"plugin_root_id", func() { v.GetProperty(rootID) }},
		{"source.address", func() { v.GetProperty(srcAddr) }},
		{"node.id", func() { v.GetProperty(nodeID) }},
		{"header value", func() { v.GetHeaderMapValue(abi.MapHTTPRequestHeaders, ua) }},
		{"header size", func() { v.GetHeaderMapSize(abi.MapHTTPRequestHeaders) }},
		{"replace header", func() { v.ReplaceHeaderMapValue(abi.MapHTTPRequestHeaders, path, slash) }},
	} {
		tc.fn() // grow reusable buffers first
		if n := testing.AllocsPerRun(100, tc.fn); n != 0 {
			t.Errorf("%s: %.1f allocations per call", tc.name, n)
		}
	}
}
