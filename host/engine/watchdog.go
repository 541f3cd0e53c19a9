package engine

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/wasmesh/wasmesh/host/engine/loopguard"
)

// loopBudget is how many loop iterations a loop-guarded guest runs between two calls of loopTick: rare enough that
// the call (0.1-0.2 µs) adds well under 1% to the tightest loop, often enough that a stop takes effect within
// tens of microseconds of the watchdog's decision.
const loopBudget = 1 << 14

// errLoopStopped is the trap loopTick raises in a guest past its deadline; callers see ErrDeadline, since the
// watchdog flagged the VM (vm.overran) before.
var errLoopStopped = errors.New("stopped at a loop head")

// registerLoopTick adds the loop guard's import to a runtime whose modules are loop-guarded.
func registerLoopTick(ctx context.Context, r wazero.Runtime) error {
	_, err := r.NewHostModuleBuilder(loopguard.ImportModule).NewFunctionBuilder().
		WithGoFunction(api.GoFunc(loopTick), nil, []api.ValueType{api.ValueTypeI32}).
		Export(loopguard.ImportName).Instantiate(ctx)
	return err
}

// loopTick is what a loop-guarded guest calls every loopBudget loop iterations. Being Go code, it is also where
// the goroutine of a looping guest can be preempted: without it, a GC starting while a guest loops would wait
// forever for that goroutine, with the watchdog unable to run, and the process would hang.
func loopTick(ctx context.Context, stack []uint64) {
	if v := vmOf(ctx); v != nil && v.overran.Load() {
		panic(errLoopStopped)
	}
	stack[0] = loopBudget
}

// watchdog enforces the per-callback CPU deadline of every VM of an engine from one goroutine, so a callback
// pays one atomic store when it starts and one when it ends, not a timer or a goroutine.
//
// A VM publishes the sequence number of its running outermost callback in vm.running (0 when idle). Each tick
// the watchdog compares it with what it saw before: a number seen unchanged for longer than the VM's timeout is a
// callback that overran, and the VM is interrupted (vm.interrupt). The tick is an eighth of the shortest timeout,
// so a callback is stopped between its timeout and about 1.25 times it.
type watchdog struct {
	mu      sync.Mutex
	vms     map[*vm]struct{}
	tick    time.Duration
	running bool
	wake    chan struct{} // a VM was registered, or the engine closes
	closed  bool
	done    chan struct{} // closed when the goroutine has returned
}

const minWatchdogTick = time.Millisecond

func newWatchdog() *watchdog {
	return &watchdog{vms: map[*vm]struct{}{}, wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// register starts watching v (whose timeout is > 0); the goroutine starts with the first VM.
func (w *watchdog) register(v *vm) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	w.vms[v] = struct{}{}
	if t := max(v.timeout/8, minWatchdogTick); w.tick == 0 || t < w.tick {
		w.tick = t
	}
	if !w.running {
		w.running = true
		go w.run()
	}
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *watchdog) unregister(v *vm) {
	w.mu.Lock()
	delete(w.vms, v)
	w.mu.Unlock()
}

// close stops the goroutine and waits for it.
func (w *watchdog) close() {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.closed = true
	running := w.running
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	if running {
		<-w.done
	}
}

func (w *watchdog) run() {
	defer close(w.done)
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	var vms []*vm
	for {
		w.mu.Lock()
		if w.closed {
			w.mu.Unlock()
			return
		}
		vms = vms[:0]
		for v := range w.vms {
			vms = append(vms, v)
		}
		tick := w.tick
		w.mu.Unlock()

		now := time.Now()
		for _, v := range vms {
			v.watch(now)
		}
		if len(vms) == 0 {
			<-w.wake // nothing to watch: sleep until a VM registers or the engine closes
			continue
		}
		t.Reset(tick)
		select {
		case <-t.C:
		case <-w.wake:
			t.Stop()
		}
	}
}

// watch is one watchdog look at v; the wd* fields belong to the watchdog goroutine.
func (v *vm) watch(now time.Time) {
	seq := v.running.Load()
	if seq == 0 || seq != v.wdSeq {
		v.wdSeq, v.wdSince = seq, now
		return
	}
	if now.Sub(v.wdSince) >= v.timeout && !v.overran.Load() {
		v.interrupt()
	}
}
