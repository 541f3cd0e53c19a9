package engine_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"testing"
)

// The fixtures are real proxy-wasm filters in testdata/<name>, each its own Go module on
// github.com/proxy-wasm/proxy-wasm-go-sdk, built with the standard toolchain as WASI reactors. Builds are cached
// by source hash under ${XDG_CACHE_HOME:-$HOME/.cache}/wasmesh/testwasm, so only changed fixtures rebuild.

var fixtureMu sync.Mutex

func cacheRoot(t testing.TB) string {
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			t.Fatalf("no cache dir: set XDG_CACHE_HOME or HOME: %v", err)
		}
		base = filepath.Join(home, ".cache")
	}
	return filepath.Join(base, "wasmesh")
}

// sourceHash hashes every file of the fixture directories plus the Go version that builds them.
func sourceHash(t testing.TB, dirs ...string) string {
	h := sha256.New()
	h.Write([]byte(runtime.Version()))
	var files []string
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("hash %s: %v", dir, err)
		}
	}
	sort.Strings(files)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		h.Write([]byte(f))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// cachedBuild returns the wasm built from testdata/<name>, calling build(src, out) only when no output for the
// current source hash (of the fixture and of the extra directories that go into the build) exists yet. build
// writes the module to out.
func cachedBuild(t testing.TB, name string, build func(src, out string), extra ...string) []byte {
	t.Helper()
	fixtureMu.Lock()
	defer fixtureMu.Unlock()
	src, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(cacheRoot(t), "testwasm", name+"-"+sourceHash(t, append([]string{src}, extra...)...)+".wasm")
	if b, err := os.ReadFile(out); err == nil {
		return b
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := out + ".tmp.wasm"
	build(src, tmp)
	if err := os.Rename(tmp, out); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// goFixture returns the wasm of testdata/<name>, a filter on the successor Go SDK, built as `wasmesh build` builds
// it: bridged, since the fixtures use the SDK version the builder's bridge was written for.
func goFixture(t testing.TB, name string) []byte { return builtFixture(t, name) }

// plainGoFixture returns the wasm of testdata/<name> built by the bare Go toolchain as a WASI reactor, unbridged:
// what `wasmesh build` produces for a successor-SDK version it has no bridge for, or a user's own `go build`.
func plainGoFixture(t testing.TB, name string) []byte {
	t.Helper()
	return cachedBuild(t, name, func(src, out string) {
		cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", out, ".")
		cmd.Dir = src
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "GOFLAGS=-mod=mod", "GOWORK=off")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build fixture %s: %v\n%s", name, err, b)
		}
	})
}
