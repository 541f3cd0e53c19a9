package loopguard

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

func sec(id byte, body []byte) []byte {
	return append(appendU32([]byte{id}, uint32(len(body))), body...)
}

func vec(items ...[]byte) []byte {
	b := appendU32(nil, uint32(len(items)))
	for _, it := range items {
		b = append(b, it...)
	}
	return b
}

func str(s string) []byte { return append(appendU32(nil, uint32(len(s))), s...) }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// testModule exports count(n) (a loop that counts to n, with a SIMD constant and a memory.fill inside so the
// walker crosses prefixed instructions) and spin() (loop forever). withGlobal adds a defined global first, so the
// stop flag is not global 0; withName adds a name section and a DWARF section.
func testModule(withGlobal, withName bool) []byte {
	count := cat(
		[]byte{0x01, 0x01, 0x7f},                           // one local i32
		[]byte{0x03, 0x40},                                 // loop
		[]byte{0xfd, 0x0c}, make([]byte, 16), []byte{0x1a}, // v128.const 0; drop
		[]byte{0x41, 0x00, 0x41, 0x00, 0x41, 0x00, 0xfc, 0x0b, 0x00}, // memory.fill 0 0 0
		[]byte{0x20, 0x01, 0x41, 0x01, 0x6a, 0x21, 0x01},             // i++
		[]byte{0x20, 0x01, 0x20, 0x00, 0x49, 0x0d, 0x00},             // br_if i < n
		[]byte{0x0b, 0x20, 0x01, 0x0b},
	)
	spin := []byte{0x00, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b}
	parts := [][]byte{
		[]byte("\x00asm\x01\x00\x00\x00"),
		sec(1, vec([]byte{0x60, 0x01, 0x7f, 0x01, 0x7f}, []byte{0x60, 0x00, 0x00})),
		sec(3, vec([]byte{0x00}, []byte{0x01})),
		sec(5, vec([]byte{0x00, 0x01})),
	}
	if withGlobal {
		parts = append(parts, sec(6, vec([]byte{0x7f, 0x01, 0x41, 0x07, 0x0b})))
	}
	parts = append(parts,
		sec(7, vec(cat(str("count"), []byte{0x00, 0x00}), cat(str("spin"), []byte{0x00, 0x01}))),
		sec(10, vec(cat(appendU32(nil, uint32(len(count))), count), cat(appendU32(nil, uint32(len(spin))), spin))),
	)
	if withName {
		parts = append(parts, sec(0, cat(str("name"), []byte{0x01, 0x04, 0x01, 0x00, 0x01, 'c'})),
			sec(0, cat(str(".debug_info"), []byte{1, 2, 3})))
	}
	return cat(parts...)
}

func TestInstrumentStopsLoops(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		withGlobal, withName bool
	}{{"plain", false, false}, {"existing global", true, false}, {"custom sections", false, true}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			orig := testModule(tc.withGlobal, tc.withName)
			out, err := Instrument(orig)
			if err != nil {
				t.Fatal(err)
			}
			if tc.withName && bytes.Contains(out, []byte(".debug_info")) {
				t.Error("DWARF section kept")
			}
			r := wazero.NewRuntime(ctx)
			defer r.Close(ctx)
			mod, err := r.Instantiate(ctx, out)
			if err != nil {
				t.Fatalf("instrumented module does not instantiate: %v", err)
			}
			res, err := mod.ExportedFunction("count").Call(ctx, 1000)
			if err != nil || res[0] != 1000 {
				t.Fatalf("count(1000) = %v, %v", res, err)
			}
			g, ok := mod.ExportedGlobal(ExportName).(api.MutableGlobal)
			if !ok {
				t.Fatalf("no mutable %s export", ExportName)
			}
			time.AfterFunc(20*time.Millisecond, func() { g.Set(1) })
			done := make(chan error, 1)
			go func() { _, err := mod.ExportedFunction("spin").Call(ctx); done <- err }()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), "unreachable") {
					t.Fatalf("spin ended with %v, want an unreachable trap", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("spin was not stopped")
			}
		})
	}
}

func TestInstrumentRejects(t *testing.T) {
	valid := testModule(false, false)
	for _, tc := range []struct {
		name string
		wasm []byte
	}{
		{"empty", nil},
		{"not wasm", []byte("\x00elf\x01\x00\x00\x00")},
		{"truncated section", valid[:len(valid)-3]},
		{"unknown section", append(bytes.Clone(valid), 0x2a, 0x00)},
		{"unknown opcode", cat(valid[:8], sec(1, vec([]byte{0x60, 0x00, 0x00})), sec(3, vec([]byte{0x00})),
			sec(10, vec([]byte{0x03, 0x00, 0xd7, 0x0b})))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Instrument(tc.wasm); !errors.Is(err, ErrUnsupported) {
				t.Fatalf("err = %v, want ErrUnsupported", err)
			}
		})
	}
}

// FuzzInstrument feeds arbitrary bytes: Instrument must return an error or a module, never panic, and a module
// it accepts keeps its header.
func FuzzInstrument(f *testing.F) {
	f.Add(testModule(false, false))
	f.Add(testModule(true, true))
	f.Add([]byte("\x00asm\x01\x00\x00\x00\x0a\x05\x01\x03\x00\x03\x40"))
	f.Fuzz(func(t *testing.T, wasm []byte) {
		out, err := Instrument(wasm)
		if err == nil && !bytes.Equal(out[:8], wasm[:8]) {
			t.Fatalf("header changed: %x", out[:8])
		}
	})
}

func BenchmarkInstrument(b *testing.B) {
	wasm := testModule(true, true)
	b.ReportAllocs()
	b.SetBytes(int64(len(wasm)))
	for b.Loop() {
		if _, err := Instrument(wasm); err != nil {
			b.Fatal(err)
		}
	}
}
