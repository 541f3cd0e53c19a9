package engine

import (
	"context"

	"github.com/wasmesh/wasmesh/host/abi"
)

// ForeignFunction is a function the data plane offers modules by name (Config.ForeignFunctions); a module calls it
// with proxy_call_foreign_function. It runs on the VM's goroutine with the VM locked, so it must not block: it
// returns its immediate result, and work that finishes later answers through reply, which delivers
// proxy_on_foreign_function(root_context_id, functionID, len(data)) to the root context that made the call; the
// module reads data as the call-data buffer (abi.BufferCallData). reply may be called from any goroutine, any
// number of times, and does nothing once the VM or the root context is gone. A non-nil error is reported to
// the module as INTERNAL_FAILURE.
type ForeignFunction func(args []byte, reply ForeignReply) ([]byte, error)

// ForeignReply posts an asynchronous answer of a foreign function back to the module (see ForeignFunction).
type ForeignReply func(functionID uint32, data []byte)

// CallForeignFunction implements abi.Host: names not in Config.ForeignFunctions are NOT_FOUND, as the spec asks.
func (v *vm) CallForeignFunction(name, args []byte) ([]byte, abi.Status) {
	fn := v.eng.cfg.ForeignFunctions[string(name)]
	if fn == nil {
		return nil, abi.StatusNotFound
	}
	var root *ctxState
	if v.cur != nil {
		root = v.cur.root
	}
	reply := func(functionID uint32, data []byte) {
		if root == nil {
			return
		}
		go v.deliverForeign(root, functionID, append([]byte{}, data...)) // never under the caller's locks
	}
	out, err := fn(args, reply)
	if err != nil {
		v.eng.log.Debug("wasm foreign function failed", "name", string(name), "error", err)
		return nil, abi.StatusInternalFailure
	}
	return out, abi.StatusOK
}

func (v *vm) deliverForeign(root *ctxState, functionID uint32, data []byte) {
	if v.acquire(context.Background()) != nil {
		return
	}
	defer v.release()
	if v.dead.Load() || v.contexts[root.id] != root {
		return
	}
	_, _ = v.onForeign(root, functionID, data)
}

// onForeign runs proxy_on_foreign_function on a root context with data as the call-data buffer. The caller holds
// the VM lock.
func (v *vm) onForeign(root *ctxState, functionID uint32, data []byte) (bool, error) {
	if data == nil {
		data = []byte{}
	}
	v.callData = data
	_, err := v.call(root, cbForeignFunction, uint64(root.id), uint64(functionID), uint64(len(data)), 0, 0)
	v.callData = nil
	if err == errMissingCallback {
		return false, nil
	}
	return err == nil, err
}

// ForeignEvent runs proxy_on_foreign_function(root_context_id, functionID, len(data)) on the plugin's root
// context in every live VM, for data-plane events a module subscribed to (a DNS answer, a cluster change...). The
// module reads data as the call-data buffer. It returns how many VMs ran the callback, and the first failure (the
// VM it killed is handled as any trap). Modules that do not export the callback are skipped.
func (p *Plugin) ForeignEvent(ctx context.Context, functionID uint32, data []byte) (int, error) {
	var ran int
	var first error
	for _, v := range p.g.vmsSnapshot() {
		if v.dead.Load() {
			continue
		}
		if err := v.acquire(ctx); err != nil {
			return ran, err
		}
		if root := v.rootFor(p); root != nil && !v.dead.Load() {
			ok, err := v.onForeign(root, functionID, data)
			if ok {
				ran++
			}
			if err != nil && first == nil {
				first = err
			}
		}
		v.release()
	}
	return ran, first
}
