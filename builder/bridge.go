package builder

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"golang.org/x/mod/modfile"

	"github.com/wasmesh/wasmesh/internal/atomicfile"
)

// bridgeFS holds the ABI bridges injected into proxywasm/internal of the SDKs: bridge/shared goes into every
// bridged SDK, bridge/<sdk> into that SDK only. The files carry the build tag wasmesh_bridge so that they are never
// compiled as part of this repository; the tag is rewritten when they are copied into the SDK view.
//
//go:embed bridge/shared/*.go bridge/tetratesdk/*.go bridge/successorsdk/*.go
var bridgeFS embed.FS

const (
	bridgeSrcTag  = "//go:build wasmesh_bridge"
	bridgeDestTag = "//go:build wasip1 && !tinygo"
	internalDir   = "proxywasm/internal"
)

// sdkBridge says how the builder bridges one SDK.
type sdkBridge struct {
	module string
	// dir holds the SDK's own bridge files in bridgeFS, copied beside those of bridge/shared.
	dir string
	// versions are the SDK versions the bridge was written and tested against; nil means every version.
	versions []string
	// drop are SDK files (slash paths in the module) left out of the view.
	drop []string
	// edits are applied to the view's copy of the SDK; each must find its text exactly once.
	edits []sourceEdit
	// digest changes whenever any of the above or the embedded files change, so stale views are never reused.
	digest string
}

// sourceEdit replaces old with new in file (a slash path in the SDK module).
type sourceEdit struct {
	file, old, new string
}

// tetrateBridge: the TinyGo-only SDK cannot be built by gc at all without it, so every version is bridged. Its
// mock host (for native tests) is replaced by the bridge's host calls in Wasm builds.
var tetrateBridge = newSDKBridge(&sdkBridge{
	module: TetrateSDK,
	dir:    "bridge/tetratesdk",
	drop:   []string{internalDir + "/abi_hostcalls_mock.go"},
})

// successorBridge: the successor SDK builds with gc as it is, so it is bridged only at the versions whose
// internals the bridge was checked against; any other version builds unbridged. The SDK declares its callbacks
// and host calls itself, so the view loses the //go:wasmexport of each callback the bridge exports instead, and
// the host calls that return data (and proxy_http_call) are renamed for the bridge's wrappers to call.
var successorBridge = newSDKBridge(&sdkBridge{
	module:   SuccessorSDK,
	dir:      "bridge/successorsdk",
	versions: []string{"v0.0.0-20260105142703-44c7d5847745"},
	edits: append(takeExports(map[string][][2]string{
		"abi_callback_alloc.go": {{"proxy_on_memory_allocate", "proxyOnMemoryAllocate"}},
		"abi_callback_lifecycle.go": {
			{"proxy_on_context_create", "proxyOnContextCreate"}, {"proxy_on_log", "proxyOnLog"},
			{"proxy_on_done", "proxyOnDone"}, {"proxy_on_delete", "proxyOnDelete"},
		},
		"abi_callback_l7.go": {
			{"proxy_on_request_headers", "proxyOnRequestHeaders"}, {"proxy_on_request_body", "proxyOnRequestBody"},
			{"proxy_on_request_trailers", "proxyOnRequestTrailers"},
			{"proxy_on_response_headers", "proxyOnResponseHeaders"}, {"proxy_on_response_body", "proxyOnResponseBody"},
			{"proxy_on_response_trailers", "proxyOnResponseTrailers"},
		},
	}), renameImports("abi_hostcalls.go", "ProxyGetProperty", "ProxyGetSharedData", "ProxyDequeueSharedQueue",
		"ProxyGetHeaderMapValue", "ProxyGetHeaderMapPairs", "ProxyGetBufferBytes", "ProxyCallForeignFunction",
		"ProxyHttpCall")...),
})

// bridges are the SDKs the builder knows how to bridge, by module path.
var bridges = map[string]*sdkBridge{TetrateSDK: tetrateBridge, SuccessorSDK: successorBridge}

// takeExports removes the SDK's //go:wasmexport directive of each callback (export name, function) in each file
// of proxywasm/internal; the function stays, for the bridge's export to call.
func takeExports(files map[string][][2]string) []sourceEdit {
	var edits []sourceEdit
	for file, fns := range files {
		for _, f := range fns {
			edits = append(edits, sourceEdit{
				file: internalDir + "/" + file,
				old:  "//go:wasmexport " + f[0] + "\nfunc " + f[1] + "(",
				new:  "func " + f[1] + "(",
			})
		}
	}
	sort.Slice(edits, func(i, j int) bool { return edits[i].file+edits[i].old < edits[j].file+edits[j].old })
	return edits
}

// renameImports gives host-call declarations of file in proxywasm/internal the prefix wasmeshImport; the bridge
// declares functions of the SDK's names that call them.
func renameImports(file string, names ...string) []sourceEdit {
	edits := make([]sourceEdit, len(names))
	for i, n := range names {
		edits[i] = sourceEdit{file: internalDir + "/" + file, old: "\nfunc " + n + "(", new: "\nfunc wasmeshImport" + n + "("}
	}
	return edits
}

func newSDKBridge(b *sdkBridge) *sdkBridge {
	parts := []string{b.module}
	parts = append(parts, b.versions...)
	parts = append(parts, b.drop...)
	for _, e := range b.edits {
		parts = append(parts, e.file, e.old, e.new)
	}
	for _, dir := range []string{"bridge/shared", b.dir} {
		entries, _ := fs.ReadDir(bridgeFS, dir)
		for _, e := range entries {
			src, _ := fs.ReadFile(bridgeFS, dir+"/"+e.Name())
			parts = append(parts, e.Name(), string(src))
		}
	}
	b.digest = hashKey(parts...)
	return b
}

// covers reports whether the bridge was tested against that version of its SDK.
func (b *sdkBridge) covers(version string) bool {
	if b.versions == nil {
		return true
	}
	for _, v := range b.versions {
		if v == version {
			return true
		}
	}
	return false
}

// sdkView returns a directory holding a copy of the SDK at sdkDir with the bridge applied: files dropped, edits
// made, bridge files added. Views are immutable once created and named by their inputs; creation is atomic (build
// in a temporary directory, rename into place), so concurrent builds share one view safely, and a view that
// cannot be made complete (an edit whose text is not there) leaves nothing behind.
func sdkView(cacheDir, sdkDir string, b *sdkBridge) (string, error) {
	view := filepath.Join(cacheDir, "sdk", hashKey(sdkDir, b.digest))
	if _, err := os.Stat(filepath.Join(view, "go.mod")); err == nil {
		return view, nil
	}
	if err := os.MkdirAll(filepath.Dir(view), 0o755); err != nil {
		return "", fmt.Errorf("build cache %s: %w", cacheDir, err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(view), ".view-*")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	if err := copySDK(sdkDir, tmp, b.drop); err != nil {
		return "", fmt.Errorf("copy SDK %s into the build cache: %w", sdkDir, err)
	}
	if err := applyEdits(tmp, b.edits); err != nil {
		return "", fmt.Errorf("bridge %s at %s: %w (is the SDK replaced by a modified copy? build against the "+
			"released module, or a version the bridge does not cover, which builds unbridged)", b.module, sdkDir, err)
	}
	exports, err := addBridgeFiles(tmp, b)
	if err != nil {
		return "", err
	}
	if err := checkExports(tmp, exports); err != nil {
		return "", fmt.Errorf("bridge %s at %s: %w", b.module, sdkDir, err)
	}
	if err := os.Rename(tmp, view); err != nil {
		// Another build created the same view first; it is identical by construction.
		if _, statErr := os.Stat(filepath.Join(view, "go.mod")); statErr == nil {
			return view, nil
		}
		return "", err
	}
	return view, nil
}

// applyEdits makes every edit in the view at dir, or returns an error naming the file and the text it lacks.
func applyEdits(dir string, edits []sourceEdit) error {
	for _, e := range edits {
		path := filepath.Join(dir, filepath.FromSlash(e.file))
		src, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("%s: %w", e.file, err)
		}
		if n := bytes.Count(src, []byte(e.old)); n != 1 {
			return fmt.Errorf("%s: expected the text %q exactly once, found it %d times: the SDK's sources are not "+
				"the ones the bridge was written for", e.file, e.old, n)
		}
		// The copy is read-only, as every file of a view: open it for this one write.
		if err := os.Chmod(path, 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(path, bytes.Replace(src, []byte(e.old), []byte(e.new), 1), 0o644); err != nil {
			return err
		}
		if err := os.Chmod(path, 0o444); err != nil {
			return err
		}
	}
	return nil
}

// addBridgeFiles writes the shared and the SDK's own bridge files into the view's proxywasm/internal and returns
// the names the bridge exports (its //go:wasmexport directives).
func addBridgeFiles(dir string, b *sdkBridge) (map[string]bool, error) {
	exports := map[string]bool{}
	for _, src := range []string{"bridge/shared", b.dir} {
		entries, err := fs.ReadDir(bridgeFS, src)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			data, err := fs.ReadFile(bridgeFS, src+"/"+e.Name())
			if err != nil {
				return nil, err
			}
			for _, line := range strings.Split(string(data), "\n") {
				if name, ok := strings.CutPrefix(line, wasmexportPrefix); ok {
					exports[strings.TrimSpace(name)] = true
				}
			}
			target := filepath.Join(dir, internalDir, e.Name())
			if _, err := os.Stat(target); err == nil {
				return nil, fmt.Errorf("bridge %s: the SDK already has a file %s/%s", b.module, internalDir, e.Name())
			}
			data = bytes.Replace(data, []byte(bridgeSrcTag), []byte(bridgeDestTag), 1)
			if err := os.WriteFile(target, data, 0o444); err != nil {
				return nil, err
			}
		}
	}
	return exports, nil
}

const wasmexportPrefix = "//go:wasmexport "

// checkExports verifies that no SDK file in the view's proxywasm/internal still exports a name the bridge
// exports: two exports of one name would not link, and an edit that missed one must not go unnoticed.
func checkExports(dir string, exports map[string]bool) error {
	entries, err := os.ReadDir(filepath.Join(dir, internalDir))
	if err != nil {
		return err
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "zz_wasmesh_") || !strings.HasSuffix(e.Name(), ".go") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, internalDir, e.Name()))
		if err != nil {
			return err
		}
		for _, line := range strings.Split(string(data), "\n") {
			if name, ok := strings.CutPrefix(line, wasmexportPrefix); ok && exports[strings.TrimSpace(name)] {
				return fmt.Errorf("%s/%s still exports %s, which the bridge exports", internalDir, e.Name(), strings.TrimSpace(name))
			}
		}
	}
	return nil
}

// copySDK copies the SDK's sources without its tests and without the files in drop.
func copySDK(src, dst string, drop []string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		slash := filepath.ToSlash(rel)
		if slices.Contains(drop, slash) || strings.HasSuffix(slash, "_test.go") || !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o444)
	})
}

// bridgedModfile writes an alternate go.mod (and go.sum) for the filter's module that replaces the SDK with its
// bridged view, and returns its path for -modfile. The filter's own go.mod and go.sum are only read.
func bridgedModfile(ctx context.Context, g goCmd, cacheDir, sdkDir string, b *sdkBridge) (string, error) {
	gomod, err := g.run(ctx, nil, "env", "GOMOD")
	if err != nil {
		return "", err
	}
	gomod = strings.TrimSpace(gomod)
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("%s is not inside a Go module: run `go mod init` and `go get %s` there first", g.dir, b.module)
	}
	view, err := sdkView(cacheDir, sdkDir, b)
	if err != nil {
		return "", err
	}
	data, err := os.ReadFile(gomod)
	if err != nil {
		return "", err
	}
	mf, err := modfile.Parse(gomod, data, nil)
	if err != nil {
		return "", fmt.Errorf("parse %s: %w", gomod, err)
	}
	// AddReplace overrides any replace the filter already has for the SDK (a local checkout, say): the view
	// was copied from that very directory.
	if err := mf.AddReplace(b.module, "", view, ""); err != nil {
		return "", err
	}
	out, err := mf.Format()
	if err != nil {
		return "", err
	}
	sum, err := os.ReadFile(strings.TrimSuffix(gomod, ".mod") + ".sum")
	if err != nil && !os.IsNotExist(err) {
		return "", err
	}
	dir := filepath.Join(cacheDir, "modfile", hashKey(gomod))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, "go.mod")
	if err := writeIfChanged(filepath.Join(dir, "go.sum"), unionLines(filepath.Join(dir, "go.sum"), sum)); err != nil {
		return "", err
	}
	if err := writeIfChanged(path, out); err != nil {
		return "", err
	}
	return path, nil
}

// unionLines returns data plus the lines of the file at path that data lacks: -mod=mod records checksums the
// build needed in the alternate go.sum, and keeping them spares the next build the work.
func unionLines(path string, data []byte) []byte {
	old, err := os.ReadFile(path)
	if err != nil {
		return data
	}
	have := map[string]bool{}
	for _, l := range strings.Split(string(data), "\n") {
		have[l] = true
	}
	out := append([]byte(nil), data...)
	for _, l := range strings.Split(string(old), "\n") {
		if l != "" && !have[l] {
			if len(out) > 0 && out[len(out)-1] != '\n' {
				out = append(out, '\n')
			}
			out = append(out, l...)
			out = append(out, '\n')
		}
	}
	return out
}

// writeIfChanged replaces path atomically, and not at all when it already holds data, so that concurrent builds
// of one filter never see a torn file.
func writeIfChanged(path string, data []byte) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	return atomicfile.Write(path, data, 0o600)
}
