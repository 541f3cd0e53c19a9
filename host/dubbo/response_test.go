package dubbo

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"

	h2 "github.com/apache/dubbo-go-hessian2"
)

// oracleDecodeResponse reads a response frame with dubbo-go-hessian2.
func oracleDecodeResponse(t *testing.T, frame []byte) (h2.DubboHeader, *h2.Response) {
	t.Helper()
	codec := h2.NewHessianCodec(bufio.NewReaderSize(bytes.NewReader(frame), len(frame)+16))
	var h h2.DubboHeader
	if err := codec.ReadHeader(&h); err != nil {
		t.Fatalf("oracle read header: %v", err)
	}
	resp := &h2.Response{}
	if err := codec.ReadBody(resp); err != nil {
		t.Fatalf("oracle read body: %v", err)
	}
	return h, resp
}

func TestAppendResponseReadByOracle(t *testing.T) {
	value := bodyOf(t, "hello Alice from v2")
	tests := []struct {
		name       string
		version    string
		kind       ResultKind
		value      []byte
		wantValue  any
		wantAttach bool
	}{
		{"value 2.0.2", "2.0.2", ResultValue, value, "hello Alice from v2", true},
		{"null 2.0.2", "2.0.2", ResultNull, nil, nil, true},
		{"value old client", "2.0.0", ResultValue, value, "hello Alice from v2", false},
		{"null old client", "", ResultNull, nil, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frame := AppendResponse(nil, 12, tt.version, tt.kind, tt.value, []Attachment{{"server", "v2"}})
			h, resp := oracleDecodeResponse(t, frame)
			if h.ID != 12 || h.ResponseStatus != byte(StatusOK) {
				t.Fatalf("header %+v", h)
			}
			if resp.RspObj != tt.wantValue || resp.Exception != nil {
				t.Fatalf("oracle read %v, %v", resp.RspObj, resp.Exception)
			}
			if tt.wantAttach != (resp.Attachments["server"] == "v2") {
				t.Fatalf("attachments %v, want them: %v", resp.Attachments, tt.wantAttach)
			}
			// Our decoder agrees.
			ph, _ := ParseHeader(frame, 0)
			var r Response
			if err := DecodeResponse(ph, frame[HeaderLen:], &r); err != nil {
				t.Fatal(err)
			}
			if tt.kind == ResultValue && !bytes.Equal(r.Value, value) {
				t.Fatalf("value % x", r.Value)
			}
			if tt.wantAttach != (len(r.Attachments) == 1) {
				t.Fatalf("decoded attachments %v", r.Attachments)
			}
		})
	}
}

func TestDecodeOracleResponses(t *testing.T) {
	codec := h2.NewHessianCodec(nil)
	hdr := h2.DubboHeader{SerialID: 2, Type: h2.PackageResponse, ID: 5, ResponseStatus: h2.Response_OK}
	ok, err := codec.Write(h2.Service{}, hdr, h2.NewResponse([]any{"a", int64(1)}, nil, map[string]string{"dubbo": "2.0.2", "k": "v"}))
	if err != nil {
		t.Fatal(err)
	}
	exc, err := codec.Write(h2.Service{}, hdr, h2.NewResponse(nil, errors.New("boom"), map[string]string{"dubbo": "2.0.2"}))
	if err != nil {
		t.Fatal(err)
	}
	hdr.ResponseStatus = byte(StatusServiceNotFound)
	notFound, err := codec.Write(h2.Service{}, hdr, h2.NewResponse(nil, errors.New("no such service"), nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		frame []byte
		check func(*Response) bool
	}{
		{"value with attachments", ok, func(r *Response) bool {
			return r.Kind == ResultValueWithAttachments && len(r.Value) > 0 && attMap(r.Attachments)["k"] == "v"
		}},
		{"exception with attachments", exc, func(r *Response) bool { return r.Kind == ResultExceptionWithAttachments && len(r.Value) > 0 }},
		{"error status", notFound, func(r *Response) bool { return r.Status == StatusServiceNotFound && r.Message == "no such service" }},
	} {
		h, err := ParseHeader(tc.frame, 0)
		if err != nil {
			t.Fatal(err)
		}
		var r Response
		if err := DecodeResponse(h, tc.frame[HeaderLen:HeaderLen+h.BodyLen], &r); err != nil || !tc.check(&r) {
			t.Errorf("%s: %+v, %v", tc.name, r, err)
		}
	}
}

func TestLocalReply(t *testing.T) {
	for _, tc := range []struct {
		code int
		want Status
	}{
		{200, StatusOK}, {400, StatusBadRequest}, {401, StatusBadRequest}, {403, StatusBadRequest}, {404, StatusServiceNotFound},
		{408, StatusClientTimeout}, {429, StatusServerThreadpoolExhausted}, {500, StatusServerError}, {502, StatusBadResponse},
		{503, StatusServerError}, {504, StatusServerTimeout}, {302, StatusServerError},
	} {
		if got := StatusForHTTP(tc.code); got != tc.want {
			t.Errorf("StatusForHTTP(%d) = %d, want %d", tc.code, got, tc.want)
		}
	}
	frame := AppendLocalReply(nil, 3, "2.0.2", 403, "denied by policy", [][2]string{{"x-reason", "jwt"}})
	h, resp := oracleDecodeResponse(t, frame)
	if h.ResponseStatus != byte(StatusBadRequest) || resp.Exception == nil || !strings.Contains(resp.Exception.Error(), "denied by policy") {
		t.Fatalf("403 reply read by oracle: %+v %v", h, resp.Exception)
	}
	frame = AppendLocalReply(nil, 4, "2.0.2", 200, "cached", [][2]string{{":status", "200"}, {"x-cache", "hit"}})
	h, resp = oracleDecodeResponse(t, frame)
	if h.ResponseStatus != byte(StatusOK) || resp.RspObj != "cached" || resp.Attachments["x-cache"] != "hit" || resp.Attachments[":status"] != "" {
		t.Fatalf("200 reply read by oracle: %+v %v %v", h, resp.RspObj, resp.Attachments)
	}
	frame = AppendLocalReply(nil, 5, "2.0.2", 429, "", nil)
	_, resp = oracleDecodeResponse(t, frame)
	if !strings.Contains(resp.Exception.Error(), "local reply 429") {
		t.Fatalf("empty body message: %v", resp.Exception)
	}
}

func TestSupportsResponseAttachments(t *testing.T) {
	for v, want := range map[string]bool{"2.0.2": true, "2.0.10": false, "2.6.2": false, "2.7.8": true, "2.0.1": false, "": false, "x": false, "3.0.0": true} {
		if got := SupportsResponseAttachments(v); got != want {
			t.Errorf("SupportsResponseAttachments(%q) = %v", v, got)
		}
	}
}

func TestParseHeaderAndReadFrame(t *testing.T) {
	frame := typicalRequest(t)
	tests := []struct {
		name    string
		in      []byte
		max     int
		want    Kind
		wantEOF bool
	}{
		{"ok", frame, 0, "", false},
		{"clean end", nil, 0, "", true},
		{"bad magic", append([]byte{0xca, 0xfe}, frame[2:]...), 0, KindBadMagic, false},
		{"too large", frame, 10, KindTooLarge, false},
		{"short header", frame[:9], 0, KindShort, false},
		{"short body", frame[:40], 0, KindShort, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, got, err := ReadFrame(bytes.NewReader(tt.in), nil, tt.max)
			switch {
			case tt.wantEOF:
				if err != io.EOF {
					t.Fatalf("err = %v, want io.EOF", err)
				}
			case tt.want != "":
				if KindOf(err) != tt.want {
					t.Fatalf("err = %v, want kind %s", err, tt.want)
				}
			default:
				if err != nil || !bytes.Equal(got, frame) || h.ID != 7 {
					t.Fatalf("ReadFrame = %+v, %d bytes, %v", h, len(got), err)
				}
			}
		})
	}
}

func TestReadFrameLargeBodyGrowsAsBytesArrive(t *testing.T) {
	body := bytes.Repeat([]byte{'x'}, 1<<20+3)
	frame := AppendHeader(nil, Header{Flags: FlagRequest | SerializationHessian2, ID: 5, BodyLen: len(body)})
	frame = append(frame, body...)
	h, got, err := ReadFrame(bytes.NewReader(frame), nil, 0)
	if err != nil || h.BodyLen != len(body) || !bytes.Equal(got, frame) {
		t.Fatalf("ReadFrame = %+v, %d bytes, %v", h, len(got), err)
	}
	// A peer that declares 8 MiB and sends 100 KB makes us hold at most twice that, then fails.
	short := append(AppendHeader(nil, Header{Flags: FlagRequest | SerializationHessian2, BodyLen: DefaultMaxBody}), make([]byte, 100<<10)...)
	_, got, err = ReadFrame(bytes.NewReader(short), nil, 0)
	if KindOf(err) != KindShort || got != nil {
		t.Fatalf("short body: %v", err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, _, _ = ReadFrame(bytes.NewReader(short), nil, 0)
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Fatalf("allocated %d bytes for a 100 KB trickle announcing 8 MiB", n)
	}
}

func TestRequireHessian2(t *testing.T) {
	if err := (Header{Flags: FlagRequest | SerializationHessian2}).RequireHessian2(); err != nil {
		t.Fatal(err)
	}
	if err := (Header{Flags: FlagRequest | 6}).RequireHessian2(); KindOf(err) != KindSerialization {
		t.Fatalf("fastjson frame: %v", err)
	}
}

func TestHeartbeatAndSetID(t *testing.T) {
	req := AppendHeartbeat(nil, 77, true)
	h, err := ParseHeader(req, 0)
	if err != nil || !h.IsEvent() || !h.IsRequest() || h.BodyLen != 1 || req[HeaderLen] != 'N' {
		t.Fatalf("heartbeat request %+v %v", h, err)
	}
	resp := AppendHeartbeat(nil, 77, false)
	SetID(resp, 1<<40)
	h, err = ParseHeader(resp, 0)
	if err != nil || !h.IsEvent() || h.IsRequest() || h.ID != 1<<40 || h.Status != StatusOK {
		t.Fatalf("heartbeat response %+v %v", h, err)
	}
}

func FuzzParseHeader(f *testing.F) {
	f.Add(AppendHeartbeat(nil, 1, true))
	f.Add([]byte{0xda, 0xbb, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeader(b, 1<<20)
		if err != nil {
			return
		}
		if h.BodyLen < 0 || h.BodyLen > 1<<20 {
			t.Fatalf("body length %d passed the limit", h.BodyLen)
		}
		if !bytes.Equal(AppendHeader(nil, h), b[:HeaderLen]) {
			t.Fatal("header does not re-encode to the same bytes")
		}
		// ReadFrame never reads past the declared length nor allocates past the limit.
		_, frame, err := ReadFrame(bytes.NewReader(b), nil, 1<<20)
		if err == nil && len(frame) != HeaderLen+h.BodyLen {
			t.Fatalf("frame of %d bytes for body length %d", len(frame), h.BodyLen)
		}
	})
}

func FuzzDecodeResponse(f *testing.F) {
	f.Add(byte(20), byte(0x02), AppendResponse(nil, 1, "2.0.2", ResultValue, bodyOf(f, "x"), []Attachment{{"a", "b"}})[HeaderLen:])
	f.Add(byte(20), byte(0x02), AppendResponse(nil, 1, "2.0.0", ResultNull, nil, nil)[HeaderLen:])
	f.Add(byte(40), byte(0x02), AppendErrorResponse(nil, 1, 40, "bad")[HeaderLen:])
	f.Fuzz(func(t *testing.T, status, flags byte, body []byte) {
		var r Response
		err := DecodeResponse(Header{Flags: flags, Status: Status(status)}, body, &r)
		if err != nil && KindOf(err) == "" {
			t.Fatalf("error without a kind: %v", err)
		}
		if err != nil {
			return
		}
		if len(r.Value) > len(body) {
			t.Fatal("value longer than the body")
		}
		// What decodes re-encodes, through the response headers, into a frame that decodes the same way.
		r.ApplyHeaders(r.AppendHeaders(nil))
		out := r.AppendFrame(nil, 1)
		h, perr := ParseHeader(out, 0)
		if perr != nil {
			t.Fatal(perr)
		}
		var again Response
		if err := DecodeResponse(h, out[HeaderLen:], &again); err != nil {
			t.Fatalf("re-encoded response does not decode: %v", err)
		}
		if again.Event != r.Event || (!r.Event && again.Status != r.Status) || again.Kind != r.Kind || !bytes.Equal(again.Value, r.Value) {
			t.Fatalf("round trip changed the response:\n%+v\n%+v", r, again)
		}
	})
}

func TestResponseHeadersRoundTrip(t *testing.T) {
	frame := AppendResponse(nil, 8, "2.0.2", ResultValue, bodyOf(t, "hi"), []Attachment{{"provider", "v1"}})
	h, _ := ParseHeader(frame, 0)
	var r Response
	if err := DecodeResponse(h, frame[HeaderLen:], &r); err != nil {
		t.Fatal(err)
	}
	hs := r.AppendHeaders(nil)
	if m := headerMap(hs); m[":status"] != "200" || m["x-dubbo-status"] != "20" || m["provider"] != "v1" {
		t.Fatalf("headers %v", hs)
	}
	r.ApplyHeaders(append(edit(hs, "provider", "", true), [2]string{"x-served-by", "wasmesh"}))
	_, resp := oracleDecodeResponse(t, r.AppendFrame(nil, 9))
	if resp.RspObj != "hi" || resp.Attachments["x-served-by"] != "wasmesh" || resp.Attachments["provider"] != "" {
		t.Fatalf("oracle read %v %v", resp.RspObj, resp.Attachments)
	}

	errFrame := AppendErrorResponse(nil, 1, StatusServerThreadpoolExhausted, "busy")
	h, _ = ParseHeader(errFrame, 0)
	if err := DecodeResponse(h, errFrame[HeaderLen:], &r); err != nil {
		t.Fatal(err)
	}
	if m := headerMap(r.AppendHeaders(nil)); m[":status"] != "429" || m["x-dubbo-status"] != "100" {
		t.Fatalf("error response headers %v", m)
	}
	if got := r.AppendFrame(nil, 1); !bytes.Equal(got, errFrame) {
		t.Fatalf("error response re-encoded differently")
	}
}

func TestHTTPStatusInvertsStatusForHTTP(t *testing.T) {
	for _, s := range []Status{StatusOK, StatusClientTimeout, StatusServerTimeout, StatusBadRequest, StatusBadResponse,
		StatusServiceNotFound, StatusServerError, StatusServerThreadpoolExhausted} {
		if got := StatusForHTTP(HTTPStatus(s)); got != s {
			t.Errorf("StatusForHTTP(HTTPStatus(%d)) = %d", s, got)
		}
	}
}

func TestVersionNumber(t *testing.T) {
	for in, want := range map[string]int{"2.0.2": 2000200, "2.6.2": 2060200, "2.0.10": 2001000, "3": 3000000,
		"1.2.3.4": 1020304, "": -1, "2.0.": -1, ".1": -1, "2..1": -1, "a.b": -1, "1.2.3.4.5": -1, "100.0": -1, "-1.0": -1} {
		if got := versionNumber(in); got != want {
			t.Errorf("versionNumber(%q) = %d, want %d", in, got, want)
		}
	}
}
