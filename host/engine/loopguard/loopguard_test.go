package loopguard

import (
	"bytes"
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/wasmesh/wasmesh/host/internal/gcloop"
	"github.com/wasmesh/wasmesh/host/internal/wasmbin"
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

// richModule exercises every place a function index lives: it imports env.double (function 0, so every defined
// function moves up by one in the instrumented copy), calls through a table filled by two element segments (a
// function-index list and a ref.func expression), has a start function that sets a global, and names two
// functions in a name section. Exports: count(n), spin(), viaTable(i) (table[i](21): 0 → twice → env.double,
// 1 → answer = 42), started() (7 once the start function ran).
func richModule() []byte {
	count := cat(
		[]byte{0x01, 0x01, 0x7f},
		[]byte{0x03, 0x40},
		[]byte{0x20, 0x01, 0x41, 0x01, 0x6a, 0x21, 0x01},
		[]byte{0x20, 0x01, 0x20, 0x00, 0x49, 0x0d, 0x00},
		[]byte{0x0b, 0x20, 0x01, 0x0b},
	)
	body := func(b ...byte) []byte { return cat(appendU32(nil, uint32(len(b))), b) }
	return cat(
		[]byte("\x00asm\x01\x00\x00\x00"),
		sec(1, vec([]byte{0x60, 0x01, 0x7f, 0x01, 0x7f}, []byte{0x60, 0x00, 0x00}, []byte{0x60, 0x00, 0x01, 0x7f})),
		sec(2, vec(cat(str("env"), str("double"), []byte{0x00, 0x00}))),
		sec(3, vec([]byte{0}, []byte{1}, []byte{0}, []byte{0}, []byte{0}, []byte{1}, []byte{2})),
		sec(4, vec([]byte{0x70, 0x00, 0x02})),
		sec(5, vec([]byte{0x00, 0x01})),
		sec(6, vec([]byte{0x7f, 0x01, 0x41, 0x00, 0x0b})),
		sec(7, vec(cat(str("count"), []byte{0x00, 0x01}), cat(str("spin"), []byte{0x00, 0x02}),
			cat(str("viaTable"), []byte{0x00, 0x03}), cat(str("started"), []byte{0x00, 0x07}))),
		sec(8, []byte{0x06}),
		sec(9, vec([]byte{0x00, 0x41, 0x00, 0x0b, 0x01, 0x04}, []byte{0x04, 0x41, 0x01, 0x0b, 0x01, 0xd2, 0x05, 0x0b})),
		sec(10, vec(
			cat(appendU32(nil, uint32(len(count))), count),
			body(0x00, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b),             // spin
			body(0x00, 0x41, 0x15, 0x20, 0x00, 0x11, 0x00, 0x00, 0x0b), // viaTable
			body(0x00, 0x20, 0x00, 0x10, 0x00, 0x0b),                   // twice: env.double(n)
			body(0x00, 0x41, 0x2a, 0x0b),                               // answer
			body(0x00, 0x41, 0x07, 0x24, 0x00, 0x0b),                   // init (start)
			body(0x00, 0x23, 0x00, 0x0b),                               // started
		)),
		sec(0, cat(str("name"), []byte{0x01}, func() []byte {
			m := vec(cat([]byte{0x01}, str("count")), cat([]byte{0x04}, str("twice")))
			return cat(appendU32(nil, uint32(len(m))), m)
		}())),
	)
}

var errStopped = errors.New("stopped by the test")

// guardHost provides the tick import (and env.double for richModule) and counts the ticks.
type guardHost struct {
	budget uint32
	ticks  atomic.Int64
	stop   atomic.Bool
}

func (h *guardHost) instantiate(t testing.TB, wasm []byte) api.Module {
	t.Helper()
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	t.Cleanup(func() { r.Close(ctx) })
	_, err := r.NewHostModuleBuilder(ImportModule).NewFunctionBuilder().
		WithGoFunction(api.GoFunc(func(_ context.Context, stack []uint64) {
			h.ticks.Add(1)
			if h.stop.Load() {
				panic(errStopped)
			}
			stack[0] = uint64(h.budget)
		}), nil, []api.ValueType{api.ValueTypeI32}).Export(ImportName).Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.NewHostModuleBuilder("env").NewFunctionBuilder().
		WithGoFunction(api.GoFunc(func(_ context.Context, stack []uint64) { stack[0] = stack[0]*2 + 1 }),
			[]api.ValueType{api.ValueTypeI32}, []api.ValueType{api.ValueTypeI32}).Export("double").Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mod, err := r.Instantiate(ctx, wasm)
	if err != nil {
		t.Fatalf("instrumented module does not instantiate: %v", err)
	}
	return mod
}

// runUntilStopped calls fn (which never ends by itself) and stops it through the tick after 20ms, with Go's GC
// running all along if gc is set: a guest that never left compiled code would keep the GC from stopping the
// world, and the process would hang here.
func runUntilStopped(t *testing.T, h *guardHost, fn api.Function, gc bool, params ...uint64) {
	t.Helper()
	h.stop.Store(false)
	if gc {
		gcloop.Run(t)
	}
	time.AfterFunc(20*time.Millisecond, func() { h.stop.Store(true) })
	done := make(chan error, 1)
	go func() { _, err := fn.Call(context.Background(), params...); done <- err }()
	name := fn.Definition().ExportNames()[0]
	select {
	case err := <-done:
		if !errors.Is(err, errStopped) {
			t.Fatalf("%s%v ended with %v, want the tick's error", name, params, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s%v was not stopped", name, params)
	}
}

func TestInstrumentStopsLoops(t *testing.T) {
	for _, tc := range []struct {
		name string
		wasm []byte
		gc   bool
	}{
		{"plain", testModule(false, false), false},
		{"existing global", testModule(true, false), false},
		{"custom sections", testModule(false, true), false},
		{"imports, table, start, names", richModule(), false},
		{"while Go's GC runs", testModule(true, false), true},
		{"while Go's GC runs, rich", richModule(), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := Instrument(tc.wasm)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(out, []byte(".debug_info")) {
				t.Error("DWARF section kept")
			}
			h := &guardHost{budget: 9}
			mod := h.instantiate(t, out)
			res, err := mod.ExportedFunction("count").Call(context.Background(), 1000)
			if err != nil || res[0] != 1000 {
				t.Fatalf("count(1000) = %v, %v", res, err)
			}
			// A tick every budget+1 checks (the first check asks, then 9 decrements): 1001 checks, the function's
			// entry and 1000 loop heads.
			if got := h.ticks.Load(); got != 101 {
				t.Errorf("%d ticks for 1001 checks with a budget of 9, want 101", got)
			}
			runUntilStopped(t, h, mod.ExportedFunction("spin"), tc.gc)
		})
	}
}

// fibModule exports fib(n), naive recursion with no loop at all: only the check at function entry stops it.
func fibModule() []byte {
	fib := []byte{0x00, 0x20, 0x00, 0x41, 0x02, 0x49, 0x04, 0x7f, 0x20, 0x00, 0x05, // if n < 2: n
		0x20, 0x00, 0x41, 0x01, 0x6b, 0x10, 0x00, 0x20, 0x00, 0x41, 0x02, 0x6b, 0x10, 0x00, 0x6a, // else fib(n-1)+fib(n-2)
		0x0b, 0x0b}
	return cat([]byte("\x00asm\x01\x00\x00\x00"),
		sec(1, vec([]byte{0x60, 0x01, 0x7f, 0x01, 0x7f})),
		sec(3, vec([]byte{0})),
		sec(7, vec(cat(str("fib"), []byte{0x00, 0x00}))),
		sec(10, vec(cat(appendU32(nil, uint32(len(fib))), fib))))
}

func TestInstrumentStopsRecursion(t *testing.T) {
	out, err := Instrument(fibModule())
	if err != nil {
		t.Fatal(err)
	}
	h := &guardHost{budget: 9}
	mod := h.instantiate(t, out)
	fib := mod.ExportedFunction("fib")
	res, err := fib.Call(context.Background(), 10)
	if err != nil || res[0] != 55 {
		t.Fatalf("fib(10) = %v, %v", res, err)
	}
	if got := h.ticks.Load(); got != 18 { // 177 calls, a tick every 10
		t.Errorf("%d ticks for 177 calls with a budget of 9, want 18", got)
	}
	runUntilStopped(t, h, fib, true, 60) // 2^41 calls
}

func TestInstrumentRenumbers(t *testing.T) {
	out, err := Instrument(richModule())
	if err != nil {
		t.Fatal(err)
	}
	h := &guardHost{budget: 1 << 14}
	mod := h.instantiate(t, out)
	ctx := context.Background()
	for _, tc := range []struct {
		fn   string
		args []uint64
		want uint64
	}{
		{"viaTable", []uint64{0}, 43}, // element segment by index → twice → env.double(21)
		{"viaTable", []uint64{1}, 42}, // element segment by ref.func → answer
		{"started", nil, 7},           // the start function ran
	} {
		res, err := mod.ExportedFunction(tc.fn).Call(ctx, tc.args...)
		if err != nil || res[0] != tc.want {
			t.Errorf("%s%v = %v, %v; want %d", tc.fn, tc.args, res, err, tc.want)
		}
	}
	if name := mod.ExportedFunction("count").Definition().Name(); name != "count" {
		t.Errorf("name section: count is named %q", name)
	}
	fns := mod.ExportedFunctionDefinitions()
	if d := fns["viaTable"]; d == nil || d.Name() != "" {
		t.Errorf("name section: viaTable should stay unnamed, got %v", d)
	}
}

func TestInstrumentClash(t *testing.T) {
	wasm := cat([]byte("\x00asm\x01\x00\x00\x00"),
		sec(1, vec([]byte{0x60, 0x00, 0x01, 0x7f})),
		sec(2, vec(cat(str(ImportModule), str(ImportName), []byte{0x00, 0x00}))))
	if _, err := Instrument(wasm); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("err = %v, want ErrUnsupported for a module importing %s", err, ImportModule)
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

// FuzzInstrument feeds arbitrary bytes: Instrument must return an error or a module, never panic; a module it
// accepts keeps its header, and if wazero accepts the original it accepts the rewrite (a wrong function index or a
// broken section would fail validation).
func FuzzInstrument(f *testing.F) {
	f.Add(testModule(false, false))
	f.Add(testModule(true, true))
	f.Add(richModule())
	f.Add([]byte("\x00asm\x01\x00\x00\x00\x0a\x05\x01\x03\x00\x03\x40"))
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer r.Close(ctx)
	f.Fuzz(func(t *testing.T, wasm []byte) {
		out, err := Instrument(wasm)
		if err != nil {
			return
		}
		if !bytes.Equal(out[:8], wasm[:8]) {
			t.Fatalf("header changed: %x", out[:8])
		}
		if wasmbin.Check(wasm) != nil {
			return // wazero would allocate for every declared entry (the engine refuses such modules first)
		}
		orig, err := r.CompileModule(ctx, wasm)
		if err != nil {
			return
		}
		defer orig.Close(ctx)
		guarded, err := r.CompileModule(ctx, out)
		if err != nil {
			t.Fatalf("wazero accepts the module but not its rewrite: %v", err)
		}
		guarded.Close(ctx)
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

// BenchmarkLoopIteration is the worst case of the rewrite: count(n)'s loop body is a handful of instructions, so
// the budget decrement at its head is as large a share as it gets. ns/op is per iteration.
func BenchmarkLoopIteration(b *testing.B) {
	orig := richModule()
	guarded, err := Instrument(orig)
	if err != nil {
		b.Fatal(err)
	}
	const n = 1 << 20
	for _, tc := range []struct {
		name string
		wasm []byte
	}{{"original", orig}, {"guarded", guarded}} {
		b.Run(tc.name, func(b *testing.B) {
			h := &guardHost{budget: 1 << 14}
			mod := h.instantiate(b, tc.wasm)
			count := mod.ExportedFunction("count")
			ctx := context.Background()
			b.ResetTimer()
			for i := 0; i < b.N; i += n {
				if _, err := count.Call(ctx, n); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
