// Package header is a native filter that sets, adds and removes request and response headers, configured per
// filter (and overridable per route like any filter).
//
//	reg, _ := filter.NewRegistry(header.Kind())
//	f, _ := reg.Build(ctx, filter.Spec{Name: "tag", Kind: header.KindName,
//		Config: []byte(`{"request_set":{"x-env":"prod"},"response_remove":["server"]}`)})
package header

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"

	"github.com/wasmesh/wasmesh/host/proxy/filter"
)

// KindName is the kind to write in proxy.yaml.
const KindName = "header"

// Config is the filter's JSON configuration.
type Config struct {
	RequestSet     map[string]string `json:"request_set,omitempty"`
	RequestAdd     map[string]string `json:"request_add,omitempty"`
	RequestRemove  []string          `json:"request_remove,omitempty"`
	ResponseSet    map[string]string `json:"response_set,omitempty"`
	ResponseAdd    map[string]string `json:"response_add,omitempty"`
	ResponseRemove []string          `json:"response_remove,omitempty"`
}

// Kind registers the filter.
func Kind() filter.Kind { return filter.Kind{Name: KindName, New: New} }

type op struct {
	name  string   // canonical
	value []string // prebuilt one-element slice, capacity 1 so an append elsewhere copies it
	kind  uint8    // opSet, opAdd, opDel
}

const (
	opSet uint8 = iota
	opAdd
	opDel
)

type headerFilter struct {
	filter.Base
	req, resp []op
	wants     filter.Wants
}

var _ filter.Filter = (*headerFilter)(nil)

// New builds the filter from spec.Config.
func New(_ context.Context, spec filter.Spec) (filter.Filter, error) {
	var c Config
	if len(spec.Config) > 0 {
		if err := strictJSON(spec.Config, &c); err != nil {
			return nil, fmt.Errorf("config: %w (expected request_set, request_add, request_remove, response_set, response_add, response_remove)", err)
		}
	}
	f := &headerFilter{
		req:  ops(c.RequestSet, c.RequestAdd, c.RequestRemove),
		resp: ops(c.ResponseSet, c.ResponseAdd, c.ResponseRemove),
	}
	if len(f.req) > 0 {
		f.wants |= filter.WantRequestHeaders
	}
	if len(f.resp) > 0 {
		f.wants |= filter.WantResponseHeaders
	}
	return f, nil
}

func ops(set, add map[string]string, remove []string) []op {
	var out []op
	for _, n := range remove {
		out = append(out, op{name: filter.CanonicalName(n), kind: opDel})
	}
	for _, n := range sortedKeys(set) {
		out = append(out, op{name: filter.CanonicalName(n), value: []string{set[n]}[:1:1], kind: opSet})
	}
	for _, n := range sortedKeys(add) {
		out = append(out, op{name: filter.CanonicalName(n), value: []string{add[n]}[:1:1], kind: opAdd})
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func (f *headerFilter) Wants() filter.Wants { return f.wants }

func (f *headerFilter) OnRequestHeaders(s *filter.Stream, _ bool) filter.Action {
	apply(s.RequestHeaders, f.req)
	return filter.Continue
}

func (f *headerFilter) OnResponseHeaders(s *filter.Stream, _ bool) filter.Action {
	apply(s.ResponseHeaders, f.resp)
	return filter.Continue
}

// apply writes the prebuilt value slices straight into an http.Header when it can, which saves an allocation per
// header per request; other header maps go through the interface.
func apply(h filter.Headers, ops []op) {
	var m http.Header
	switch hh := h.(type) {
	case *filter.HTTPRequestHeaders:
		m = hh.R.Header
	case *filter.HTTPResponseHeaders:
		m = hh.H
	}
	for _, o := range ops {
		switch {
		case m != nil && o.kind == opSet:
			m[o.name] = o.value
		case m != nil && o.kind == opDel:
			delete(m, o.name)
		case o.kind == opSet:
			h.Set(o.name, o.value[0])
		case o.kind == opDel:
			h.Del(o.name)
		default:
			h.Add(o.name, o.value[0])
		}
	}
}

func strictJSON(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	return d.Decode(v)
}
