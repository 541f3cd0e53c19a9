package dubbo

import (
	"bufio"
	"bytes"
	"testing"

	h2 "github.com/apache/dubbo-go-hessian2"

	"github.com/wasmesh/wasmesh/host/dubbo/internal/cputime"
)

// BenchmarkDecodeRequest decodes the typical request (2 arguments, 5 attachments) into header pairs with the
// purpose-built decoder: what the proxy does for every request.
func BenchmarkDecodeRequest(b *testing.B) {
	frame := typicalRequest(b)
	body := frame[HeaderLen:]
	var r Request
	hs := make([][2]string, 0, 32)
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	defer cputime.Report(b, cputime.Process())
	for b.Loop() {
		if _, err := ParseHeader(frame, 0); err != nil {
			b.Fatal(err)
		}
		if err := DecodeRequest(body, &r); err != nil {
			b.Fatal(err)
		}
		hs = r.AppendHeaders(hs[:0])
	}
}

// BenchmarkDecodeRequestLibrary decodes the same frame with dubbo-go-hessian2, which builds every value: the
// alternative the README compares against.
func BenchmarkDecodeRequestLibrary(b *testing.B) {
	frame := typicalRequest(b)
	rd := bytes.NewReader(frame)
	br := bufio.NewReaderSize(rd, 4096)
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	defer cputime.Report(b, cputime.Process())
	for b.Loop() {
		rd.Reset(frame)
		br.Reset(rd)
		codec := h2.NewHessianCodec(br)
		var h h2.DubboHeader
		if err := codec.ReadHeader(&h); err != nil {
			b.Fatal(err)
		}
		out := make([]any, 7)
		if err := codec.ReadBody(out); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReencodeOneAttachment is a filter changing one attachment: headers back to the request, and the
// frame re-encoded with the arguments copied.
func BenchmarkReencodeOneAttachment(b *testing.B) {
	frame := typicalRequest(b)
	body := frame[HeaderLen:]
	var r Request
	hs := make([][2]string, 0, 32)
	out := make([]byte, 0, 1024)
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	defer cputime.Report(b, cputime.Process())
	for b.Loop() {
		if err := DecodeRequest(body, &r); err != nil {
			b.Fatal(err)
		}
		hs = r.AppendHeaders(hs[:0])
		for i := range hs {
			if hs[i][0] == "traceid" {
				hs[i][1] = "changed-by-filter"
			}
		}
		if err := r.ApplyHeaders(hs); err != nil {
			b.Fatal(err)
		}
		out = r.AppendFrame(out[:0], 1, FlagRequest|FlagTwoWay)
	}
}
