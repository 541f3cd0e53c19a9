package builder

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/modfile"

	"github.com/wasmesh/wasmesh/internal/atomicfile"
)

// bridgeFS holds the ABI bridge injected into proxywasm/internal of the TinyGo-only SDK. The files carry the
// build tag wasmesh_bridge so that they are never compiled as part of this repository; the tag is rewritten
// when they are copied into the SDK view.
//
//go:embed bridge/tetratesdk/*.go
var bridgeFS embed.FS

const (
	bridgeSrcTag  = "//go:build wasmesh_bridge"
	bridgeDestTag = "//go:build wasip1 && !tinygo"
	// sdkMockFile is the SDK's stand-in host for native tests; the bridge replaces it in Wasm builds.
	sdkMockFile = "proxywasm/internal/abi_hostcalls_mock.go"
	internalDir = "proxywasm/internal"
)

// bridgeDigest changes whenever the embedded bridge changes, so stale views are never reused.
var bridgeDigest = func() string {
	var parts []string
	entries, _ := fs.ReadDir(bridgeFS, "bridge/tetratesdk")
	for _, e := range entries {
		b, _ := fs.ReadFile(bridgeFS, "bridge/tetratesdk/"+e.Name())
		parts = append(parts, e.Name(), string(b))
	}
	return hashKey(parts...)
}()

// sdkView returns a directory holding a copy of the SDK at sdkDir with the mock host removed and the bridge
// added. Views are immutable once created and named by their inputs; creation is atomic (build in a temporary
// directory, rename into place), so concurrent builds share one view safely.
func sdkView(cacheDir, sdkDir string) (string, error) {
	view := filepath.Join(cacheDir, "sdk", hashKey(sdkDir, bridgeDigest))
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
	if err := copySDK(sdkDir, tmp); err != nil {
		return "", fmt.Errorf("copy SDK %s into the build cache: %w", sdkDir, err)
	}
	entries, err := fs.ReadDir(bridgeFS, "bridge/tetratesdk")
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		src, err := fs.ReadFile(bridgeFS, "bridge/tetratesdk/"+e.Name())
		if err != nil {
			return "", err
		}
		src = bytes.Replace(src, []byte(bridgeSrcTag), []byte(bridgeDestTag), 1)
		if err := os.WriteFile(filepath.Join(tmp, internalDir, e.Name()), src, 0o444); err != nil {
			return "", err
		}
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

// copySDK copies the SDK's sources without its tests and without the mock host.
func copySDK(src, dst string) error {
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
		if slash == sdkMockFile || strings.HasSuffix(slash, "_test.go") || !d.Type().IsRegular() {
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
func bridgedModfile(ctx context.Context, g goCmd, cacheDir, sdkDir string) (string, error) {
	gomod, err := g.run(ctx, nil, "env", "GOMOD")
	if err != nil {
		return "", err
	}
	gomod = strings.TrimSpace(gomod)
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("%s is not inside a Go module: run `go mod init` and `go get %s@v0.24.0` there first", g.dir, TetrateSDK)
	}
	view, err := sdkView(cacheDir, sdkDir)
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
	if err := mf.AddReplace(TetrateSDK, "", view, ""); err != nil {
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
