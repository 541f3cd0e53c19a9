package filter

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
)

// Spec is one filter as configured, handed to its kind's constructor.
type Spec struct {
	Name   string // unique in its chain; used in logs, metrics and per-route overrides
	Kind   string // "wasm", "header", "apikey", ...
	Config []byte // the plugin configuration, JSON (proxy-wasm's on_configure bytes for Wasm filters)
	// Options are the kind's own settings (JSON), e.g. a Wasm filter's VM pool size; each kind decodes them.
	Options []byte
	// Module is the Wasm module reference (file://, http(s)://, oci://) and its pin; empty for native kinds.
	Module ModuleRef
	// FailOpen lets streams pass when the filter is broken (proxy-wasm fail_open); the kind decides what broken
	// means.
	FailOpen bool
	Logger   *slog.Logger
}

// ModuleRef names a Wasm module and, optionally, the sha256 it must have.
type ModuleRef struct {
	URL    string
	SHA256 string // hex; required for http(s) sources
}

// Factory builds a Filter from a Spec. It runs off the request path (at start or reload) and may be slow: a Wasm
// kind fetches and compiles the module and starts VMs here, and fails if on_vm_start or on_configure fails.
type Factory func(ctx context.Context, spec Spec) (Filter, error)

// Kind is a named Factory; each filter package offers one (for example header.Kind()).
type Kind struct {
	Name string
	New  Factory
}

// Registry maps kind names to factories. It is built once at startup from the kinds the program links in.
type Registry struct {
	kinds map[string]Factory
}

// NewRegistry returns a Registry of kinds; a name given twice is an error.
func NewRegistry(kinds ...Kind) (*Registry, error) {
	r := &Registry{kinds: make(map[string]Factory, len(kinds))}
	for _, k := range kinds {
		if k.Name == "" || k.New == nil {
			return nil, fmt.Errorf("filter kind %q: a kind needs a name and a constructor", k.Name)
		}
		if _, dup := r.kinds[k.Name]; dup {
			return nil, fmt.Errorf("filter kind %q registered twice", k.Name)
		}
		r.kinds[k.Name] = k.New
	}
	return r, nil
}

// Has reports whether kind is registered.
func (r *Registry) Has(kind string) bool { _, ok := r.kinds[kind]; return ok }

// Names lists the registered kinds, sorted, for error messages.
func (r *Registry) Names() []string {
	out := make([]string, 0, len(r.kinds))
	for k := range r.kinds {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Build constructs the filter spec describes.
func (r *Registry) Build(ctx context.Context, spec Spec) (Filter, error) {
	f, ok := r.kinds[spec.Kind]
	if !ok {
		return nil, fmt.Errorf("filter %q: unknown kind %q (known: %s)", spec.Name, spec.Kind, strings.Join(r.Names(), ", "))
	}
	if spec.Logger == nil {
		spec.Logger = slog.New(slog.DiscardHandler)
	}
	flt, err := f(ctx, spec)
	if err != nil {
		return nil, fmt.Errorf("filter %q (kind %s): %w", spec.Name, spec.Kind, err)
	}
	return flt, nil
}
