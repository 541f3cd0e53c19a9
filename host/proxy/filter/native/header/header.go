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

	"github.com/wasmesh/wasmesh/host/proxy/filter"
	"github.com/wasmesh/wasmesh/host/proxy/headerops"
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

type headerFilter struct {
	filter.Base
	req, resp headerops.Ops
	wants     filter.Wants
}

var _ filter.Filter = (*headerFilter)(nil)

// New builds the filter from spec.Config.
func New(_ context.Context, spec filter.Spec) (filter.Filter, error) {
	var c Config
	if len(spec.Config) > 0 {
		d := json.NewDecoder(bytes.NewReader(spec.Config))
		d.DisallowUnknownFields()
		if err := d.Decode(&c); err != nil {
			return nil, fmt.Errorf("config: %w (expected request_set, request_add, request_remove, response_set, response_add, response_remove)", err)
		}
	}
	f := &headerFilter{
		req:  headerops.New(c.RequestSet, c.RequestAdd, c.RequestRemove),
		resp: headerops.New(c.ResponseSet, c.ResponseAdd, c.ResponseRemove),
	}
	if !f.req.Empty() {
		f.wants |= filter.WantRequestHeaders
	}
	if !f.resp.Empty() {
		f.wants |= filter.WantResponseHeaders
	}
	return f, nil
}

func (f *headerFilter) Wants() filter.Wants { return f.wants }

func (f *headerFilter) OnRequestHeaders(s *filter.Stream, _ bool) filter.Action {
	f.req.ApplyTo(s.RequestHeaders)
	return filter.Continue
}

func (f *headerFilter) OnResponseHeaders(s *filter.Stream, _ bool) filter.Action {
	f.resp.ApplyTo(s.ResponseHeaders)
	return filter.Continue
}
