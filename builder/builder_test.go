package builder_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/wasmesh/wasmesh/builder"
	"github.com/wasmesh/wasmesh/host/abi"
)

// buildOnce shares one build per fixture across the tests of this package: a cold Go build for wasip1 costs
// seconds, a warm one a few hundred milliseconds.
var (
	buildMu    sync.Mutex
	buildCache = map[string]*builder.Result{}
	buildDir   string
)

func TestMain(m *testing.M) {
	var err error
	buildDir, err = os.MkdirTemp("", "wasmesh-builder-test-")
	if err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(buildDir)
	os.Exit(code)
}

func build(t *testing.T, fixture string) *builder.Result {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if r, ok := buildCache[fixture]; ok {
		return r
	}
	out := filepath.Join(buildDir, fixture+".wasm")
	r, err := builder.Build(context.Background(), builder.Options{Dir: filepath.Join("testdata", fixture), Output: out})
	if err != nil {
		t.Fatalf("build %s: %v", fixture, err)
	}
	buildCache[fixture] = r
	return r
}

func TestBuildDetectsSDKAndValidates(t *testing.T) {
	tests := []struct {
		fixture string
		sdk     string
		bridged bool
		abi     abi.Version
	}{
		{"tinygostyle", builder.TetrateSDK, true, abi.V0_2_0},
		{"successor", builder.SuccessorSDK, true, abi.V0_2_0},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			r := build(t, tt.fixture)
			if r.SDK.Path != tt.sdk || r.SDK.Bridged != tt.bridged {
				t.Errorf("SDK = %+v, want %s bridged=%v", r.SDK, tt.sdk, tt.bridged)
			}
			if r.Module.ABIVersion != tt.abi {
				t.Errorf("ABI = %q, want %q", r.Module.ABIVersion, tt.abi)
			}
			if r.Module.Allocator != abi.ExportMemoryAllocate || r.Module.EntryPoint != abi.ExportInitialize {
				t.Errorf("allocator %q entry %q", r.Module.Allocator, r.Module.EntryPoint)
			}
			// A bridged module carries the bridge's wasmesh exports, which make the wasmesh host fast.
			exports := exportNames(t, r.Path)
			for _, name := range []string{"wasmesh_skip_callbacks", "wasmesh_scratch_arena"} {
				if contains(exports, name) != tt.bridged {
					t.Errorf("export %s present = %v, want %v", name, !tt.bridged, tt.bridged)
				}
			}
			st, err := os.Stat(r.Path)
			if err != nil || st.Size() != r.Module.Size {
				t.Fatalf("output %s: %v (size %d, reported %d)", r.Path, err, st.Size(), r.Module.Size)
			}
		})
	}
}

func TestBuildErrors(t *testing.T) {
	tests := []struct {
		fixture string
		check   func(error) bool
		want    string
	}{
		{"broken", func(err error) bool { var ce *builder.CompileError; return errors.As(err, &ce) }, "main.go:7"},
		{"notproxywasm", func(err error) bool { return errors.Is(err, builder.ErrInvalidModule) }, "proxy_abi_version"},
		{"does-not-exist", func(err error) bool { return err != nil }, "not found"},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.wasm")
			_, err := builder.Build(context.Background(), builder.Options{Dir: filepath.Join("testdata", tt.fixture), Output: out})
			if err == nil || !tt.check(err) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tt.want)
			}
			if _, statErr := os.Stat(out); !os.IsNotExist(statErr) {
				t.Errorf("a failed build left %s behind", out)
			}
			entries, _ := os.ReadDir(filepath.Dir(out))
			if len(entries) != 0 {
				t.Errorf("a failed build left temporary files: %v", entries)
			}
		})
	}
}

// TestBridgeRunsInHost proves the ABI bridge end to end: the built module runs in a minimal proxy-wasm host,
// main runs once even though the host creates the root context before on_vm_start, configuration and header
// values cross the boundary both ways through the guest allocator, and thousands of streams later (enough for
// the guest's garbage collector to run many times) every value still arrives intact.
func TestBridgeRunsInHost(t *testing.T) {
	for _, fixture := range []string{"tinygostyle", "successor"} {
		t.Run(fixture, func(t *testing.T) {
			r := build(t, fixture)
			h := newTestHost(t, r.Path)
			h.call(t, "proxy_on_context_create", 1, 0)
			h.config = []byte("hello")
			if got := h.call(t, "proxy_on_vm_start", 1, 0); got != 1 {
				t.Fatalf("on_vm_start = %d", got)
			}
			if got := h.call(t, "proxy_on_configure", 1, uint64(len(h.config))); got != 1 {
				t.Fatalf("on_configure = %d", got)
			}
			want := "hello, alice"
			if fixture == "successor" {
				want = "hi, alice"
			}
			for id := uint64(2); id < 3000; id++ {
				user := fmt.Sprintf("alice%d", id)
				h.headers = [][2]string{{":path", "/"}, {"x-user", user}}
				h.call(t, "proxy_on_context_create", id, 1)
				if got := h.call(t, "proxy_on_request_headers", id, 2, 1); got != 0 {
					t.Fatalf("stream %d: on_request_headers = %d, want Continue", id, got)
				}
				if g := h.header("x-greeting"); g != strings.Replace(want, "alice", user, 1) {
					t.Fatalf("stream %d: x-greeting = %q", id, g)
				}
				if fixture == "tinygostyle" && h.header("x-seen") != ":path,x-user" {
					t.Fatalf("stream %d: x-seen = %q", id, h.header("x-seen"))
				}
				h.call(t, "proxy_on_done", id)
				h.call(t, "proxy_on_log", id)
				h.call(t, "proxy_on_delete", id)
			}
			if !h.logged("greeted alice2999") {
				t.Errorf("log lines do not show the last stream: %q", h.logs[len(h.logs)-3:])
			}
		})
	}
	t.Run("local response and failed configure", func(t *testing.T) {
		h := newTestHost(t, build(t, "tinygostyle").Path)
		h.config = []byte("hello")
		h.call(t, "proxy_on_vm_start", 1, 0)
		h.call(t, "proxy_on_context_create", 1, 0)
		h.call(t, "proxy_on_configure", 1, 5)
		h.headers = [][2]string{{":path", "/"}}
		h.call(t, "proxy_on_context_create", 2, 1)
		if got := h.call(t, "proxy_on_request_headers", 2, 1, 1); got != 1 {
			t.Fatalf("on_request_headers = %d, want Pause", got)
		}
		if h.localStatus != 401 || h.localBody != "who are you?" {
			t.Fatalf("local response %d %q", h.localStatus, h.localBody)
		}
		h.config = []byte("fail")
		h.call(t, "proxy_on_context_create", 10, 0)
		if got := h.call(t, "proxy_on_configure", 10, 4); got != 0 {
			t.Fatalf("on_configure with a failing config = %d, want 0", got)
		}
		if !h.logged("configuration says fail") {
			t.Errorf("missing error log: %q", h.logs)
		}
	})
}

// testHost implements just enough of the proxy-wasm host ABI to drive request headers; the real host lives in
// host/engine. Imports it does not implement answer OK.
type testHost struct {
	mod         api.Module
	config      []byte
	headers     [][2]string
	logs        []string
	localStatus uint32
	localBody   string
}

func newTestHost(t *testing.T, path string) *testHost {
	t.Helper()
	ctx := context.Background()
	bin, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rt := wazero.NewRuntime(ctx)
	t.Cleanup(func() { rt.Close(ctx) })
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)
	cm, err := rt.CompileModule(ctx, bin)
	if err != nil {
		t.Fatal(err)
	}
	h := &testHost{}
	env := rt.NewHostModuleBuilder("env")
	for _, def := range cm.ImportedFunctions() {
		mod, name, _ := def.Import()
		if mod != "env" {
			continue
		}
		fn := h.function(name)
		env.NewFunctionBuilder().WithGoModuleFunction(fn, def.ParamTypes(), def.ResultTypes()).Export(name)
	}
	if _, err := env.Instantiate(ctx); err != nil {
		t.Fatal(err)
	}
	h.mod, err = rt.InstantiateModule(ctx, cm, wazero.NewModuleConfig().WithStartFunctions("_initialize"))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *testHost) call(t *testing.T, name string, args ...uint64) uint64 {
	t.Helper()
	res, err := h.mod.ExportedFunction(name).Call(context.Background(), args...)
	if err != nil {
		t.Fatalf("%s%v: %v", name, args, err)
	}
	if len(res) == 0 {
		return 0
	}
	return res[0]
}

func (h *testHost) header(k string) string {
	for _, kv := range h.headers {
		if kv[0] == k {
			return kv[1]
		}
	}
	return ""
}

func (h *testHost) logged(s string) bool {
	for _, l := range h.logs {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

func str(m api.Module, ptr, size uint64) string {
	b, _ := m.Memory().Read(uint32(ptr), uint32(size))
	return string(b)
}

// give copies b into memory obtained from the guest allocator and writes its address and size to the guest's
// out-parameters.
func give(ctx context.Context, m api.Module, b []byte, retPtr, retSize uint64) {
	res, err := m.ExportedFunction("proxy_on_memory_allocate").Call(ctx, uint64(len(b)))
	if err != nil {
		panic(err)
	}
	m.Memory().Write(uint32(res[0]), b)
	m.Memory().WriteUint32Le(uint32(retPtr), uint32(res[0]))
	m.Memory().WriteUint32Le(uint32(retSize), uint32(len(b)))
}

func (h *testHost) function(name string) api.GoModuleFunc {
	const ok, notFound = 0, 1
	switch name {
	case "proxy_log":
		return func(_ context.Context, m api.Module, s []uint64) {
			h.logs = append(h.logs, str(m, s[1], s[2]))
			s[0] = ok
		}
	case "proxy_get_buffer_bytes":
		return func(ctx context.Context, m api.Module, s []uint64) {
			if uint32(s[0]) != 7 { // plugin configuration
				s[0] = notFound
				return
			}
			give(ctx, m, h.config, s[3], s[4])
			s[0] = ok
		}
	case "proxy_get_header_map_value":
		return func(ctx context.Context, m api.Module, s []uint64) {
			for _, kv := range h.headers {
				if kv[0] == str(m, s[1], s[2]) {
					give(ctx, m, []byte(kv[1]), s[3], s[4])
					s[0] = ok
					return
				}
			}
			s[0] = notFound
		}
	case "proxy_get_header_map_pairs":
		return func(ctx context.Context, m api.Module, s []uint64) {
			give(ctx, m, serialize(h.headers), s[1], s[2])
			s[0] = ok
		}
	case "proxy_add_header_map_value":
		return func(_ context.Context, m api.Module, s []uint64) {
			h.headers = append(h.headers, [2]string{str(m, s[1], s[2]), str(m, s[3], s[4])})
			s[0] = ok
		}
	case "proxy_replace_header_map_value":
		return func(_ context.Context, m api.Module, s []uint64) {
			k, v := str(m, s[1], s[2]), str(m, s[3], s[4])
			for i := range h.headers {
				if h.headers[i][0] == k {
					h.headers[i][1] = v
					s[0] = ok
					return
				}
			}
			h.headers = append(h.headers, [2]string{k, v})
			s[0] = ok
		}
	case "proxy_send_local_response":
		return func(_ context.Context, m api.Module, s []uint64) {
			h.localStatus = uint32(s[0])
			h.localBody = str(m, s[3], s[4])
			s[0] = ok
		}
	}
	return func(_ context.Context, _ api.Module, s []uint64) {
		if len(s) > 0 {
			s[0] = ok
		}
	}
}

// serialize encodes header pairs in the proxy-wasm map format: count, the key and value sizes, then each key
// and value followed by a NUL.
func serialize(pairs [][2]string) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(pairs)))
	for _, kv := range pairs {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(kv[0])))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(kv[1])))
	}
	for _, kv := range pairs {
		b = append(append(append(append(b, kv[0]...), 0), kv[1]...), 0)
	}
	return b
}

// TestBuildTagsAndWholeSDK builds a multi-file filter that uses every area of the SDK, with and without a build
// tag, and checks that the tag selected the right files and that gc (not TinyGo) files were compiled.
func TestBuildTagsAndWholeSDK(t *testing.T) {
	for _, tags := range [][]string{nil, {"extra"}} {
		t.Run(fmt.Sprintf("tags=%v", tags), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "kitchensink.wasm")
			r, err := builder.Build(context.Background(), builder.Options{Dir: "testdata/kitchensink", Output: out, Tags: tags, Strip: true, TrimPath: true})
			if err != nil {
				t.Fatal(err)
			}
			for _, cb := range []string{"proxy_on_tick", "proxy_on_queue_ready", "proxy_on_http_call_response", "proxy_on_downstream_data"} {
				if !contains(r.Module.Callbacks, cb) {
					t.Errorf("callback %s not exported", cb)
				}
			}
			h := newTestHost(t, out)
			h.call(t, "proxy_on_context_create", 1, 0)
			if h.call(t, "proxy_on_vm_start", 1, 0) != 1 || h.call(t, "proxy_on_configure", 1, 0) != 1 {
				t.Fatal("plugin did not start")
			}
			h.call(t, "proxy_on_context_create", 2, 1)
			h.call(t, "proxy_on_request_headers", 2, 0, 0)
			if h.header("x-runtime") != "gc" {
				t.Errorf("x-runtime = %q, want gc", h.header("x-runtime"))
			}
			if got, want := h.header("x-extra") == "on", len(tags) > 0; got != want {
				t.Errorf("x-extra present = %v, want %v", got, want)
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// exportNames lists the functions the module at path exports.
func exportNames(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	m, err := rt.CompileModule(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for name := range m.ExportedFunctions() {
		names = append(names, name)
	}
	return names
}

// pinnedSuccessor is the successor SDK version the bridge was written and tested against (the fixture's).
const pinnedSuccessor = "v0.0.0-20260105142703-44c7d5847745"

// successorCopy copies the successor SDK from the module cache into a directory of its own, for a filter to
// replace the SDK with, and lets edit change the copy.
func successorCopy(t *testing.T, edit func(dir string)) string {
	t.Helper()
	gomodcache, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(strings.TrimSpace(string(gomodcache)), "github.com/proxy-wasm/proxy-wasm-go-sdk@"+pinnedSuccessor)
	dst := filepath.Join(t.TempDir(), "sdk")
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatalf("copy the SDK (run go mod download in testdata/successor first): %v", err)
	}
	if edit != nil {
		edit(dst)
	}
	return dst
}

// successorFilter writes the successor fixture as a module that requires the SDK at version and replaces it with
// the directory sdk.
func successorFilter(t *testing.T, version, sdk string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "filter")
	if err := os.CopyFS(dir, os.DirFS("testdata/successor")); err != nil {
		t.Fatal(err)
	}
	gomod := "module example.com/successor\n\ngo 1.24\n\nrequire " + builder.SuccessorSDK + " " + version +
		"\n\nreplace " + builder.SuccessorSDK + " => " + sdk + "\n"
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestSuccessorBridgeVersions: the successor SDK is bridged only at the version the bridge was tested against; any
// other version builds as it is, and the result says so.
func TestSuccessorBridgeVersions(t *testing.T) {
	sdk := successorCopy(t, nil)
	tests := []struct {
		version string
		bridged bool
		note    string
	}{
		{pinnedSuccessor, true, ""},
		{"v0.0.0-20250101000000-0123456789ab", false, "built as it is: the wasmesh bridge was tested against " + pinnedSuccessor},
	}
	for _, tt := range tests {
		t.Run(tt.version, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "f.wasm")
			r, err := builder.Build(context.Background(), builder.Options{
				Dir: successorFilter(t, tt.version, sdk), Output: out, CacheDir: t.TempDir(),
			})
			if err != nil {
				t.Fatal(err)
			}
			if r.SDK.Version != tt.version || r.SDK.Bridged != tt.bridged || r.SDK.BridgeNote != tt.note {
				t.Errorf("SDK = %+v, want version %s bridged=%v note %q", r.SDK, tt.version, tt.bridged, tt.note)
			}
			if got := contains(exportNames(t, out), "wasmesh_skip_callbacks"); got != tt.bridged {
				t.Errorf("wasmesh_skip_callbacks exported = %v, want %v", got, tt.bridged)
			}
			// Bridged or not, the filter behaves the same in a host.
			h := newTestHost(t, out)
			h.call(t, "proxy_on_context_create", 1, 0)
			h.call(t, "proxy_on_context_create", 2, 1)
			h.headers = [][2]string{{"x-user", "ann"}}
			h.call(t, "proxy_on_request_headers", 2, 1, 0)
			if got := h.header("x-greeting"); got != "hi, ann" {
				t.Errorf("x-greeting = %q", got)
			}
		})
	}
}

// TestSuccessorBridgeMissingText: a copy of the SDK that lacks a text the bridge must edit fails the build with an
// error naming the file and the text, and leaves neither a view nor a module behind.
func TestSuccessorBridgeMissingText(t *testing.T) {
	sdk := successorCopy(t, func(dir string) {
		path := filepath.Join(dir, "proxywasm/internal/abi_callback_l7.go")
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		src = []byte(strings.Replace(string(src), "//go:wasmexport proxy_on_request_body\n", "", 1))
		if err := os.Chmod(path, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, src, 0o644); err != nil {
			t.Fatal(err)
		}
	})
	out := filepath.Join(t.TempDir(), "f.wasm")
	cache := t.TempDir()
	_, err := builder.Build(context.Background(), builder.Options{
		Dir: successorFilter(t, pinnedSuccessor, sdk), Output: out, CacheDir: cache,
	})
	for _, want := range []string{"abi_callback_l7.go", "proxy_on_request_body", "found it 0 times"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("err = %v, want one mentioning %q", err, want)
		}
	}
	if _, statErr := os.Stat(out); !os.IsNotExist(statErr) {
		t.Errorf("a failed build left %s behind", out)
	}
	var left []string
	filepath.WalkDir(cache, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			left = append(left, p)
		}
		return nil
	})
	if entries, _ := os.ReadDir(filepath.Join(cache, "sdk")); len(entries) != 0 || len(left) != 0 {
		t.Errorf("the failed bridge left %v and files %v in the cache", entries, left)
	}
}
