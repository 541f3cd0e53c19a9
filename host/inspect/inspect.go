// Package inspect reports what a proxy-wasm module is without running it: the ABI version it advertises, what it
// imports and exports, its entry point and allocator, and which language and SDK built it when that can be told.
// `wasmesh build` validates its output with it, `wasmesh inspect` prints it, and the OCI package annotates
// pushed modules with it.
//
//	m, err := inspect.File("bin/filters/auth.wasm")
//	if err == nil && m.Validate() == nil {
//		fmt.Println(m.ABIVersion, m.SDK)
//	}
package inspect

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/wasmesh/wasmesh/host/abi"
	"github.com/wasmesh/wasmesh/host/internal/wasmbin"
)

// Module is the description of one Wasm binary.
type Module struct {
	Path       string              `json:"path,omitempty"`
	Size       int64               `json:"size"`
	SHA256     string              `json:"sha256"`
	ABIVersion abi.Version         `json:"abiVersion,omitempty"`
	Imports    map[string][]string `json:"imports"`
	Callbacks  []string            `json:"callbacks"`
	EntryPoint string              `json:"entryPoint,omitempty"`
	Allocator  string              `json:"allocator,omitempty"`
	Memory     bool                `json:"exportsMemory"`
	Language   string              `json:"language,omitempty"`
	SDK        string              `json:"sdk,omitempty"`
}

// ErrNotWasm is returned for input that does not start with the Wasm magic and version 1.
var ErrNotWasm = errors.New("not a WebAssembly binary (missing \\0asm magic)")

// File reads and describes the module at path.
func File(path string) (*Module, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m, err := Bytes(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	m.Path = path
	return m, nil
}

// wasmMagic is the module preamble: "\0asm" and binary format version 1.
var wasmMagic = []byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00}

// Bytes describes the module in b. It decodes and validates the whole binary with wazero's interpreter
// configuration, which checks the module as strictly as a load would but compiles nothing to machine code; counts
// that claim more entries than the module holds are refused before wazero allocates for them (wasmbin.Check).
func Bytes(b []byte) (*Module, error) {
	if !bytes.HasPrefix(b, wasmMagic) {
		return nil, ErrNotWasm
	}
	if err := wasmbin.Check(b); err != nil {
		return nil, fmt.Errorf("invalid WebAssembly module: %w", err)
	}
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter().WithCustomSections(true))
	defer rt.Close(ctx)
	cm, err := rt.CompileModule(ctx, b)
	if err != nil {
		return nil, fmt.Errorf("invalid WebAssembly module: %w", err)
	}
	sum := sha256.Sum256(b)
	m := &Module{
		Size:    int64(len(b)),
		SHA256:  hex.EncodeToString(sum[:]),
		Imports: map[string][]string{},
	}
	for _, f := range cm.ImportedFunctions() {
		mod, name, _ := f.Import()
		m.Imports[mod] = append(m.Imports[mod], name)
	}
	for mod, names := range m.Imports {
		// A module may import one function under several local names; list each import name once.
		sort.Strings(names)
		m.Imports[mod] = slices.Compact(names)
	}
	exports := cm.ExportedFunctions()
	for name := range exports {
		if v, ok := abi.VersionFromExport(name); ok && newer(v, m.ABIVersion) {
			m.ABIVersion = v
		}
	}
	for _, name := range abi.Callbacks {
		if _, ok := exports[name]; ok {
			m.Callbacks = append(m.Callbacks, name)
		}
	}
	for _, name := range []string{abi.ExportStart, abi.ExportInitialize} {
		if _, ok := exports[name]; ok && m.EntryPoint == "" {
			m.EntryPoint = name
		}
	}
	for _, name := range []string{abi.ExportMemoryAllocate, abi.ExportMalloc} {
		if _, ok := exports[name]; ok && m.Allocator == "" {
			m.Allocator = name
		}
	}
	m.Memory = len(cm.ExportedMemories()) > 0
	m.Language, m.SDK = provenance(b, cm.CustomSections(), exports, m.Imports)
	return m, nil
}

// newer orders ABI versions so a module exporting several markers reports the highest.
func newer(a, b abi.Version) bool { return string(a) > string(b) }

// Validate reports why the module cannot run as a proxy-wasm plugin, or nil.
func (m *Module) Validate() error {
	var problems []string
	if m.ABIVersion == abi.Unknown {
		problems = append(problems, "it exports no proxy_abi_version_* marker (does it import a proxy-wasm SDK and register a VM or plugin context?)")
	}
	if m.Allocator == "" {
		problems = append(problems, "it exports no allocator (proxy_on_memory_allocate or malloc)")
	}
	if len(m.Callbacks) == 0 {
		problems = append(problems, "it exports no proxy_on_* callback")
	}
	if !m.Memory {
		problems = append(problems, "it exports no memory")
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("not a proxy-wasm module: %s", joinProblems(problems))
}

func joinProblems(p []string) string {
	var b bytes.Buffer
	for i, s := range p {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(s)
	}
	return b.String()
}

var goVersion = regexp.MustCompile(`go1\.[0-9]+(\.[0-9]+)?`)

// provenance tells the language and SDK from evidence the toolchains leave behind: Go's build-id custom section,
// its runtime version string and package paths in the function name table; the producers section that clang,
// rustc and others write; and the import/export shapes of SDKs that write neither.
func provenance(b []byte, sections []api.CustomSection, exports map[string]api.FunctionDefinition, imports map[string][]string) (language, sdk string) {
	isGo := false
	for _, s := range sections {
		switch s.Name() {
		case "go:buildid", "go.buildid":
			isGo = true
		case "producers":
			if lang := producersLanguage(s.Data()); lang != "" && language == "" {
				language = lang
			}
		}
	}
	switch {
	case isGo || bytes.Contains(b, []byte("Go build ID:")):
		language = "Go"
		if v := goVersion.Find(b); v != nil {
			language = "Go " + string(v)
		}
	case language == "" && bytes.Contains(b, []byte("tinygo")):
		language = "TinyGo"
	}
	switch {
	case bytes.Contains(b, []byte("github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm")):
		sdk = "github.com/tetratelabs/proxy-wasm-go-sdk"
		if bytes.Contains(b, []byte("wasmeshOnMemoryAllocate")) {
			sdk += " (wasmesh bridge)"
		}
	case bytes.Contains(b, []byte("github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm")):
		sdk = "github.com/proxy-wasm/proxy-wasm-go-sdk"
	case bytes.Contains(b, []byte("proxy_wasm::")) || bytes.Contains(b, []byte("proxy-wasm-rust-sdk")):
		sdk = "proxy-wasm-rust-sdk"
	case bytes.Contains(b, []byte("proxy_wasm_intrinsics")) || bytes.Contains(b, []byte("RootContext::")):
		sdk = "proxy-wasm-cpp-sdk"
	case len(imports["wasi_unstable"]) > 0 && hasExport(exports, "__alloc", "__new", "__retain", "__pin"):
		sdk = "@solo-io/proxy-runtime (AssemblyScript)"
		if language == "" {
			language = "AssemblyScript"
		}
	}
	return language, sdk
}

func hasExport(exports map[string]api.FunctionDefinition, names ...string) bool {
	for _, n := range names {
		if _, ok := exports[n]; ok {
			return true
		}
	}
	return false
}
