// Package builder compiles proxy-wasm filters written in Go into Wasm modules with the standard Go toolchain
// (GOOS=wasip1 GOARCH=wasm -buildmode=c-shared), no TinyGo.
//
// Filters written against github.com/tetratelabs/proxy-wasm-go-sdk (a TinyGo-only SDK) build unchanged: the
// builder makes a build-time copy of the SDK outside the module cache in which the SDK's mock host is replaced by
// an ABI bridge (go:wasmimport host calls, go:wasmexport callbacks), and points the build at it through an
// alternate go.mod (-modfile), so neither the filter's go.mod nor the module cache is touched. The bridge also
// keeps the SDK's work per stream down for gc's slow wasm code (HTTP stream contexts in a table of its own, small
// host-call results carved from shared chunks) and tells the wasmesh host which callbacks are the SDK's no-ops
// (host/engine/RATIONALE.md); the SDK's API and behaviour are unchanged. Filters written
// against the successor SDK github.com/proxy-wasm/proxy-wasm-go-sdk are native Go reactors; at the versions the
// bridge was tested against (successorBridge in bridge.go) they get the same fast paths, in a view where the SDK's
// own exports of the callbacks the bridge takes over are removed by exact, verified edits; at any other version
// they build as they are, and Result.SDK.BridgeNote says so.
// Every module is validated before it is written: an output file is either a loadable proxy-wasm module or absent.
//
//	res, err := builder.Build(ctx, builder.Options{Dir: "filters/auth", Output: "bin/filters/auth.wasm"})
//	if err == nil {
//		fmt.Println(res.Path, res.Module.SHA256, res.Module.ABIVersion)
//	}
package builder

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/wasmesh/wasmesh/host/inspect"
)

// Module paths of the SDKs the builder recognises.
const (
	TetrateSDK   = "github.com/tetratelabs/proxy-wasm-go-sdk"
	SuccessorSDK = "github.com/proxy-wasm/proxy-wasm-go-sdk"
)

// Options says what to build and how. The zero value of every field but Dir is usable.
type Options struct {
	// Dir is the directory of the filter's main package.
	Dir string
	// Output is the module file to write; default: <base of Dir>.wasm in the current directory.
	Output string
	// Tags, LDFlags and TrimPath are passed to `go build` as -tags, -ldflags and -trimpath.
	Tags     []string
	LDFlags  string
	TrimPath bool
	// Strip drops the symbol table and DWARF data (-ldflags=-s -w): smaller modules, no names in guest traces.
	Strip bool
	// GoBinary is the go command to run; default "go" from PATH.
	GoBinary string
	// CacheDir holds the bridged SDK copies and alternate go.mod files; default $XDG_CACHE_HOME/wasmesh/build.
	CacheDir string
	// Log receives the go command's progress output (-x style lines are not requested); may be nil.
	Log io.Writer
}

// Result describes a module that was built and validated.
type Result struct {
	Path     string
	SDK      SDK
	Module   *inspect.Module
	Duration time.Duration
}

// SDK identifies the proxy-wasm SDK a filter was built against.
type SDK struct {
	Path    string `json:"path,omitempty"`
	Version string `json:"version,omitempty"`
	// Bridged is true when the builder injected its ABI bridge: always for the TinyGo-only SDK, and for the
	// successor SDK at the versions the bridge was tested against.
	Bridged bool `json:"bridged"`
	// BridgeNote says why an SDK the builder can bridge was built as it is: a version the bridge was not tested
	// against.
	BridgeNote string `json:"bridgeNote,omitempty"`
}

func (s SDK) String() string {
	if s.Path == "" {
		return "none"
	}
	v := s.Path
	if s.Version != "" {
		v += " " + s.Version
	}
	if s.Bridged {
		v += " (wasmesh bridge)"
	} else if s.BridgeNote != "" {
		v += " (" + s.BridgeNote + ")"
	}
	return v
}

// CompileError carries the Go compiler's own diagnostics for a filter that does not compile.
type CompileError struct {
	Dir    string
	Output string
}

func (e *CompileError) Error() string {
	return fmt.Sprintf("cannot compile %s:\n%s", e.Dir, strings.TrimRight(e.Output, "\n"))
}

// ErrInvalidModule marks a module that compiled but is not a loadable proxy-wasm module.
var ErrInvalidModule = errors.New("invalid proxy-wasm module")

// Build compiles the filter in opts.Dir and writes the validated module to opts.Output.
func Build(ctx context.Context, opts Options) (*Result, error) {
	start := time.Now()
	if opts.Dir == "" {
		opts.Dir = "."
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("filter directory %s: not found or not a directory", opts.Dir)
	}
	if opts.Output == "" {
		opts.Output = filepath.Base(dir) + ".wasm"
	}
	if opts.GoBinary == "" {
		opts.GoBinary = "go"
	}
	if opts.CacheDir == "" {
		opts.CacheDir, err = defaultCacheDir()
		if err != nil {
			return nil, err
		}
	}
	g := goCmd{bin: opts.GoBinary, dir: dir, tags: opts.Tags}
	sdk, sdkDir, bridge, err := detectSDK(ctx, g)
	if err != nil {
		return nil, err
	}
	args := []string{"build", "-buildmode=c-shared"}
	if sdk.Bridged {
		modfile, err := bridgedModfile(ctx, g, opts.CacheDir, sdkDir, bridge)
		if err != nil {
			return nil, err
		}
		args = append(args, "-modfile="+modfile, "-mod=mod")
	}
	if len(opts.Tags) > 0 {
		args = append(args, "-tags="+strings.Join(opts.Tags, ","))
	}
	if opts.TrimPath {
		args = append(args, "-trimpath")
	}
	ldflags := opts.LDFlags
	if opts.Strip {
		ldflags = strings.TrimSpace(ldflags + " -s -w")
	}
	if ldflags != "" {
		args = append(args, "-ldflags="+ldflags)
	}
	out, err := filepath.Abs(opts.Output)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return nil, fmt.Errorf("output directory for %s: %w", opts.Output, err)
	}
	// Build beside the destination and rename only a validated module over it, so a failed build never leaves
	// a half-written or invalid file where a proxy or a push would pick it up.
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*.tmp")
	if err != nil {
		return nil, err
	}
	tmpName := tmp.Name()
	tmp.Close()
	defer os.Remove(tmpName)
	args = append(args, "-o", tmpName, ".")
	if stderr, err := g.run(ctx, opts.Log, args...); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &CompileError{Dir: opts.Dir, Output: stderr}
	}
	mod, err := inspect.File(tmpName)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalidModule, opts.Dir, err)
	}
	if err := mod.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %s built, but %v", ErrInvalidModule, opts.Dir, err)
	}
	if err := os.Chmod(tmpName, 0o644); err != nil {
		return nil, err
	}
	if err := os.Rename(tmpName, out); err != nil {
		return nil, err
	}
	mod.Path = opts.Output
	return &Result{Path: opts.Output, SDK: sdk, Module: mod, Duration: time.Since(start)}, nil
}

func defaultCacheDir() (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory (set XDG_CACHE_HOME or pass --cache-dir): %w", err)
	}
	return filepath.Join(base, "wasmesh", "build"), nil
}

// goCmd runs the go command for the wasip1/wasm target in the filter's directory.
type goCmd struct {
	bin  string
	dir  string
	tags []string
}

// wasmFeatures is the GOWASM value filters are built with unless the environment sets GOWASM: the saturating
// float-to-int conversions and sign-extension operators, part of Wasm 2.0 and implemented by wazero (CoreFeaturesV2,
// its default), V8 (Envoy, Chrome) and every other proxy-wasm runtime in use, replace multi-instruction sequences gc
// emits for the MVP. bench/filters.md has what they change.
const wasmFeatures = "satconv,signext"

func (g goCmd) run(ctx context.Context, log io.Writer, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, g.bin, args...)
	cmd.Dir = g.dir
	// GOWORK=off: a go.work around the filter would make -modfile illegal and pull in unrelated modules.
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "GOWORK=off", "CGO_ENABLED=0")
	if _, set := os.LookupEnv("GOWASM"); !set {
		cmd.Env = append(cmd.Env, "GOWASM="+wasmFeatures)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if log != nil {
		cmd.Stderr = io.MultiWriter(&stderr, log)
	}
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return stderr.String(), err
		}
		return "", fmt.Errorf("run %s: %w (is the Go toolchain installed and on PATH?)", g.bin, err)
	}
	return stdout.String(), nil
}

// detectSDK finds which proxy-wasm SDK the filter's package imports, where the build reads that SDK from
// (the module cache, or a directory the filter's go.mod replaces it with), and the bridge to apply (nil: none).
func detectSDK(ctx context.Context, g goCmd) (SDK, string, *sdkBridge, error) {
	args := []string{"list", "-deps", "-f", "{{.ImportPath}}\t{{with .Module}}{{.Path}}\t{{.Version}}\t{{.Dir}}{{end}}"}
	if len(g.tags) > 0 {
		args = append(args, "-tags="+strings.Join(g.tags, ","))
	}
	out, err := g.run(ctx, nil, append(args, ".")...)
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return SDK{}, "", nil, &CompileError{Dir: g.dir, Output: out}
		}
		return SDK{}, "", nil, err
	}
	var found SDK
	var dir string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Split(line, "\t")
		// The TinyGo-only SDK wins if a filter imports both: its bridge is what makes it build at all.
		if len(f) != 4 || (f[0] != TetrateSDK+"/proxywasm" && f[0] != SuccessorSDK+"/proxywasm") ||
			found.Path == TetrateSDK {
			continue
		}
		found, dir = SDK{Path: f[1], Version: f[2]}, f[3]
	}
	b := bridges[found.Path]
	switch {
	case b == nil:
		return found, dir, nil, nil
	case !b.covers(found.Version):
		found.BridgeNote = "built as it is: the wasmesh bridge was tested against " + strings.Join(b.versions, ", ")
		return found, dir, nil, nil
	}
	found.Bridged = true
	return found, dir, b, nil
}

// hashKey names cache entries: equal inputs give equal names, so repeated builds reuse the same paths and hit
// the Go build cache.
func hashKey(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		io.WriteString(h, p)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:20]
}
