package inspect

import (
	"errors"
	"runtime"
	"strings"
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

// TestBytesRefusesOversizedCounts: a count or length claiming more than the module holds is an error, found
// before wazero allocates for it (before the fix, the export case asked for hundreds of gigabytes and the Go
// runtime ended the process).
func TestBytesRefusesOversizedCounts(t *testing.T) {
	huge := []byte{0xff, 0xff, 0xff, 0xff, 0x0f} // 4294967295
	// fn is a module of one function of type ()->() with the given body.
	fn := func(body ...byte) []byte {
		return module(section(1, 1, 0x60, 0, 0), section(3, 1, 0), section(10, concat([]byte{1, byte(len(body))}, body)...))
	}
	tests := []struct {
		name, want string
		in         []byte
	}{
		{"export count", "export count 4294967295", module(section(7, huge...))},
		{"import count", "import count", module(section(2, huge...))},
		{"function count", "entry count", module(section(3, huge...))},
		{"export name length", "export name length", module(section(7, concat([]byte{1}, huge)...))},
		{"parameter count", "value type count", module(section(1, concat([]byte{1, 0x60}, huge)...))},
		{"function names", "function name count", module(section(0, concat(name("name"), []byte{1, 5}, huge)...))},
		{"local names", "local name count", module(section(0, concat(name("name"), []byte{2, 7, 1, 0}, huge)...))},
		{"element count", "element count", module(section(9, concat([]byte{1, 0, 0x41, 0, 0x0b}, huge)...))},
		{"data length", "data segment length", module(section(11, concat([]byte{1, 0, 0x41, 0, 0x0b}, huge)...))},
		{"locals", "more than 50000 locals", fn(concat([]byte{1}, huge, []byte{0x7f, 0x0b})...)},
		{"section size", "runs past the end", module([]byte{7, 0xff, 0xff, 0x03})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := Bytes(tt.in)
			runtime.ReadMemStats(&after)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20 {
				t.Errorf("refusing %d bytes allocated %d MiB", len(tt.in), grew>>20)
			}
		})
	}
	// The limit on locals is V8's and wasmtime's: a function at the limit is still a module.
	if _, err := Bytes(fn(1, 0xd0, 0x86, 0x03, 0x7f, 0x0b)); err != nil { // 50000 i32 locals
		t.Errorf("50000 locals refused: %v", err)
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
