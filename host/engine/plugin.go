package engine

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// FailStrategy decides what happens to a stream when its VM fails (trap, panic, proc_exit, out of memory,
// deadline) and whether the pool replaces dead VMs.
type FailStrategy int

const (
	// FailClose answers the stream with a local 503. Dead VMs are not replaced: the plugin keeps serving on its
	// remaining VMs and fails every stream once none is left. Envoy's default.
	FailClose FailStrategy = iota
	// FailOpen lets the stream go on as if the filter were absent. Dead VMs are not replaced.
	FailOpen
	// FailReload answers the failing stream with a 503 and replaces the dead VM for later streams, with
	// exponential backoff and at most Config.MaxRestartsPerMinute restarts a minute.
	FailReload
)

func (f FailStrategy) String() string {
	switch f {
	case FailClose:
		return "FAIL_CLOSE"
	case FailOpen:
		return "FAIL_OPEN"
	case FailReload:
		return "FAIL_RELOAD"
	}
	return fmt.Sprintf("FailStrategy(%d)", int(f))
}

// PluginConfig is a module plus its configuration. Plugins with the same VMID, module, VMConfiguration, Env and
// limits share VMs (each has its own root context in them) and shared data.
type PluginConfig struct {
	Module *Module
	// Name is the plugin_name property; RootID the plugin_root_id property modules use to pick their root
	// context; VMID scopes shared data and queues.
	Name, RootID, VMID string
	// Configuration is read by proxy_on_configure; VMConfiguration by proxy_on_vm_start.
	Configuration, VMConfiguration []byte
	FailStrategy                   FailStrategy
	// PoolSize bounds the VMs serving the plugin (DefaultPoolSize if 0). Each VM costs its linear memory (a
	// Go-built guest starts at a few MiB), and streams beyond the bound share VMs, waiting for their lock.
	PoolSize int
	// CallTimeout is the CPU deadline of each callback (DefaultCallTimeout if 0, negative for none: the module then
	// runs without the loop guard, and a callback that never returns hangs the process, Go's GC included). A
	// callback is stopped between CallTimeout and about 1.25 times it (the watchdog's tick); its VM is then
	// replaced per FailStrategy. The deadline costs two atomic stores per callback, a load, a store and a branch
	// per loop iteration and call, and a host call every 16384 of those.
	CallTimeout time.Duration
	// MemoryLimitPages caps each VM's linear memory in 64 KiB pages (DefaultMemoryLimitPages if 0).
	MemoryLimitPages uint32
	// Env is the WASI environment of the guest.
	Env map[string]string
	// Logger overrides the engine's logger for this plugin's guest logs.
	Logger *slog.Logger
}

// Plugin is a running plugin. Streams are created from it; Start runs its tickers; Close removes it.
type Plugin struct {
	eng  *Engine
	cfg  PluginConfig
	g    *vmGroup
	log  *slog.Logger
	wake chan struct{}
	ids  pluginIDs
}

// pluginIDs are the plugin's own properties as bytes, made once so that reading them allocates nothing (the host
// copies them into guest memory; they are never handed out to be written).
type pluginIDs struct{ name, rootID, vmID []byte }

func newPluginIDs(cfg PluginConfig) pluginIDs {
	return pluginIDs{name: []byte(cfg.Name), rootID: []byte(cfg.RootID), vmID: []byte(cfg.VMID)}
}

// NewPlugin starts a plugin: it finds or creates the VM group for the configuration and creates the plugin's root
// context, running proxy_on_vm_start and proxy_on_configure, in at least one VM. Errors are *Error wrapping
// ErrVMStart, ErrConfigure, ErrInstantiate, ErrTrap or ErrBadPluginConf; nothing is left running on error.
func (e *Engine) NewPlugin(ctx context.Context, cfg PluginConfig) (*Plugin, error) {
	if cfg.Module == nil {
		return nil, &Error{Kind: ErrBadPluginConf, Op: "new plugin", Plugin: cfg.Name, Err: fmt.Errorf("PluginConfig.Module is nil: compile the module with Engine.Compile first")}
	}
	if cfg.FailStrategy < FailClose || cfg.FailStrategy > FailReload {
		return nil, &Error{Kind: ErrBadPluginConf, Op: "new plugin", Plugin: cfg.Name, Err: fmt.Errorf("unknown fail strategy %d", cfg.FailStrategy)}
	}
	if cfg.PoolSize <= 0 {
		cfg.PoolSize = DefaultPoolSize
	}
	if cfg.CallTimeout == 0 {
		cfg.CallTimeout = DefaultCallTimeout
	}
	if cfg.CallTimeout < 0 {
		cfg.CallTimeout = 0
	}
	if cfg.MemoryLimitPages == 0 {
		cfg.MemoryLimitPages = DefaultMemoryLimitPages
	}
	p := &Plugin{eng: e, cfg: cfg, log: cfg.Logger, wake: make(chan struct{}, 1), ids: newPluginIDs(cfg)}
	if p.log == nil {
		p.log = e.log
	}
	p.log = p.log.With("plugin", cfg.Name, "root_id", cfg.RootID)

	rk := runtimeKey{memoryPages: cfg.MemoryLimitPages, term: cfg.Module.termFor(cfg.CallTimeout > 0)}
	rt, err := e.runtime(ctx, rk)
	if err != nil {
		return nil, err
	}
	cm, err := rt.compiledIn(ctx, cfg.Module)
	if err != nil {
		return nil, err
	}
	key := groupKey{vmID: cfg.VMID, digest: cfg.Module.digest, vmConfig: string(cfg.VMConfiguration),
		env: envKey(cfg.Env), rt: rk, timeout: cfg.CallTimeout}
	shared := e.sharedFor(cfg.VMID)
	e.mu.Lock()
	g := e.groups[key]
	if g == nil {
		g = &vmGroup{eng: e, key: key, mod: cfg.Module, rt: rt, cm: cm, shared: shared,
			vmConfig: cfg.VMConfiguration, env: cfg.Env, timeout: cfg.CallTimeout}
		e.groups[key] = g
	}
	e.mu.Unlock()
	p.g = g
	if err := g.addPlugin(ctx, p); err != nil {
		return nil, err
	}
	return p, nil
}

// Config returns the plugin's configuration with defaults filled in.
func (p *Plugin) Config() PluginConfig { return p.cfg }

// Close ends the plugin's root contexts (proxy_on_done, proxy_on_delete); the last plugin of a VM group frees its
// VMs. Streams still open fail by the plugin's strategy.
func (p *Plugin) Close(ctx context.Context) error {
	p.g.removePlugin(p)
	return nil
}

// VMs is the number of live VMs serving the plugin, for metrics and tests.
func (p *Plugin) VMs() int {
	p.g.mu.Lock()
	defer p.g.mu.Unlock()
	return len(p.g.vms)
}

// MemoryBytes is the linear memory held by the plugin's live VMs.
func (p *Plugin) MemoryBytes() uint64 {
	var n uint64
	for _, v := range p.g.vmsSnapshot() {
		if !v.dead.Load() {
			n += uint64(v.mem.Size())
		}
	}
	return n
}

func (p *Plugin) wrap(kind error, op string, err error) *Error {
	return &Error{Kind: kind, Op: op, Plugin: p.cfg.Name, Digest: p.cfg.Module.digest, Err: err}
}

// Start runs the plugin's tickers (proxy_on_tick for every root context that set a tick period, in every VM)
// until ctx ends. It returns nil when ctx ends.
func (p *Plugin) Start(ctx context.Context) error {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		next := p.tick(ctx)
		wait := time.Second // also picks up VMs created since the last round
		if !next.IsZero() {
			wait = min(wait, max(time.Until(next), 0))
		}
		t.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-p.wake:
		case <-t.C:
		}
	}
}

// tick runs the due ticks and returns when the next one is due (zero if none is scheduled).
func (p *Plugin) tick(ctx context.Context) time.Time {
	var next time.Time
	for _, v := range p.g.vmsSnapshot() {
		if v.dead.Load() || v.acquire(ctx) != nil {
			continue
		}
		cs := v.rootFor(p)
		if cs != nil && cs.tickPeriod > 0 {
			now := time.Now()
			if !now.Before(cs.nextTick) {
				cs.nextTick = now.Add(cs.tickPeriod)
				_, _ = v.call(cs, cbTick, uint64(cs.id), 0, 0, 0, 0)
			}
			if next.IsZero() || cs.nextTick.Before(next) {
				next = cs.nextTick
			}
		}
		v.release()
	}
	return next
}

func (p *Plugin) wakeTicker() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}
