package engine

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	"github.com/wasmesh/wasmesh/host/abi"
	"github.com/wasmesh/wasmesh/host/internal/ctxlock"
)

// Callback indexes into vm.fns. callbackNames must list them in the same order.
const (
	cbContextCreate = iota
	cbVMStart
	cbConfigure
	cbTick
	cbNewConnection
	cbDownstreamData
	cbDownstreamClose
	cbUpstreamData
	cbUpstreamClose
	cbRequestHeaders
	cbRequestBody
	cbRequestTrailers
	cbResponseHeaders
	cbResponseBody
	cbResponseTrailers
	cbHTTPCallResponse
	cbGRPCInitialMetadata
	cbGRPCTrailingMetadata
	cbGRPCReceive
	cbGRPCClose
	cbQueueReady
	cbForeignFunction
	cbLog
	cbDone
	cbDelete
	cbValidateConfiguration
	numCallbacks
)

var callbackNames = [numCallbacks]string{
	"proxy_on_context_create", "proxy_on_vm_start", "proxy_on_configure", "proxy_on_tick",
	"proxy_on_new_connection", "proxy_on_downstream_data", "proxy_on_downstream_connection_close",
	"proxy_on_upstream_data", "proxy_on_upstream_connection_close",
	"proxy_on_request_headers", "proxy_on_request_body", "proxy_on_request_trailers",
	"proxy_on_response_headers", "proxy_on_response_body", "proxy_on_response_trailers",
	"proxy_on_http_call_response",
	"proxy_on_grpc_receive_initial_metadata", "proxy_on_grpc_receive_trailing_metadata", "proxy_on_grpc_receive",
	"proxy_on_grpc_close", "proxy_on_queue_ready", "proxy_on_foreign_function",
	"proxy_on_log", "proxy_on_done", "proxy_on_delete", "proxy_on_validate_configuration",
}

// ctxState is one proxy-wasm context inside a VM: a root context (one per plugin) or a stream context.
type ctxState struct {
	id     uint32
	plugin *Plugin
	root   *ctxState // the root context; itself for a root
	stream *streamCore

	// pendingDone is set when proxy_on_done returned false: the context lives on until the guest calls proxy_done.
	pendingDone bool

	// Root contexts only; guarded by the VM lock.
	tickPeriod time.Duration
	nextTick   time.Time
	props      []prop
}

// vm is one module instance. Its lock is held for every guest call; the stream, tick, call-response and
// queue paths all take it, so the guest never runs on two goroutines at once.
type vm struct {
	g    *vmGroup
	eng  *Engine
	mod  api.Module
	mem  api.Memory
	ctx  context.Context // carries the vm for resolveHost; cancelled when the VM dies (and on overrun, see interrupt)
	stop context.CancelFunc
	lock *ctxlock.Mutex

	fns     [numCallbacks]api.Function
	nparams [numCallbacks]int
	alloc   api.Function

	stack      [8]uint64
	allocStack [1]uint64

	// The guest's scratch arena (ExportScratchArena), 0 if it has none; hostCalls counts host-function calls so
	// that the arena holds at most one result per call (arenaCall is the call that used it last).
	arenaPtr, arenaSize  uint32
	hostCalls, arenaCall uint64
	// skipCell is the address of the guest's skip cell (ExportSkipCallbacks), 0 if it has none.
	skipCell uint32

	// Guarded by lock.
	nextID      uint32
	nextCallout uint32
	roots       []*ctxState
	contexts    map[uint32]*ctxState
	cur         *ctxState
	depth       int
	propBuf     []byte
	callResp    *CallResponse // set while proxy_on_http_call_response runs
	grpcResp    *GRPCResponse // set while a gRPC callback runs
	callData    []byte        // set while proxy_on_foreign_function runs
	doneQueue   []*ctxState   // contexts the guest declared done (proxy_done), deleted when the callback returns
	status      uint32
	statusMsg   string
	pendingGRPC map[uint32]context.CancelFunc
	grpcStreams map[uint32]*grpcStream

	streams  atomic.Int32
	dead     atomic.Bool
	deathErr error // set before dead is stored

	// CPU deadline (see watchdog.go). seq numbers outermost callbacks (guarded by lock); running publishes the
	// running one to the watchdog, 0 when idle; wdSeq and wdSince belong to the watchdog goroutine.
	timeout time.Duration
	seq     uint64
	running atomic.Uint64
	overran atomic.Bool
	guarded bool // loop-guarded code: overran stops it at its next tick (loopTick); else v.stop() does
	wdSeq   uint64
	wdSince time.Time

	stderr  *tailBuffer
	lastLog string // the guest's last warning or worse, quoted in start-up errors
}

// instantiate creates a VM of g's module, runs its entry point and creates every plugin's root context.
func (g *vmGroup) instantiate(ctx context.Context) (*vm, error) {
	v := &vm{
		g:           g,
		eng:         g.eng,
		lock:        ctxlock.New(),
		contexts:    map[uint32]*ctxState{},
		stderr:      &tailBuffer{},
		timeout:     g.timeout,
		pendingGRPC: map[uint32]context.CancelFunc{},
	}
	cancelCtx, stop := context.WithCancel(context.Background())
	v.ctx, v.stop = &vmContext{Context: cancelCtx, v: v}, stop

	mc := wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions(). // the entry point is called below, so its failure is reported like any other
		WithStdout(v.stderr).WithStderr(v.stderr).
		WithSysWalltime().WithSysNanotime().
		WithRandSource(rand.Reader).
		WithArgs("wasmesh")
	for k, val := range g.env {
		mc = mc.WithEnv(k, val)
	}
	mod, err := g.rt.r.InstantiateModule(v.ctx, g.cm, mc)
	if err != nil {
		return nil, &Error{Kind: ErrInstantiate, Op: "instantiate", Digest: g.mod.digest, Err: err}
	}
	v.mod = mod
	v.mem = mod.Memory()
	for i, name := range callbackNames {
		if f := mod.ExportedFunction(name); f != nil {
			v.fns[i] = f
			v.nparams[i] = len(f.Definition().ParamTypes())
		}
	}
	if v.alloc = mod.ExportedFunction(abi.ExportMemoryAllocate); v.alloc == nil {
		v.alloc = mod.ExportedFunction(abi.ExportMalloc)
	}
	if v.alloc == nil || v.mem == nil {
		_ = mod.Close(ctx)
		return nil, &Error{Kind: ErrInstantiate, Op: "instantiate", Digest: g.mod.digest,
			Err: errors.New("module exports neither proxy_on_memory_allocate nor malloc, or has no memory")}
	}

	if v.timeout > 0 {
		v.guarded = g.rt.key.term == termGuard
		v.eng.watchdog.register(v)
	}

	_ = v.lock.Lock(context.Background()) // a new VM: nothing else holds it
	defer v.release()
	for _, entry := range []string{abi.ExportInitialize, abi.ExportStart} {
		f := mod.ExportedFunction(entry)
		if f == nil {
			continue
		}
		if err := v.callEntry(f); err != nil {
			v.kill(err)
			return nil, &Error{Kind: ErrInstantiate, Op: entry, Digest: g.mod.digest, Err: v.withStderr(err)}
		}
		break
	}
	if err := v.findArena(); err != nil {
		v.kill(err)
		return nil, &Error{Kind: ErrInstantiate, Op: ExportScratchArena, Digest: g.mod.digest, Err: err}
	}
	if err := v.findSkipCell(); err != nil {
		v.kill(err)
		return nil, &Error{Kind: ErrInstantiate, Op: ExportSkipCallbacks, Digest: g.mod.digest, Err: err}
	}
	for _, p := range g.pluginsSnapshot() {
		if err := v.startRoot(p); err != nil {
			v.kill(err)
			return nil, err
		}
	}
	return v, nil
}

func (v *vm) callEntry(f api.Function) error {
	v.arm()
	_, err := f.Call(v.ctx)
	v.disarm()
	var exit *sys.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 0 && !v.mod.IsClosed() {
		return nil
	}
	return err
}

// startRoot creates p's root context in v and runs proxy_on_vm_start and proxy_on_configure on it.
func (v *vm) startRoot(p *Plugin) error {
	v.nextID++
	cs := &ctxState{id: v.nextID, plugin: p}
	cs.root = cs
	v.contexts[cs.id] = cs
	v.roots = append(v.roots, cs)
	// call's errors are already *Error naming the callback and plugin.
	if _, err := v.call(cs, cbContextCreate, uint64(cs.id), 0, 0, 0, 0); err != nil && err != errMissingCallback {
		return err
	}
	if v.fns[cbVMStart] != nil {
		r, err := v.call(cs, cbVMStart, uint64(cs.id), uint64(len(v.g.vmConfig)), 0, 0, 0)
		if err != nil {
			return err
		}
		if uint32(r) == 0 {
			return p.wrap(ErrVMStart, "proxy_on_vm_start", v.stderrErr())
		}
	}
	if v.fns[cbValidateConfiguration] != nil {
		r, err := v.call(cs, cbValidateConfiguration, uint64(cs.id), uint64(len(p.cfg.Configuration)), 0, 0, 0)
		if err != nil {
			return err
		}
		if uint32(r) == 0 {
			return p.wrap(ErrInvalidConfig, "proxy_on_validate_configuration", v.stderrErr())
		}
	}
	if v.fns[cbConfigure] != nil {
		r, err := v.call(cs, cbConfigure, uint64(cs.id), uint64(len(p.cfg.Configuration)), 0, 0, 0)
		if err != nil {
			return err
		}
		if uint32(r) == 0 {
			return p.wrap(ErrConfigure, "proxy_on_configure", v.stderrErr())
		}
	}
	return nil
}

// stopRoot runs the end of p's root context (proxy_on_done, proxy_on_delete) and forgets it. A root whose
// proxy_on_done returns false stays (still receiving call responses and queue notifications, no longer ticks)
// until the guest calls proxy_done, unless final is set: a VM that is closing deletes it anyway.
func (v *vm) stopRoot(p *Plugin, final bool) {
	cs := v.rootFor(p)
	if cs == nil {
		return
	}
	for i, r := range v.roots {
		if r == cs {
			v.roots = append(v.roots[:i], v.roots[i+1:]...)
			break
		}
	}
	cs.tickPeriod = 0
	if v.dead.Load() {
		delete(v.contexts, cs.id)
		return
	}
	if !cs.pendingDone && !v.onDone(cs) && !final {
		return
	}
	v.deleteContext(cs)
}

// onDone runs proxy_on_done; false means the guest wants the context kept until it calls proxy_done.
func (v *vm) onDone(cs *ctxState) bool {
	r, err := v.call(cs, cbDone, uint64(cs.id), 0, 0, 0, 0)
	if err != nil || uint32(r) != 0 {
		return true
	}
	cs.pendingDone = true
	return false
}

// deleteContext runs proxy_on_delete on a context that is done and forgets it; a deferred stream context gives
// its place on the VM back.
func (v *vm) deleteContext(cs *ctxState) {
	if !v.dead.Load() {
		_, _ = v.call(cs, cbDelete, uint64(cs.id), 0, 0, 0, 0)
	}
	delete(v.contexts, cs.id)
	if cs.pendingDone && cs.root != cs {
		v.streams.Add(-1)
	}
}

// runDoneQueue deletes the contexts the guest ended with proxy_done during the callback that just returned (not
// from inside proxy_done, so the guest never sees proxy_on_delete re-enter it).
func (v *vm) runDoneQueue() {
	for len(v.doneQueue) > 0 {
		cs := v.doneQueue[0]
		v.doneQueue = v.doneQueue[1:]
		if v.contexts[cs.id] == cs {
			v.deleteContext(cs)
		}
	}
	v.doneQueue = v.doneQueue[:0]
}

func (v *vm) rootFor(p *Plugin) *ctxState {
	for _, r := range v.roots {
		if r.plugin == p {
			return r
		}
	}
	return nil
}

// acquire takes the VM lock, giving up when ctx ends: a request waits for its VM only as long as it lives.
func (v *vm) acquire(ctx context.Context) error { return v.lock.Lock(ctx) }

func (v *vm) release() { v.lock.Unlock() }

// errMissingCallback marks a callback the module does not export; callers treat it as "continue".
var errMissingCallback = errors.New("callback not exported")

// call runs one callback in context cs with up to five arguments (only as many as the export declares are
// passed, which is how ABI 0.1.0's two-argument proxy_on_request_headers is served). The caller holds the lock.
// A failure kills the VM and is returned as an *Error.
func (v *vm) call(cs *ctxState, cb int, a0, a1, a2, a3, a4 uint64) (uint64, error) {
	f := v.fns[cb]
	if f == nil {
		return 0, errMissingCallback
	}
	if v.dead.Load() {
		return 0, v.deathErr
	}
	v.cur = cs
	s := v.stack[:]
	s[0], s[1], s[2], s[3], s[4] = a0, a1, a2, a3, a4
	v.arm()
	err := f.CallWithStack(v.ctx, s)
	v.disarm()
	if len(v.doneQueue) > 0 && v.depth == 0 && err == nil {
		r := s[0]
		v.runDoneQueue()
		s[0] = r
	}
	if err != nil || v.overran.Load() {
		// A callback that overran kills its VM even if it returned just as the watchdog struck: the flag stays
		// set, so the VM would trap at its next loop tick anyway.
		kind := ErrTrap
		if v.overran.Load() {
			kind = ErrDeadline
			err = v.deadlineErr(err)
		}
		e := &Error{Kind: kind, Op: callbackNames[cb], Plugin: cs.plugin.cfg.Name, Digest: v.g.mod.digest, Err: v.withStderr(err)}
		v.kill(e)
		return 0, e
	}
	return s[0], nil
}

func (v *vm) deadlineErr(err error) error {
	if err == nil {
		return fmt.Errorf("callback returned after its deadline of %v", v.timeout)
	}
	return fmt.Errorf("callback stopped after its deadline of %v (raise PluginConfig.CallTimeout if the module needs longer): %w", v.timeout, err)
}

// arm starts the CPU deadline of an outermost guest call by publishing it to the watchdog; nested calls (the
// allocator, called from a host function) run under the deadline of the callback around them.
func (v *vm) arm() {
	v.depth++
	if v.depth == 1 && v.timeout > 0 {
		v.seq++
		v.running.Store(v.seq)
	}
}

func (v *vm) disarm() {
	if v.depth == 1 && v.timeout > 0 {
		v.running.Store(0)
	}
	v.depth--
}

// interrupt stops a callback that outlived its deadline; the watchdog calls it from its own goroutine. With the
// loop guard the running code traps at its next tick (loopTick); under wazero's checks (modules loopguard cannot
// rewrite) cancelling the VM's context closes the module at its next check. Either way even `for {}` stops, and
// the VM is killed when the call returns.
func (v *vm) interrupt() {
	v.overran.Store(true)
	if !v.guarded {
		v.stop()
	}
}

// ExportScratchArena is an optional export of wasmesh-built Go guests (builder/bridge): func() i64 returning the
// address (high 32 bits) and size (low 32) of a scratch area the host may fill with one host call's result
// instead of calling the guest's allocator, which for a Go guest is a full re-entry. The guest copies the result
// out before its SDK sees it. Other hosts ignore the export and the module works with them unchanged.
const ExportScratchArena = "wasmesh_scratch_arena"

// askGuest calls an optional wasmesh export of signature func() <result>; ok is false if the guest lacks it.
func (v *vm) askGuest(name string, result api.ValueType) (r uint64, ok bool, err error) {
	f := v.mod.ExportedFunction(name)
	if f == nil {
		return 0, false, nil
	}
	d := f.Definition()
	if len(d.ParamTypes()) != 0 || len(d.ResultTypes()) != 1 || d.ResultTypes()[0] != result {
		return 0, false, fmt.Errorf("export has the wrong signature: want func() %s", api.ValueTypeName(result))
	}
	v.arm()
	res, err := f.Call(v.ctx)
	v.disarm()
	if err != nil {
		return 0, false, err
	}
	return res[0], true, nil
}

// findArena asks the guest for its scratch arena, if it exports one, and checks it lies in linear memory.
func (v *vm) findArena() error {
	r, ok, err := v.askGuest(ExportScratchArena, api.ValueTypeI64)
	if !ok {
		return err
	}
	ptr, size := uint32(r>>32), uint32(r)
	if ptr == 0 || size == 0 || uint64(ptr)+uint64(size) > uint64(v.mem.Size()) {
		return fmt.Errorf("arena [%#x, +%d) is outside linear memory of %d bytes", ptr, size, v.mem.Size())
	}
	v.arenaPtr, v.arenaSize = ptr, size
	return nil
}

// ExportSkipCallbacks is an optional export of wasmesh-built Go guests (builder/bridge): func() i32 returning the
// address of a 32-bit cell that, whenever proxy_on_context_create of a stream context returns, holds the callbacks
// of that context the guest declares no-ops (they would return Continue, or true for proxy_on_done, and do
// nothing else), one bit each in the order of skipBits. The host does not call those for that context: for a Go
// guest each callback is a full entry into its runtime and SDK, and a filter that implements only
// OnHttpRequestHeaders would otherwise pay for on_response_headers, on_log and on_done on every stream. Other hosts
// ignore the export and call everything, which is equally correct.
const ExportSkipCallbacks = "wasmesh_skip_callbacks"

// skipBits are the callbacks of the skip cell, bit 0 first. The bridges (builder/bridge/shared) number them
// the same way.
var skipBits = [...]int{
	cbRequestHeaders, cbRequestBody, cbRequestTrailers, cbResponseHeaders, cbResponseBody, cbResponseTrailers,
	cbLog, cbDone, cbNewConnection, cbDownstreamData, cbDownstreamClose, cbUpstreamData, cbUpstreamClose,
}

// findSkipCell asks the guest where its skip cell is, if it exports one, and checks it lies in linear memory.
func (v *vm) findSkipCell() error {
	r, ok, err := v.askGuest(ExportSkipCallbacks, api.ValueTypeI32)
	if !ok {
		return err
	}
	ptr := uint32(r)
	if ptr == 0 || uint64(ptr)+4 > uint64(v.mem.Size()) {
		return fmt.Errorf("skip cell at %#x is outside linear memory of %d bytes", ptr, v.mem.Size())
	}
	v.skipCell = ptr
	return nil
}

// skips reads the skip cell after a stream context was created, as a set of 1<<cb bits.
func (v *vm) skips() uint32 {
	if v.skipCell == 0 {
		return 0
	}
	bits, ok := v.mem.ReadUint32Le(v.skipCell)
	if !ok {
		return 0
	}
	var set uint32
	for i, cb := range skipBits {
		if bits&(1<<i) != 0 {
			set |= 1 << cb
		}
	}
	return set
}

// Allocate implements abi.Host with the guest's scratch arena when it has one and it is free in this host call,
// else with the module's allocator.
func (v *vm) Allocate(size uint32) (uint32, error) {
	if v.arenaSize != 0 && size <= v.arenaSize && v.arenaCall != v.hostCalls {
		v.arenaCall = v.hostCalls
		return v.arenaPtr, nil
	}
	v.allocStack[0] = uint64(size)
	v.arm()
	err := v.alloc.CallWithStack(v.ctx, v.allocStack[:])
	v.disarm()
	if err != nil {
		return 0, err
	}
	ptr := uint32(v.allocStack[0])
	if ptr == 0 && size > 0 {
		return 0, errors.New("guest allocator returned NULL")
	}
	return ptr, nil
}

// kill marks the VM dead (once), logs why with the guest's last output, removes it from its group and wakes every
// stream waiting on it so the fail strategy can run.
func (v *vm) kill(err error) {
	if v.dead.Load() {
		return
	}
	v.deathErr = err
	v.dead.Store(true)
	v.eng.watchdog.unregister(v)
	v.eng.log.Error("wasm VM died", "digest", v.g.mod.digest, "vm_id", v.g.key.vmID, "error", err)
	v.stop()
	if v.mod != nil {
		_ = v.mod.Close(context.Background())
	}
	for _, cancel := range v.pendingGRPC {
		cancel()
	}
	for _, st := range v.grpcStreams {
		st.cancel()
		st.stream.Cancel()
	}
	v.wakeStreams()
	v.g.shared.forget(v)
	v.g.vmDied(v)
}

// wakeStreams tells every paused stream on a VM that is going away to look at it (Wait returns, the stream
// applies its fail strategy).
func (v *vm) wakeStreams() {
	for _, cs := range v.contexts {
		if cs.stream != nil {
			cs.stream.signal()
		}
	}
}

// close ends a healthy VM: root contexts are told, then the instance is freed.
func (v *vm) close(ctx context.Context) {
	if err := v.acquire(ctx); err == nil {
		for len(v.roots) > 0 {
			v.stopRoot(v.roots[0].plugin, true)
		}
		for _, cs := range v.contexts { // roots and streams that were waiting for proxy_done
			if cs.pendingDone {
				v.deleteContext(cs)
			}
		}
		for token, st := range v.grpcStreams {
			v.endStream(token, st)
			st.stream.Cancel()
		}
		v.deathErr = ErrClosed
		v.dead.Store(true)
		v.wakeStreams()
		v.release()
	}
	v.dead.Store(true)
	v.eng.watchdog.unregister(v)
	v.stop()
	if v.mod != nil {
		_ = v.mod.Close(ctx)
	}
}

// withStderr appends what the guest said before failing: its last warning-or-worse log (AssemblyScript's abort
// logs there) and the head and tail of its stdout/stderr (a Go guest prints its panic and goroutine trace there).
// wazero's own error text already carries the wasm stack trace.
func (v *vm) withStderr(err error) error {
	if extra := v.stderrErr(); extra != nil {
		return &guestOutputError{err: err, output: extra.Error()}
	}
	return err
}

func (v *vm) stderrErr() error {
	var parts []string
	if v.lastLog != "" {
		parts = append(parts, "guest log: "+strconv.Quote(v.lastLog))
	}
	if tail := v.stderr.String(); tail != "" {
		parts = append(parts, "guest output: "+tail)
	}
	if len(parts) == 0 {
		return nil
	}
	return errors.New(strings.Join(parts, "\n"))
}

type guestOutputError struct {
	err    error
	output string
}

func (e *guestOutputError) Error() string { return e.err.Error() + "\n" + e.output }
func (e *guestOutputError) Unwrap() error { return e.err }

// tailBuffer keeps the first 1 KiB and the last 3 KiB a guest wrote to stdout/stderr: a Go guest's fatal error
// prints its headline ("fatal error: out of memory") first and its goroutine trace after.
type tailBuffer struct {
	mu      sync.Mutex
	head    []byte
	tail    []byte
	dropped bool
}

const (
	headMax = 1024
	tailMax = 3072
)

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(p)
	if room := headMax - len(t.head); room > 0 {
		k := min(room, len(p))
		t.head = append(t.head, p[:k]...)
		p = p[k:]
	}
	t.tail = append(t.tail, p...)
	if len(t.tail) > tailMax {
		t.tail = append(t.tail[:0], t.tail[len(t.tail)-tailMax:]...)
		t.dropped = true
	}
	return n, nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.dropped {
		return string(t.head) + "\n[...]\n" + string(t.tail)
	}
	return string(t.head) + string(t.tail)
}

// queueReady tells a root context that its queue has items.
func (v *vm) queueReady(root, queueID uint32) {
	if err := v.acquire(context.Background()); err != nil {
		return
	}
	defer v.release()
	cs := v.contexts[root]
	if cs == nil || v.dead.Load() {
		return
	}
	_, _ = v.call(cs, cbQueueReady, uint64(root), uint64(queueID), 0, 0, 0)
}
