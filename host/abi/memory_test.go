package abi

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

func TestMapRoundTrip(t *testing.T) {
	for _, h := range []Headers{
		nil,
		{{":path", "/"}},
		{{"", ""}, {"k", ""}, {"", "v"}, {"x-dubbo-service", "org.example.Greeter"}},
	} {
		enc := AppendMap(nil, h)
		if len(enc) != h.SerializedSize() {
			t.Fatalf("size %d != SerializedSize %d", len(enc), h.SerializedSize())
		}
		got, err := DecodeMap(enc)
		if err != nil {
			t.Fatalf("%v: %v", h, err)
		}
		if len(got) != len(h) {
			t.Fatalf("got %v, want %v", got, h)
		}
		for i := range h {
			if got[i] != h[i] {
				t.Fatalf("got %v, want %v", got, h)
			}
		}
	}
}

func TestVisitMapRejects(t *testing.T) {
	le := binary.LittleEndian
	tests := []struct {
		name string
		in   []byte
	}{
		{"short count", []byte{1, 0}},
		{"count larger than data", le.AppendUint32(nil, 1000)},
		{"huge count", le.AppendUint32(nil, 0xffffffff)},
		{"key runs past end", append(le.AppendUint32(le.AppendUint32(le.AppendUint32(nil, 1), 50), 0), 'k', 0, 0)},
		{"length overflow", append(le.AppendUint32(le.AppendUint32(le.AppendUint32(nil, 1), 0xffffffff), 0xffffffff), 0, 0)},
	}
	for _, tc := range tests {
		if err := VisitMap(tc.in, func(k, v []byte) {}); !errors.Is(err, ErrBadEncoding) {
			t.Errorf("%s: err = %v", tc.name, err)
		}
	}
}

func TestPropertyPath(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"request\x00path", "request.path", true},
		{"request\x00path\x00", "request.path", true},
		{"plugin_root_id", "plugin_root_id", true},
		{"", "", false},
		{"\x00", "", false},
		{"a\x00\x00b", "", false},
		{"\x00a", "", false},
	}
	for _, tc := range tests {
		got, err := PropertyPath(nil, []byte(tc.in))
		if (err == nil) != tc.ok || (tc.ok && string(got) != tc.want) {
			t.Errorf("%q: got %q, %v", tc.in, got, err)
		}
	}
}

func TestSpliceBuffer(t *testing.T) {
	tests := []struct {
		buf         string
		start, size uint32
		data, want  string
	}{
		{"body", 0, 0, "pre-", "pre-body"},
		{"body", 4, 0, "-post", "body-post"},
		{"body", 100, 0, "!", "body!"},
		{"body", 0, 4, "new", "new"},
		{"body", 0, 0xffffffff, "all", "all"},
		{"abcdef", 2, 2, "XYZ", "abXYZef"},
		{"abcdef", 2, 2, "", "abef"},
	}
	for _, tc := range tests {
		buf := make([]byte, len(tc.buf), 64) // in place
		copy(buf, tc.buf)
		if got := SpliceBuffer(buf, tc.start, tc.size, []byte(tc.data)); string(got) != tc.want {
			t.Errorf("in place %+v: got %q", tc, got)
		}
		if got := SpliceBuffer([]byte(tc.buf), tc.start, tc.size, []byte(tc.data)); string(got) != tc.want {
			t.Errorf("grown %+v: got %q", tc, got)
		}
	}
}

func FuzzVisitMap(f *testing.F) {
	f.Add(AppendMap(nil, Headers{{":path", "/"}, {"a", "b"}}))
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0, 0, 255, 255, 255, 255, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var n int
		err := VisitMap(b, func(k, v []byte) {
			// Views must lie inside the input.
			if len(k) > len(b) || len(v) > len(b) {
				t.Fatalf("view longer than input")
			}
			n++
		})
		if err != nil {
			return
		}
		h, err := DecodeMap(b)
		if err != nil || len(h) != n {
			t.Fatalf("DecodeMap disagrees with VisitMap: %v %d %d", err, len(h), n)
		}
		// Re-encoding a decoded map decodes to the same entries.
		h2, err := DecodeMap(AppendMap(nil, h))
		if err != nil || len(h2) != len(h) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

func FuzzPropertyPath(f *testing.F) {
	f.Add([]byte("request\x00path"))
	f.Add([]byte("\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := PropertyPath(nil, b)
		if err != nil {
			return
		}
		// Segments may hold dots themselves (metadata keys like "envoy.lb"); only the separators are checked.
		if bytes.IndexByte(out, 0) >= 0 || len(out) == 0 || bytes.Count(out, []byte{'.'}) < bytes.Count(bytes.TrimSuffix(b, []byte{0}), []byte{0}) {
			t.Fatalf("bad dotted path %q from %q", out, b)
		}
	})
}

func FuzzBufferRange(f *testing.F) {
	f.Add(10, uint32(2), uint32(3), []byte("x"))
	f.Add(0, uint32(0xffffffff), uint32(0xffffffff), []byte{})
	f.Fuzz(func(t *testing.T, n int, start, size uint32, data []byte) {
		if n < 0 || n > 1<<16 {
			return
		}
		lo, hi, ok := BufferRange(n, start, size)
		if ok && (lo < 0 || hi > n || lo > hi) {
			t.Fatalf("range [%d,%d) outside %d", lo, hi, n)
		}
		buf := make([]byte, n)
		out := SpliceBuffer(buf, start, size, data)
		if len(out) > n+len(data) {
			t.Fatalf("splice grew to %d from %d+%d", len(out), n, len(data))
		}
	})
}
