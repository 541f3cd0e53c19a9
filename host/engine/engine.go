package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/wasmesh/wasmesh/host/abi"
	"github.com/wasmesh/wasmesh/host/engine/loopguard"
	"github.com/wasmesh/wasmesh/host/internal/wasmbin"
)

// Defaults for the limits a PluginConfig leaves at zero.
const (
	DefaultPoolSize         = 4
	DefaultCallTimeout      = 1 * time.Second
	DefaultMemoryLimitPages = 2048 // 128 MiB; a Go-built guest idles at a few MiB
	DefaultRestartsPerMin   = 10
)

// Config configures an Engine. The zero value works: no disk cache, no outbound calls, logs discarded.
type Config struct {
	// CacheDir is where compiled machine code is kept across restarts (wazero's compilation cache, keyed by the
	// module's digest and the wazero version). Empty keeps compiled code in memory only.
	CacheDir string
	// Caller sends the modules' proxy_http_call (and gRPC calls, if it implements GRPCCaller). With no Caller
	// those calls fail with BAD_ARGUMENT, the status Envoy gives for an unknown cluster.
	Caller Caller
	// Properties answers properties no stream knows, typically node.* (node.id, node.metadata...). Optional.
	Properties PropertyGetter
	// LogLevel is the level reported to guests by proxy_get_log_level; guest logs below it are dropped.
	LogLevel abi.LogLevel
	// Logger receives guest logs and engine events. Nil discards.
	Logger *slog.Logger
	// MaxRestartsPerMinute caps FAIL_RELOAD VM restarts per plugin group; 0 means DefaultRestartsPerMin.
	MaxRestartsPerMinute int
	// ForeignFunctions are the functions modules may call with proxy_call_foreign_function, by name; other names
	// are NOT_FOUND. New copies the map.
	ForeignFunctions map[string]ForeignFunction
	// Now is the clock for proxy_get_current_time_nanoseconds; nil means time.Now. For tests.
	Now func() time.Time
}

// Engine compiles modules once per digest and runs plugins on them. It is safe for concurrent use.
type Engine struct {
	cfg   Config
	log   *slog.Logger
	cache wazero.CompilationCache

	mu       sync.Mutex
	closed   bool
	runtimes map[runtimeKey]*runtime
	modules  map[string]*Module
	groups   map[groupKey]*vmGroup
	shared   map[string]*sharedStore // by vm id

	metrics  *Metrics
	watchdog *watchdog
	queueID  atomic.Uint32
	queues   sync.Map // queue id -> *sharedStore
}

// runtimeKey selects a wazero runtime: the memory limit is a runtime setting, and so is how a guest past its CPU
// deadline is stopped.
type runtimeKey struct {
	memoryPages uint32
	term        termination
}

// termination is how a runtime's guests are stopped at their CPU deadline.
type termination uint8

const (
	termNone    termination = iota // no deadline: the module as it is, no checks
	termGuard                      // the loopguard-instrumented module, stopped in loopTick once the watchdog flags it
	termContext                    // wazero's WithCloseOnContextDone, for modules loopguard cannot rewrite
)

type runtime struct {
	key      runtimeKey
	r        wazero.Runtime
	mu       sync.Mutex
	compiled map[string]wazero.CompiledModule
}

// New returns an Engine. Close it to release compiled code and VMs.
func New(cfg Config) (*Engine, error) {
	e := &Engine{
		cfg:      cfg,
		log:      cfg.Logger,
		runtimes: map[runtimeKey]*runtime{},
		modules:  map[string]*Module{},
		groups:   map[groupKey]*vmGroup{},
		shared:   map[string]*sharedStore{},
		metrics:  newMetrics(),
		watchdog: newWatchdog(),
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	e.cfg.ForeignFunctions = maps.Clone(cfg.ForeignFunctions)
	if e.cfg.Now == nil {
		e.cfg.Now = time.Now
	}
	if e.cfg.MaxRestartsPerMinute == 0 {
		e.cfg.MaxRestartsPerMinute = DefaultRestartsPerMin
	}
	if cfg.CacheDir != "" {
		c, err := wazero.NewCompilationCacheWithDir(cfg.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("engine: compilation cache dir %q: %w (make it writable or leave CacheDir empty)", cfg.CacheDir, err)
		}
		e.cache = c
	} else {
		e.cache = wazero.NewCompilationCache()
	}
	return e, nil
}

// Metrics is the registry of metrics the modules defined, for the data plane to publish.
func (e *Engine) Metrics() *Metrics { return e.metrics }

// Close stops every VM and frees compiled code.
func (e *Engine) Close(ctx context.Context) error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	groups := make([]*vmGroup, 0, len(e.groups))
	for _, g := range e.groups {
		groups = append(groups, g)
	}
	rts := e.runtimes
	e.mu.Unlock()
	for _, g := range groups {
		g.closeAll(ctx)
	}
	e.watchdog.close()
	var first error
	for _, rt := range rts {
		if err := rt.r.Close(ctx); err != nil && first == nil {
			first = err
		}
	}
	if err := e.cache.Close(ctx); err != nil && first == nil {
		first = err
	}
	return first
}

// runtime returns (creating on first use) the wazero runtime for a memory limit and deadline setting, with the
// proxy-wasm host functions and WASI registered.
func (e *Engine) runtime(ctx context.Context, key runtimeKey) (*runtime, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, ErrClosed
	}
	if rt := e.runtimes[key]; rt != nil {
		return rt, nil
	}
	rc := wazero.NewRuntimeConfig().
		WithCompilationCache(e.cache).
		WithMemoryLimitPages(key.memoryPages).
		WithCloseOnContextDone(key.term == termContext)
	r := wazero.NewRuntimeWithConfig(ctx, rc)
	if err := abi.Register(ctx, r, resolveHost); err != nil {
		_ = r.Close(ctx)
		return nil, fmt.Errorf("engine: register proxy-wasm host functions: %w", err)
	}
	if err := abi.RegisterWASI(ctx, r); err != nil {
		_ = r.Close(ctx)
		return nil, fmt.Errorf("engine: register WASI: %w", err)
	}
	if key.term == termGuard {
		if err := registerLoopTick(ctx, r); err != nil {
			_ = r.Close(ctx)
			return nil, fmt.Errorf("engine: register the loop guard's tick: %w", err)
		}
	}
	rt := &runtime{key: key, r: r, compiled: map[string]wazero.CompiledModule{}}
	e.runtimes[key] = rt
	return rt, nil
}

// Compile validates and compiles wasm once per digest: compiling the same bytes again returns the same Module, and
// with Config.CacheDir set a restarted process loads the machine code from disk instead of recompiling. Errors
// wrap ErrCompile or ErrImports.
func (e *Engine) Compile(ctx context.Context, wasm []byte) (*Module, error) {
	sum := sha256.Sum256(wasm)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	e.mu.Lock()
	if m := e.modules[digest]; m != nil {
		e.mu.Unlock()
		return m, nil
	}
	e.mu.Unlock()

	// wazero sizes its tables from the module's declared counts before reading them: a few bytes can make it ask
	// for gigabytes, which ends the whole process. Refuse such modules first.
	if err := wasmbin.Check(wasm); err != nil {
		return nil, &Error{Kind: ErrCompile, Op: "compile", Digest: digest, Err: err}
	}
	own := slices.Clone(wasm) // the caller may reuse its buffer; other runtimes compile from this copy later
	m := &Module{digest: digest, wasm: own, exports: map[string]bool{}}
	// The default plugin has a deadline, so compile the code it will run: the loop-guarded copy, or the module
	// itself under wazero's checks when loopguard cannot rewrite it.
	key := runtimeKey{memoryPages: DefaultMemoryLimitPages, term: termGuard}
	guarded, cached, err := e.guardedCopy(own, digest)
	if err != nil {
		e.log.Info("module cannot be loop-guarded; its CPU deadline uses wazero's slower termination checks",
			"digest", digest, "error", err)
		key.term = termContext
	}
	m.guarded = guarded
	rt, err := e.runtime(ctx, key)
	if err != nil {
		return nil, err
	}
	cm, err := rt.r.CompileModule(ctx, m.code(key.term))
	if err != nil && cached {
		// The copy kept on disk is damaged: rewrite the module, replace the file, and compile that.
		e.log.Info("kept loop-guarded copy does not compile; rewriting it", "digest", digest, "error", err)
		_ = os.Remove(e.guardPath(digest))
		if m.guarded, _, err = e.guardedCopy(own, digest); err == nil {
			cm, err = rt.r.CompileModule(ctx, m.guarded)
		}
	}
	if err != nil && key.term == termGuard {
		// The guarded copy does not compile: either the module itself does not (the retry below says so with
		// the module's own offsets), or the rewrite broke it (a loopguard bug). Either way the original under
		// wazero's checks decides.
		m.guarded, key.term = nil, termContext
		if rt, err = e.runtime(ctx, key); err != nil {
			return nil, err
		}
		if cm, err = rt.r.CompileModule(ctx, own); err == nil {
			e.log.Info("loop-guarded module does not compile; its CPU deadline uses wazero's slower termination checks",
				"digest", digest)
		}
	}
	if err != nil {
		return nil, &Error{Kind: ErrCompile, Op: "compile", Digest: digest, Err: err}
	}
	if err := checkImports(cm, key.term == termGuard); err != nil {
		_ = cm.Close(ctx)
		return nil, &Error{Kind: ErrImports, Op: "compile", Digest: digest, Err: err}
	}
	m.compiled = cm
	for name := range cm.ExportedFunctions() {
		m.exports[name] = true
		if v, ok := abi.VersionFromExport(name); ok {
			m.version = v
		}
	}
	rt.mu.Lock()
	rt.compiled[digest] = cm
	rt.mu.Unlock()

	e.mu.Lock()
	defer e.mu.Unlock()
	if prev := e.modules[digest]; prev != nil { // lost a race with another Compile of the same bytes
		return prev, nil
	}
	e.modules[digest] = m
	return m, nil
}

// compiledIn returns m compiled in rt (a cache hit on disk or in memory after the first Compile).
func (rt *runtime) compiledIn(ctx context.Context, m *Module) (wazero.CompiledModule, error) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if cm := rt.compiled[m.digest]; cm != nil {
		return cm, nil
	}
	cm, err := rt.r.CompileModule(ctx, m.code(rt.key.term))
	if err != nil {
		return nil, &Error{Kind: ErrCompile, Op: "compile", Digest: m.digest, Err: err}
	}
	rt.compiled[m.digest] = cm
	return cm, nil
}

// checkImports rejects a module that imports something no registered host module provides, with every missing
// name in one message, before any VM is started.
func checkImports(cm wazero.CompiledModule, guarded bool) error {
	have := map[string]bool{}
	for _, n := range abi.ImportNames() {
		have[n] = true
	}
	var missing []string
	for _, f := range cm.ImportedFunctions() {
		mod, name, _ := f.Import()
		switch mod {
		case abi.ImportModule:
			if !have[name] {
				missing = append(missing, mod+"."+name)
			}
		case abi.WASISnapshotPreview1, abi.WASIUnstable:
		case loopguard.ImportModule: // only in the guarded copy, which Instrument made
			if !guarded || name != loopguard.ImportName {
				missing = append(missing, mod+"."+name)
			}
		default:
			missing = append(missing, mod+"."+name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing %v (build the module against a proxy-wasm SDK for ABI 0.1.0-0.2.1)", missing)
	}
	return nil
}

// resolveHost finds the VM a host function was called from: every guest call carries its VM in the context. It
// runs once per host-function call, which is how the VM counts them (the scratch arena serves one result each).
func resolveHost(ctx context.Context, _ api.Module) abi.Host {
	if v := vmOf(ctx); v != nil {
		v.hostCalls++
		return v
	}
	return nil
}

type vmKey struct{}

// vmContext is the context of every call into a VM. Host functions find their VM with one type assertion: through
// ctx.Value the lookup walked the context chain on every host call (2% of a minimal stream's CPU).
type vmContext struct {
	context.Context
	v *vm
}

// Value answers vmKey, and otherwise only what package context asks of a parent (its own key, a pointer, with which a
// context derived for an HTTP call finds the cancelCtx below to join its cancellation). Nothing else is stored below
// a VM's context (a cancelCtx over Background), and wazero asks for its option keys on every guest call and host
// function: answering those at once spares a walk down the chain each time.
func (c *vmContext) Value(key any) any {
	switch key.(type) {
	case vmKey:
		return c.v
	case *int:
		return c.Context.Value(key)
	}
	return nil
}

// vmOf returns the VM a context was derived from, or nil.
func vmOf(ctx context.Context) *vm {
	if c, ok := ctx.(*vmContext); ok {
		return c.v
	}
	v, _ := ctx.Value(vmKey{}).(*vm)
	return v
}

// sharedFor returns the shared data and queues of a vm id.
func (e *Engine) sharedFor(vmID string) *sharedStore {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.shared[vmID]
	if s == nil {
		s = newSharedStore(e, vmID)
		e.shared[vmID] = s
	}
	return s
}

// SharedData returns the value and CAS of a shared-data key of a vm id, as the guests see it; for tests, admin
// endpoints and data planes that seed values.
func (e *Engine) SharedData(vmID, key string) ([]byte, uint32, bool) {
	return e.sharedFor(vmID).get(key)
}
