package dubbo

import (
	"bufio"
	"bytes"
	"errors"
	"maps"
	"reflect"
	"slices"
	"testing"

	h2 "github.com/apache/dubbo-go-hessian2"

	"github.com/wasmesh/wasmesh/host/dubbo/hessian"
)

// oracleRequest builds a request frame with dubbo-go-hessian2, the independent implementation.
func oracleRequest(t testing.TB, svc h2.Service, id int64, args []any, att map[string]string) []byte {
	t.Helper()
	codec := h2.NewHessianCodec(nil)
	frame, err := codec.Write(svc, h2.DubboHeader{SerialID: 2, Type: h2.PackageRequest_TwoWay, ID: id}, h2.NewRequest(args, att))
	if err != nil {
		t.Fatalf("oracle encode: %v", err)
	}
	return frame
}

// oracleDecodeRequest decodes a request frame with dubbo-go-hessian2.
func oracleDecodeRequest(t testing.TB, frame []byte) (h2.DubboHeader, []any) {
	t.Helper()
	codec := h2.NewHessianCodec(bufio.NewReaderSize(bytes.NewReader(frame), len(frame)+16))
	var h h2.DubboHeader
	if err := codec.ReadHeader(&h); err != nil {
		t.Fatalf("oracle read header: %v", err)
	}
	out := make([]any, 7)
	if err := codec.ReadBody(out); err != nil {
		t.Fatalf("oracle read body: %v", err)
	}
	return h, out
}

var greetService = h2.Service{Path: "org.apache.dubbo.samples.GreetingService", Interface: "org.apache.dubbo.samples.GreetingService",
	Version: "1.0.0", Group: "blue", Method: "greet"}

// typicalRequest is the benchmark shape: 2 arguments and 5 attachments (path, interface, version, group and
// one of the caller's own).
func typicalRequest(t testing.TB) []byte {
	return oracleRequest(t, greetService, 7, []any{"Alice", int32(42)}, map[string]string{"traceid": "abc-123"})
}

func TestDecodeOracleRequest(t *testing.T) {
	frame := typicalRequest(t)
	h, err := ParseHeader(frame, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !h.IsRequest() || !h.IsTwoWay() || h.IsEvent() || h.ID != 7 || h.Serialization() != 2 || h.BodyLen != len(frame)-HeaderLen {
		t.Fatalf("header = %+v", h)
	}
	var r Request
	if err := DecodeRequest(frame[HeaderLen:], &r); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"path": greetService.Path, "interface": greetService.Path, "version": "1.0.0", "group": "blue", "traceid": "abc-123"}
	if r.DubboVersion != "2.0.2" || r.Service != greetService.Path || r.Version != "1.0.0" || r.Method != "greet" ||
		r.ParamTypes != "Ljava/lang/String;I" || !maps.Equal(attMap(r.Attachments), want) {
		t.Fatalf("decoded %+v", r)
	}
	// The argument bytes are exactly the two values.
	wantArgs := h2.NewEncoder()
	_ = wantArgs.Encode("Alice")
	_ = wantArgs.Encode(int32(42))
	if !bytes.Equal(r.Args, wantArgs.Buffer()) {
		t.Fatalf("args = % x, want % x", r.Args, wantArgs.Buffer())
	}
}

func attMap(as []Attachment) map[string]string {
	m := map[string]string{}
	for _, a := range as {
		m[a.Key] = a.Value
	}
	return m
}

func headerMap(hs [][2]string) map[string]string {
	m := map[string]string{}
	for _, h := range hs {
		m[h[0]] = h[1]
	}
	return m
}

func TestAppendHeaders(t *testing.T) {
	var r Request
	if err := DecodeRequest(typicalRequest(t)[HeaderLen:], &r); err != nil {
		t.Fatal(err)
	}
	got := headerMap(r.AppendHeaders(nil))
	want := map[string]string{
		":path": "/org.apache.dubbo.samples.GreetingService/greet", ":method": "DUBBO",
		"x-dubbo-service": greetService.Path, "x-dubbo-method": "greet", "x-dubbo-version": "1.0.0",
		"x-dubbo-group": "blue", "x-dubbo-protocol-version": "2.0.2",
		"path": greetService.Path, "interface": greetService.Path, "version": "1.0.0", "group": "blue", "traceid": "abc-123",
	}
	if !maps.Equal(got, want) {
		t.Fatalf("headers\n got %v\nwant %v", got, want)
	}
}

// edit returns hs with name set to value ("" value and del true removes it).
func edit(hs [][2]string, name, value string, del bool) [][2]string {
	out := [][2]string{}
	found := false
	for _, h := range hs {
		if h[0] == name {
			found = true
			if del {
				continue
			}
			h[1] = value
		}
		out = append(out, h)
	}
	if !found && !del {
		out = append(out, [2]string{name, value})
	}
	return out
}

func TestApplyHeadersThenReencode(t *testing.T) {
	base := map[string]string{"path": greetService.Path, "interface": greetService.Path, "version": "1.0.0", "group": "blue", "traceid": "abc-123"}
	with := func(changes map[string]string, drop ...string) map[string]string {
		m := maps.Clone(base)
		maps.Copy(m, changes)
		for _, d := range drop {
			delete(m, d)
		}
		return m
	}
	tests := []struct {
		name            string
		change          func([][2]string) [][2]string
		service, method string
		version         string
		wantAttachments map[string]string
		wantErr         bool
	}{
		{"unchanged", func(h [][2]string) [][2]string { return h }, greetService.Path, "greet", "1.0.0", base, false},
		{"add attachment", func(h [][2]string) [][2]string { return edit(h, "x-user", "alice", false) },
			greetService.Path, "greet", "1.0.0", with(map[string]string{"x-user": "alice"}), false},
		{"replace attachment", func(h [][2]string) [][2]string { return edit(h, "traceid", "zzz", false) },
			greetService.Path, "greet", "1.0.0", with(map[string]string{"traceid": "zzz"}), false},
		{"remove attachment", func(h [][2]string) [][2]string { return edit(h, "traceid", "", true) },
			greetService.Path, "greet", "1.0.0", with(nil, "traceid"), false},
		{"route to v2 by x-dubbo-version", func(h [][2]string) [][2]string { return edit(h, HeaderVersion, "2.0.0", false) },
			greetService.Path, "greet", "2.0.0", with(map[string]string{"version": "2.0.0"}), false},
		{"change group by x-dubbo-group", func(h [][2]string) [][2]string { return edit(h, HeaderGroup, "green", false) },
			greetService.Path, "greet", "1.0.0", with(map[string]string{"group": "green"}), false},
		{"change group by its attachment", func(h [][2]string) [][2]string { return edit(h, "group", "red", false) },
			greetService.Path, "greet", "1.0.0", with(map[string]string{"group": "red"}), false},
		{"rename service by x-dubbo-service", func(h [][2]string) [][2]string { return edit(h, HeaderService, "org.example.Other", false) },
			"org.example.Other", "greet", "1.0.0", with(map[string]string{"path": "org.example.Other", "interface": "org.example.Other"}), false},
		{"rename by :path", func(h [][2]string) [][2]string { return edit(h, HeaderPath, "/org.example.Other/hello", false) },
			"org.example.Other", "hello", "1.0.0", with(map[string]string{"path": "org.example.Other", "interface": "org.example.Other"}), false},
		{"reserved names ignore case", func(h [][2]string) [][2]string { return append(h, [2]string{"X-Dubbo-Version", "3.0.0"}) },
			greetService.Path, "greet", "3.0.0", with(map[string]string{"version": "3.0.0"}), false},
		{"pseudo headers are not attachments", func(h [][2]string) [][2]string { return edit(h, ":authority", "x", false) },
			greetService.Path, "greet", "1.0.0", base, false},
		{"bad :path", func(h [][2]string) [][2]string { return edit(h, HeaderPath, "nope", false) },
			greetService.Path, "greet", "1.0.0", base, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Request
			if err := DecodeRequest(typicalRequest(t)[HeaderLen:], &r); err != nil {
				t.Fatal(err)
			}
			err := r.ApplyHeaders(tt.change(r.AppendHeaders(nil)))
			if (err != nil) != tt.wantErr {
				t.Fatalf("ApplyHeaders error = %v, want error %v", err, tt.wantErr)
			}
			frame := r.AppendFrame(nil, 99, FlagRequest|FlagTwoWay)
			h, out := oracleDecodeRequest(t, frame)
			if h.ID != 99 {
				t.Errorf("id = %d", h.ID)
			}
			if out[1] != tt.service || out[2] != tt.version || out[3] != tt.method {
				t.Errorf("oracle read service %v version %v method %v", out[1], out[2], out[3])
			}
			if args := out[5].([]any); len(args) != 2 || args[0] != "Alice" || args[1] != int32(42) {
				t.Errorf("oracle read args %v", args)
			}
			got := maps.Clone(out[6].(map[string]string))
			delete(got, "dubbo") // the oracle adds the protocol version under this key
			if !maps.Equal(got, tt.wantAttachments) {
				t.Errorf("attachments\n got %v\nwant %v", got, tt.wantAttachments)
			}
			// The path shown to filters follows the change.
			if r.Path() != "/"+tt.service+"/"+tt.method {
				t.Errorf("Path() = %q", r.Path())
			}
		})
	}
}

// bodyOf encodes values one after the other as a request body.
func bodyOf(t testing.TB, vs ...any) []byte {
	e := h2.NewEncoder()
	for _, v := range vs {
		if err := e.Encode(v); err != nil {
			t.Fatal(err)
		}
	}
	return e.Buffer()
}

func TestNonStringAttachmentsAreKeptVerbatim(t *testing.T) {
	body := bodyOf(t, "2.0.2", "svc", "", "m", "[I", []int32{1, 2},
		map[any]any{"a": "b", "n": int32(5), "l": []any{"x", int64(9)}, int32(3): "int key", HeaderService: "forged", "X-Dubbo-Method": "forged too"})
	var r Request
	if err := DecodeRequest(body, &r); err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(attMap(r.Attachments), map[string]string{"a": "b"}) {
		t.Fatalf("string attachments %v", r.Attachments)
	}
	hs := r.AppendHeaders(nil)
	if m := headerMap(hs); m[HeaderService] != "svc" || m["X-Dubbo-Method"] != "" {
		t.Fatalf("an attachment forged %s: %v", HeaderService, hs)
	}
	hs = edit(hs, "a", "c", false)
	hs = edit(hs, "n", "now a string", false) // a header replaces the non-string value of the same name
	if err := r.ApplyHeaders(hs); err != nil {
		t.Fatal(err)
	}
	dec := h2.NewDecoder(r.AppendBody(nil))
	for i := 0; i < 6; i++ {
		if _, err := dec.Decode(); err != nil {
			t.Fatal(err)
		}
	}
	m, err := dec.Decode()
	if err != nil {
		t.Fatal(err)
	}
	got := m.(map[any]any)
	want := map[any]any{"a": "c", "n": "now a string", int32(3): "int key", HeaderService: "forged", "X-Dubbo-Method": "forged too"}
	if len(got) != 6 || !reflect.DeepEqual(got["l"], []any{"x", int64(9)}) {
		t.Fatalf("map = %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("map[%v] = %v, want %v", k, got[k], v)
		}
	}
}

func TestTypedAttachmentMapAsHessianJSWritesIt(t *testing.T) {
	// hessian.js writes the attachments object as a typed map: 'M', the type, pairs, 'Z'.
	body := bodyOf(t, "2.0.2", "svc", "1.0", "greet", "Ljava/lang/String;", "Bob")
	body = append(body, 'M')
	body = hessian.AppendString(body, "java.util.HashMap")
	for _, kv := range []string{"path", "svc", "group", "g1", "timeout", "3000"} {
		body = hessian.AppendString(body, kv)
	}
	body = append(body, 'Z')
	var r Request
	if err := DecodeRequest(body, &r); err != nil {
		t.Fatal(err)
	}
	if g, _ := r.Attachment("group"); g != "g1" || len(r.Attachments) != 3 {
		t.Fatalf("attachments %v", r.Attachments)
	}
	if err := r.ApplyHeaders(r.AppendHeaders(nil)); err != nil {
		t.Fatal(err)
	}
	// Unchanged headers give back the same bytes, type and all (attachment order is kept).
	if got := r.AppendBody(nil); !bytes.Equal(got, body) {
		t.Fatalf("re-encoded\n% x\nwant\n% x", got, body)
	}
}

func TestDubboxMarkerIsKept(t *testing.T) {
	// dubbo2.js in dubbox mode writes -1 between the method and the parameter types.
	body := bodyOf(t, "2.0.2", "svc", "1.0", "greet", int32(-1), "Ljava/lang/String;", "Bob", map[any]any{"k": "v"})
	var r Request
	if err := DecodeRequest(body, &r); err != nil {
		t.Fatal(err)
	}
	if r.ParamTypes != "Ljava/lang/String;" || len(r.Attachments) != 1 {
		t.Fatalf("decoded %+v", r)
	}
	if got := r.AppendBody(nil); !bytes.Equal(got, body) {
		t.Fatalf("re-encoded\n% x\nwant\n% x", got, body)
	}
}

func TestDecodeRequestErrors(t *testing.T) {
	good := typicalRequest(t)[HeaderLen:]
	tests := []struct {
		name string
		body []byte
	}{
		{"empty", nil},
		{"truncated in strings", good[:10]},
		{"truncated in args", good[:len(good)-120]},
		{"bad descriptor", bodyOf(t, "2.0.2", "s", "", "m", "Q", int32(1))},
		{"unterminated descriptor", bodyOf(t, "2.0.2", "s", "", "m", "Ljava/lang/String", "x")},
		{"fewer args than types", bodyOf(t, "2.0.2", "s", "", "m", "II", int32(1))},
		{"map without end", append(bodyOf(t, "2.0.2", "s", "", "m", ""), 'H', 0x01, 'a', 0x01, 'b')},
		{"attachments not a map", bodyOf(t, "2.0.2", "s", "", "m", "", int32(4))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Request
			err := DecodeRequest(tt.body, &r)
			if KindOf(err) != KindMalformedBody || !errors.Is(err, ErrProtocol) {
				t.Fatalf("err = %v, want a %s protocol error", err, KindMalformedBody)
			}
		})
	}
}

func TestRequestReuseKeepsNoStaleState(t *testing.T) {
	var r Request
	if err := DecodeRequest(typicalRequest(t)[HeaderLen:], &r); err != nil {
		t.Fatal(err)
	}
	small := bodyOf(t, "2.0.2", "a.B", "", "c", "", map[any]any{"k": "v"})
	if err := DecodeRequest(small, &r); err != nil {
		t.Fatal(err)
	}
	if r.Service != "a.B" || len(r.Attachments) != 1 || len(r.Args) != 0 || r.Path() != "/a.B/c" {
		t.Fatalf("reused request = %+v", r)
	}
	if got := r.AppendBody(nil); !bytes.Equal(got, small) {
		t.Fatalf("re-encoded % x, want % x", got, small)
	}
}

func TestCountParams(t *testing.T) {
	for desc, want := range map[string]int{"": 0, "I": 1, "IJZ": 3, "Ljava/lang/String;": 1, "[I[[Ljava/lang/Object;D": 3, "V": 1} {
		if n, ok := countParams([]byte(desc)); !ok || n != want {
			t.Errorf("countParams(%q) = %d, %v; want %d", desc, n, ok, want)
		}
	}
	for _, bad := range []string{"L;", "[", "X", "Ljava"} {
		if _, ok := countParams([]byte(bad)); ok {
			t.Errorf("countParams(%q) accepted", bad)
		}
	}
}

func FuzzDecodeRequest(f *testing.F) {
	f.Add(typicalRequest(f)[HeaderLen:])
	f.Add(bodyOf(f, "2.0.2", "svc", "", "m", "[I", []int32{1, 2}, map[any]any{"a": "b", "n": int32(5)}))
	f.Add(bodyOf(f, "2.0.2", "svc", nil, "m", "", nil))
	f.Fuzz(func(t *testing.T, body []byte) {
		var r Request
		if err := DecodeRequest(body, &r); err != nil {
			if KindOf(err) == "" {
				t.Fatalf("error without a kind: %v", err)
			}
			return
		}
		// Whatever decodes must re-encode into something that decodes to the same request.
		var again Request
		out := r.AppendBody(nil)
		if err := DecodeRequest(out, &again); err != nil {
			t.Fatalf("re-encoded body does not decode: %v", err)
		}
		if again.Service != r.Service || again.Method != r.Method || again.Version != r.Version ||
			!bytes.Equal(again.Args, r.Args) || !slices.Equal(again.Attachments, r.Attachments) {
			t.Fatalf("round trip changed the request:\n%+v\n%+v", r, again)
		}
	})
}

// FuzzDecodeAttachments puts fuzzed bytes where the attachment map goes, after a valid prefix.
func FuzzDecodeAttachments(f *testing.F) {
	prefix := bodyOf(f, "2.0.2", "svc", "", "m", "")
	f.Add(bodyOf(f, map[any]any{"a": "b", "c": int32(1)}))
	f.Add([]byte("M\x11java.util.HashMap\x01a\x01bZ"))
	f.Add([]byte("HZ"))
	f.Fuzz(func(t *testing.T, att []byte) {
		var r Request
		body := append(slices.Clip(prefix), att...)
		if err := DecodeRequest(body, &r); err != nil {
			return
		}
		hs := r.AppendHeaders(nil)
		if err := r.ApplyHeaders(hs); err != nil {
			t.Fatalf("unchanged headers rejected: %v", err)
		}
		var again Request
		if err := DecodeRequest(r.AppendBody(nil), &again); err != nil {
			t.Fatalf("re-encoded body does not decode: %v", err)
		}
	})
}

func TestReservedKind(t *testing.T) {
	for name, want := range map[string]int{
		"": notReserved, ":path": pseudoHeader, ":authority": pseudoHeader,
		"x-dubbo-service": reservedService, "X-Dubbo-Service": reservedService, "x-dubbo-method": reservedMethod,
		"x-dubbo-version": reservedVersion, "x-dubbo-group": reservedGroup, "X-DUBBO-PROTOCOL-VERSION": reservedProtocolVersion,
		"x-dubbo-other": notReserved, "x-dubbo-": notReserved, "x-dubbo-groupx": notReserved, "path": notReserved,
		"traceId": notReserved, "x-user": notReserved,
	} {
		if got := reservedKind(name); got != want {
			t.Errorf("reservedKind(%q) = %d, want %d", name, got, want)
		}
		if got := reservedKind([]byte(name)); got != want {
			t.Errorf("reservedKind([]byte(%q)) = %d, want %d", name, got, want)
		}
	}
}

func TestAttachmentsAddedToARequestWithoutMap(t *testing.T) {
	body := bodyOf(t, "2.0.2", "svc", "", "m", "I", int32(7)) // an old client: no attachment map at all
	var r Request
	if err := DecodeRequest(body, &r); err != nil {
		t.Fatal(err)
	}
	if got := r.AppendBody(nil); !bytes.Equal(got, body) {
		t.Fatalf("unchanged request re-encoded differently")
	}
	if err := r.ApplyHeaders(append(r.AppendHeaders(nil), [2]string{"x-user", "alice"})); err != nil {
		t.Fatal(err)
	}
	dec := h2.NewDecoder(r.AppendBody(nil))
	for i := 0; i < 6; i++ {
		if _, err := dec.Decode(); err != nil {
			t.Fatal(err)
		}
	}
	m, err := dec.Decode()
	if err != nil || m.(map[any]any)["x-user"] != "alice" {
		t.Fatalf("attachments %v, %v", m, err)
	}
}
