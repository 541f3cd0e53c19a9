package engine

import (
	"context"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
)

// groupKey decides which plugins share VMs: same vm id, same code, same VM configuration and environment, same
// limits. Plugins that differ in any of these could observe each other's state wrongly if they shared.
type groupKey struct {
	vmID     string
	digest   string
	vmConfig string
	env      string
	rt       runtimeKey
	timeout  time.Duration
}

// vmGroup is the bounded pool of VMs that serves one or more plugins (one root context per plugin per VM).
type vmGroup struct {
	eng      *Engine
	key      groupKey
	mod      *Module
	rt       *runtime
	cm       wazero.CompiledModule
	shared   *sharedStore
	vmConfig []byte
	env      map[string]string
	timeout  time.Duration

	mu        sync.Mutex
	plugins   []*Plugin
	vms       []*vm
	max       int
	creating  int
	lost      int         // VMs that died and were not replaced yet
	restarts  []time.Time // FAIL_RELOAD restarts in the last minute
	failures  int         // consecutive failed or crashed VM starts, for the backoff
	notBefore time.Time
	closed    bool
}

func envKey(env map[string]string) string {
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(env[k])
		b.WriteByte(0)
	}
	return b.String()
}

func (g *vmGroup) pluginsSnapshot() []*Plugin {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.plugins)
}

func (g *vmGroup) vmsSnapshot() []*vm {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.vms)
}

// pick chooses the VM a new stream will live on: a VM with no streams if there is one, else a new VM while the
// pool is under its bound, else the VM with the fewest streams (the stream then waits for that VM's lock on each
// callback). So concurrency, not traffic volume, grows the pool, and an idle proxy keeps one VM.
// The returned VM's stream count already includes the new stream (reserved under g.mu, so concurrent picks
// spread); callers that do not pin a stream give it back with v.streams.Add(-1).
func (g *vmGroup) pick(ctx context.Context, p *Plugin) (*vm, error) {
	g.mu.Lock()
	var least *vm
	for _, v := range g.vms {
		if v.dead.Load() {
			continue
		}
		if least == nil || v.streams.Load() < least.streams.Load() {
			least = v
		}
	}
	if least != nil && least.streams.Load() == 0 {
		least.streams.Add(1)
		g.mu.Unlock()
		return least, nil
	}
	restart, ok := g.canCreate(p)
	if !ok {
		if least != nil {
			least.streams.Add(1)
			g.mu.Unlock()
			return least, nil
		}
		g.mu.Unlock()
		return nil, p.wrap(ErrPluginFailed, "pick VM", nil)
	}
	g.creating++
	if restart {
		g.lost--
		g.restarts = append(g.restarts, time.Now())
	}
	g.mu.Unlock()

	v, err := g.instantiate(ctx)

	g.mu.Lock()
	defer g.mu.Unlock()
	g.creating--
	if err != nil {
		if restart {
			g.lost++
		}
		g.backoff()
		if least != nil && !least.dead.Load() {
			least.streams.Add(1)
			return least, nil
		}
		return nil, err
	}
	if g.closed {
		go v.close(context.Background())
		return nil, ErrClosed
	}
	g.failures = 0
	v.streams.Add(1)
	g.vms = append(g.vms, v)
	return v, nil
}

// canCreate says whether another VM may start now, and whether it replaces a dead one. Called with g.mu held.
// Dead VMs are replaced only for FAIL_RELOAD plugins, with exponential backoff and a cap per minute, so a module
// that crashes on every request cannot spin the CPU.
func (g *vmGroup) canCreate(p *Plugin) (restart, ok bool) {
	if g.closed {
		return false, false
	}
	live := len(g.vms) + g.creating
	if live+g.lost < g.max {
		return false, true
	}
	if g.lost == 0 || p.cfg.FailStrategy != FailReload || live >= g.max {
		return false, false
	}
	now := time.Now()
	if now.Before(g.notBefore) {
		return false, false
	}
	cut := now.Add(-time.Minute)
	g.restarts = slices.DeleteFunc(g.restarts, func(t time.Time) bool { return t.Before(cut) })
	if len(g.restarts) >= g.eng.cfg.MaxRestartsPerMinute {
		return false, false
	}
	return true, true
}

// backoff pushes the next restart out: 100ms, 200ms, ... capped at 30s. Called with g.mu held.
func (g *vmGroup) backoff() {
	g.failures++
	d := 100 * time.Millisecond << min(g.failures-1, 9)
	d = min(d, 30*time.Second)
	g.notBefore = time.Now().Add(d)
}

// vmDied removes a dead VM from the pool.
func (g *vmGroup) vmDied(v *vm) {
	g.mu.Lock()
	defer g.mu.Unlock()
	i := slices.Index(g.vms, v)
	if i < 0 {
		return // died while starting; pick accounts for it
	}
	g.vms = slices.Delete(g.vms, i, i+1)
	g.lost++
	g.backoff()
}

// addPlugin adds p's root context to every VM of the group, or starts the first VM. On error p is not added.
func (g *vmGroup) addPlugin(ctx context.Context, p *Plugin) error {
	g.mu.Lock()
	g.plugins = append(g.plugins, p)
	g.max = max(g.max, p.cfg.PoolSize)
	vms := slices.Clone(g.vms)
	g.mu.Unlock()

	if len(vms) == 0 {
		v, err := g.pick(ctx, p)
		if err != nil {
			g.removePlugin(p)
			return err
		}
		v.streams.Add(-1) // started for the plugin, not for a stream
		return nil
	}
	for _, v := range vms {
		if err := v.acquire(ctx); err != nil {
			g.removePlugin(p)
			return err
		}
		err := v.startRoot(p)
		v.release()
		if err != nil {
			g.removePlugin(p)
			return err
		}
	}
	return nil
}

// removePlugin takes p out of the group and ends its root contexts; the last plugin out closes the VMs.
func (g *vmGroup) removePlugin(p *Plugin) {
	g.mu.Lock()
	g.plugins = slices.DeleteFunc(g.plugins, func(x *Plugin) bool { return x == p })
	last := len(g.plugins) == 0
	vms := slices.Clone(g.vms)
	if last {
		g.closed = true
		g.vms = nil
	}
	g.mu.Unlock()
	for _, v := range vms {
		if last {
			v.close(context.Background())
			continue
		}
		if err := v.acquire(context.Background()); err == nil {
			v.stopRoot(p, false)
			v.release()
		}
	}
	if last {
		g.eng.dropGroup(g)
	}
}

func (g *vmGroup) closeAll(ctx context.Context) {
	g.mu.Lock()
	g.closed = true
	vms := g.vms
	g.vms = nil
	g.mu.Unlock()
	for _, v := range vms {
		v.close(ctx)
	}
}

func (e *Engine) dropGroup(g *vmGroup) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.groups[g.key] == g {
		delete(e.groups, g.key)
	}
}
