package inspect

import (
	"errors"
	"testing"

	"github.com/wasmesh/wasmesh/host/abi"
)

// module assembles a Wasm binary from raw sections; enough to describe small hand-made modules exactly.
func module(sections ...[]byte) []byte {
	b := append([]byte(nil), wasmMagic...)
	for _, s := range sections {
		b = append(b, s...)
	}
	return b
}

func section(id byte, body ...byte) []byte {
	return append([]byte{id, byte(len(body))}, body...)
}

func name(s string) []byte { return append([]byte{byte(len(s))}, s...) }

func concat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// A module with: type ()->() and (i32)->i32; one import env.proxy_log of type 1; three functions; memory; and
// exports of the ABI marker, an allocator, one callback and the memory.
func proxyWasmModule() []byte {
	types := section(1, 2, 0x60, 0, 0, 0x60, 1, 0x7f, 1, 0x7f)
	imports := section(2, concat([]byte{1}, name("env"), name("proxy_log"), []byte{0, 1})...)
	funcs := section(3, 3, 0, 1, 0)
	mem := section(5, 1, 0, 1)
	exports := section(7, concat([]byte{4},
		name("proxy_abi_version_0_2_1"), []byte{0, 1},
		name("malloc"), []byte{0, 2},
		name("proxy_on_log"), []byte{0, 3},
		name("memory"), []byte{2, 0})...)
	code := section(10, 3,
		2, 0, 0x0b,
		4, 0, 0x41, 0, 0x0b,
		2, 0, 0x0b)
	return module(types, imports, funcs, mem, exports, code)
}

func TestBytes(t *testing.T) {
	tests := []struct {
		name      string
		in        []byte
		wantErr   error
		abi       abi.Version
		alloc     string
		callbacks int
		valid     bool
	}{
		{name: "proxy-wasm module", in: proxyWasmModule(), abi: abi.V0_2_1, alloc: "malloc", callbacks: 1, valid: true},
		{name: "empty module", in: module(), valid: false},
		{name: "not wasm", in: []byte("#!/bin/sh\necho hi\n"), wantErr: ErrNotWasm},
		{name: "truncated", in: proxyWasmModule()[:30]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Bytes(tt.in)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if tt.name == "truncated" {
				if err == nil {
					t.Fatal("a truncated module was accepted")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.ABIVersion != tt.abi || m.Allocator != tt.alloc || len(m.Callbacks) != tt.callbacks {
				t.Errorf("got abi %q alloc %q callbacks %v", m.ABIVersion, m.Allocator, m.Callbacks)
			}
			if (m.Validate() == nil) != tt.valid {
				t.Errorf("Validate() = %v, want valid=%v", m.Validate(), tt.valid)
			}
			if m.Size != int64(len(tt.in)) || len(m.SHA256) != 64 {
				t.Errorf("size %d sha %q", m.Size, m.SHA256)
			}
		})
	}
	m, _ := Bytes(proxyWasmModule())
	if got := m.Imports["env"]; len(got) != 1 || got[0] != "proxy_log" {
		t.Errorf("imports = %v", m.Imports)
	}
}

func TestProducersLanguage(t *testing.T) {
	field := concat([]byte{1}, name("language"), []byte{1}, name("Rust"), name(""))
	two := concat([]byte{2}, name("processed-by"), []byte{1}, name("rustc"), name("1.80"), name("language"), []byte{1}, name("C11"), name(""))
	tests := []struct {
		in   []byte
		want string
	}{
		{field, "Rust"},
		{two, "C11"},
		{nil, ""},
		{[]byte{1, 200}, ""},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, ""},
	}
	for _, tt := range tests {
		if got := producersLanguage(tt.in); got != tt.want {
			t.Errorf("producersLanguage(%x) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// The producers section and the module itself are written by whoever built the module: decoding them must never
// panic, whatever the bytes.
func FuzzProducersLanguage(f *testing.F) {
	f.Add(concat([]byte{1}, name("language"), []byte{1}, name("Rust"), name("")))
	f.Add([]byte{3, 1, 'a'})
	f.Fuzz(func(t *testing.T, b []byte) { producersLanguage(b) })
}

func FuzzBytes(f *testing.F) {
	f.Add(proxyWasmModule())
	f.Add(module())
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Bytes(b)
		if err == nil {
			_ = m.Validate()
		}
	})
}
