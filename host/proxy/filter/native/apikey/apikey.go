// Package apikey is a native filter that answers 401 unless a request carries one of the configured API keys in
// a header. It is the native twin of the Wasm auth filter's API-key mode, used as the benchmark's native
// comparison.
//
//	f, _ := apikey.New(ctx, filter.Spec{Name: "keys", Kind: apikey.KindName,
//		Config: []byte(`{"header":"x-api-key","keys":["k1","k2"]}`)})
package apikey

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/wasmesh/wasmesh/host/proxy/filter"
)

// KindName is the kind to write in proxy.yaml.
const KindName = "apikey"

// Config is the filter's JSON configuration.
type Config struct {
	Header string   `json:"header"` // default x-api-key
	Keys   []string `json:"keys"`
}

// Kind registers the filter.
func Kind() filter.Kind { return filter.Kind{Name: KindName, New: New} }

type apiKey struct {
	filter.Base
	header string
	keys   map[string]struct{}
}

var _ filter.Filter = (*apiKey)(nil)

var unauthorizedHeaders = [][2]string{{"content-type", "text/plain"}, {"www-authenticate", "ApiKey"}}

// New builds the filter from spec.Config.
func New(_ context.Context, spec filter.Spec) (filter.Filter, error) {
	var c Config
	d := json.NewDecoder(bytes.NewReader(spec.Config))
	d.DisallowUnknownFields()
	if err := d.Decode(&c); err != nil {
		return nil, fmt.Errorf("config: %w (expected {\"header\": ..., \"keys\": [...]})", err)
	}
	if len(c.Keys) == 0 {
		return nil, errors.New("config.keys: at least one key is required")
	}
	if c.Header == "" {
		c.Header = "x-api-key"
	}
	f := &apiKey{header: filter.CanonicalName(c.Header), keys: make(map[string]struct{}, len(c.Keys))}
	for _, k := range c.Keys {
		f.keys[k] = struct{}{}
	}
	return f, nil
}

func (f *apiKey) Wants() filter.Wants { return filter.WantRequestHeaders }

var unauthorizedBody = []byte("missing or invalid API key\n")

func (f *apiKey) OnRequestHeaders(s *filter.Stream, _ bool) filter.Action {
	if _, ok := f.keys[s.RequestHeaders.Get(f.header)]; !ok {
		s.SendLocalResponse(401, unauthorizedHeaders, unauthorizedBody, "apikey_denied")
	}
	return filter.Continue
}
