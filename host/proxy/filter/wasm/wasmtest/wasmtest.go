// Package wasmtest builds proxy-wasm filters for the data plane's tests and benchmarks with wasmesh's own
// builder (the standard Go toolchain, no TinyGo), caching each module by a hash of its sources under
// ${XDG_CACHE_HOME:-$HOME/.cache}/wasmesh/proxytest so only changed filters rebuild.
//
//	path := wasmtest.Build(t, "../../../../builder/testdata/tinygostyle") // a file path for file:// URLs
package wasmtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"testing"

	"github.com/wasmesh/wasmesh/builder"
)

var mu sync.Mutex

// Build returns the path of the module built from the filter in dir.
func Build(tb testing.TB, dir string) string {
	tb.Helper()
	mu.Lock()
	defer mu.Unlock()
	abs, err := filepath.Abs(dir)
	if err != nil {
		tb.Fatal(err)
	}
	out := filepath.Join(cacheDir(tb), filepath.Base(abs)+"-"+sourceHash(tb, abs)+".wasm")
	if _, err := os.Stat(out); err == nil {
		return out
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		tb.Fatal(err)
	}
	tb.Logf("building %s with the wasmesh builder (cached afterwards)", abs)
	if _, err := builder.Build(context.Background(), builder.Options{Dir: abs, Output: out}); err != nil {
		tb.Fatalf("build %s: %v", abs, err)
	}
	return out
}

// CompileCache is a directory for the engine's compilation cache (engine.Config.CacheDir), so tests compile a
// module's machine code once across runs.
func CompileCache(tb testing.TB) string { return filepath.Join(cacheDir(tb), "compiled") }

func cacheDir(tb testing.TB) string {
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			tb.Fatalf("no cache directory: set XDG_CACHE_HOME or HOME: %v", err)
		}
		base = filepath.Join(home, ".cache")
	}
	return filepath.Join(base, "wasmesh", "proxytest")
}

// sourceHash covers every file of the filter, the builder's own sources (the ABI bridge changes modules) and
// the Go version.
func sourceHash(tb testing.TB, dir string) string {
	h := sha256.New()
	h.Write([]byte(runtime.Version()))
	var files []string
	roots := []string{dir, builderDir()}
	// A filter in a module shared with others (filters/auth in filters/) also depends on the module's go.mod and
	// shared packages (filters/internal): hash the whole module so a change there rebuilds it.
	if m := moduleRoot(dir); m != "" && m != dir && m != repoRoot() {
		roots = append(roots, m)
	}
	for _, root := range roots {
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			// Other roots' testdata are not the filter's sources; dir itself is hashed by its own walk.
			if d.IsDir() && root != dir && (d.Name() == "testdata" || p == dir) {
				return filepath.SkipDir
			}
			if !d.IsDir() {
				files = append(files, p)
			}
			return nil
		})
	}
	sort.Strings(files)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		h.Write([]byte(f))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// moduleRoot is the nearest directory at or above dir with a go.mod, "" if none.
func moduleRoot(dir string) string {
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return ""
		}
	}
}

func repoRoot() string { return filepath.Clean(filepath.Join(builderDir(), "..")) }

func builderDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "..", "..", "builder")
}
