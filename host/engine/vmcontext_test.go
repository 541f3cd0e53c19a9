package engine

import (
	"context"
	goruntime "runtime"
	"testing"
)

// TestVMContextDerived: contexts derived from a VM's context (HTTP and gRPC calls) still join its cancellation
// directly, without the watcher goroutine package context starts for a parent it cannot see through, now that
// vmContext.Value answers only vmKey and context's own key; and the VM is still found through them.
func TestVMContextDerived(t *testing.T) {
	v := &vm{}
	parent, stop := context.WithCancel(context.Background())
	v.ctx = &vmContext{Context: parent, v: v}

	before := goruntime.NumGoroutine()
	var children []context.Context
	for range 50 {
		c, cancel := context.WithCancel(v.ctx)
		defer cancel()
		children = append(children, c)
	}
	if n := goruntime.NumGoroutine() - before; n > 5 {
		t.Errorf("%d goroutines started for 50 derived contexts: package context no longer sees the cancelCtx below vmContext", n)
	}
	if vmOf(children[0]) != v {
		t.Error("the VM is not found through a derived context")
	}
	if v.ctx.Value(struct{}{}) != nil {
		t.Error("a foreign key has a value")
	}
	stop()
	for i, c := range children {
		if c.Err() == nil {
			t.Fatalf("child %d not cancelled with the VM's context", i)
		}
	}
}
