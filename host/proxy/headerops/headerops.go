// Package headerops is a prebuilt list of header mutations (remove, set, add) applied without allocating: names
// are canonicalised and values wrapped in their slices once, when the configuration is built. The native header
// filter and route header mutation both use it.
//
//	ops := headerops.New(map[string]string{"x-env": "prod"}, nil, []string{"server"})
//	ops.Apply(req.Header)
package headerops

import (
	"net/http"
	"net/textproto"
	"slices"

	"github.com/wasmesh/wasmesh/host/proxy/filter"
)

type kind uint8

const (
	opDel kind = iota
	opSet
	opAdd
)

type op struct {
	name  string   // canonical
	value []string // one element, capacity 1: an append elsewhere copies instead of writing into it
	kind  kind
}

// Ops is an immutable list of mutations, in the order remove, set, add (each sorted by name).
type Ops struct{ ops []op }

// New builds Ops; nil maps and slices are fine.
func New(set, add map[string]string, remove []string) Ops {
	var out []op
	for _, n := range remove {
		out = append(out, op{name: textproto.CanonicalMIMEHeaderKey(n), kind: opDel})
	}
	for _, n := range sortedKeys(set) {
		out = append(out, op{name: textproto.CanonicalMIMEHeaderKey(n), value: []string{set[n]}[:1:1], kind: opSet})
	}
	for _, n := range sortedKeys(add) {
		out = append(out, op{name: textproto.CanonicalMIMEHeaderKey(n), value: []string{add[n]}[:1:1], kind: opAdd})
	}
	return Ops{ops: out}
}

// Empty reports whether there is nothing to do.
func (o Ops) Empty() bool { return len(o.ops) == 0 }

// Apply mutates an http.Header. Set shares the prebuilt value slice, which is safe because net/http and the
// Headers adapters replace or append to value slices, never write into them.
func (o Ops) Apply(h http.Header) {
	for _, op := range o.ops {
		switch op.kind {
		case opDel:
			delete(h, op.name)
		case opSet:
			h[op.name] = op.value
		case opAdd:
			h[op.name] = append(h[op.name], op.value[0])
		}
	}
}

// ApplyTo mutates filter headers, taking the allocation-free path for HTTP maps.
func (o Ops) ApplyTo(h filter.Headers) {
	switch hh := h.(type) {
	case *filter.HTTPRequestHeaders:
		o.Apply(hh.R.Header)
		return
	case *filter.HTTPResponseHeaders:
		o.Apply(hh.H)
		return
	}
	for _, op := range o.ops {
		switch op.kind {
		case opDel:
			h.Del(op.name)
		case opSet:
			h.Set(op.name, op.value[0])
		case opAdd:
			h.Add(op.name, op.value[0])
		}
	}
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
