package abi

import (
	"testing"
)

func TestHeadersEdit(t *testing.T) {
	tests := []struct {
		name string
		edit func(h *Headers)
		want Headers
	}{
		{"add keeps duplicates", func(h *Headers) { h.Add("A", "3") }, Headers{{"a", "1"}, {"b", "2"}, {"a", "x"}, {"A", "3"}}},
		{"set replaces first and drops the rest", func(h *Headers) { h.Set("A", "9") }, Headers{{"a", "9"}, {"b", "2"}}},
		{"set appends when absent", func(h *Headers) { h.Set("c", "3") }, Headers{{"a", "1"}, {"b", "2"}, {"a", "x"}, {"c", "3"}}},
		{"del removes all, any case", func(h *Headers) { h.Del("A") }, Headers{{"b", "2"}}},
		{"SetBytes keeps the stored key", func(h *Headers) { h.SetBytes([]byte("A"), []byte("7")) }, Headers{{"a", "7"}, {"b", "2"}}},
		{"SetBytes appends when absent", func(h *Headers) { h.SetBytes([]byte("z"), []byte("0")) }, Headers{{"a", "1"}, {"b", "2"}, {"a", "x"}, {"z", "0"}}},
		{"AddBytes", func(h *Headers) { h.AddBytes([]byte("k"), []byte("v")) }, Headers{{"a", "1"}, {"b", "2"}, {"a", "x"}, {"k", "v"}}},
		{"DelBytes", func(h *Headers) { h.DelBytes([]byte("b")) }, Headers{{"a", "1"}, {"a", "x"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := Headers{{"a", "1"}, {"b", "2"}, {"a", "x"}}
			tc.edit(&h)
			if len(h) != len(tc.want) {
				t.Fatalf("got %v, want %v", h, tc.want)
			}
			for i := range h {
				if h[i] != tc.want[i] {
					t.Fatalf("got %v, want %v", h, tc.want)
				}
			}
		})
	}
}

func TestHeadersGet(t *testing.T) {
	h := Headers{{":path", "/"}, {"Content-Type", "text/plain"}}
	if v, ok := h.Get("content-type"); !ok || v != "text/plain" {
		t.Errorf("case-insensitive Get = %q %v", v, ok)
	}
	if v, ok := h.GetBytes([]byte(":PATH")); !ok || v != "/" {
		t.Errorf("GetBytes = %q %v", v, ok)
	}
	if _, ok := h.Get("missing"); ok {
		t.Error("missing key found")
	}
}

func TestHeaderLookupsDoNotAllocate(t *testing.T) {
	h := Headers{{":path", "/"}, {":method", "GET"}, {"user-agent", "x"}}
	key := []byte("user-agent")
	if n := testing.AllocsPerRun(100, func() { h.GetBytes(key) }); n != 0 {
		t.Errorf("GetBytes allocates %v times", n)
	}
	buf := make([]byte, h.SerializedSize())
	if n := testing.AllocsPerRun(100, func() { EncodeMap(buf, h) }); n != 0 {
		t.Errorf("EncodeMap allocates %v times", n)
	}
}
