package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/wasmesh/wasmesh/host/proxy/cluster"
	"github.com/wasmesh/wasmesh/host/proxy/config"
	"github.com/wasmesh/wasmesh/host/proxy/drain"
	"github.com/wasmesh/wasmesh/host/proxy/dubboproxy"
	"github.com/wasmesh/wasmesh/host/proxy/filter"
	"github.com/wasmesh/wasmesh/host/proxy/httpproxy"
	"github.com/wasmesh/wasmesh/host/proxy/metrics"
	"github.com/wasmesh/wasmesh/host/proxy/route"
	"github.com/wasmesh/wasmesh/host/proxy/tcpproxy"
)

// generation is one built configuration: everything a request needs, plus what must be closed when the last
// request on it is done.
type generation struct {
	id       int64
	file     *config.File
	hash     string
	loadedAt time.Time
	ref      *drain.Ref

	listeners map[string]*httpproxy.Config
	dubbo     map[string]*dubboproxy.Config
	tcp       map[string]*tcpproxy.Config
	clusters  map[string]*httpproxy.Upstream
	dubboCls  map[string]*dubboproxy.Cluster // clusters with protocol dubbo (also in clusters, for LB and dumps)
	routes    map[string][]*filter.Chain     // effective chain per route, by listener
	chains    map[string]*filter.Chain       // listener chains, for /config_dump and /filters
	filters   []builtFilter                  // every filter instance built, including per-route overrides
	reusable  map[string]*sharedFilter       // the previous generation's instances, by filterKey, while building

	stopHealth context.CancelFunc
}

type builtFilter struct {
	listener string
	route    string // set for a route's override instance
	spec     config.Filter
	shared   *sharedFilter // the instance, possibly shared with other generations
}

// sharedFilter is a filter instance that consecutive generations share while its definition does not change, so
// a reload that touches one filter (or only routes and clusters) does not restart the others' VMs and lose what
// they hold (caches, fetched keys, counters). The last generation holding it closes it.
type sharedFilter struct {
	key  string
	f    filter.Filter
	refs atomic.Int32
}

// filterKey identifies what a filter instance was built from, or is "" when the same definition may build
// something else next time: a module referenced without a digest (a file, an OCI tag) can change under the same
// URL, so it is built again on every reload.
func filterKey(listener, routeName string, fc config.Filter, cfg []byte) string {
	if m := fc.Module; m != nil && m.SHA256 == "" && !strings.Contains(m.URL, "@sha256:") {
		return ""
	}
	var mod config.Module
	if fc.Module != nil {
		mod = *fc.Module
	}
	return fmt.Sprintf("%q %q %q %q %q %q %q %q %t", listener, routeName, fc.Name, fc.Kind, mod.URL, mod.SHA256,
		cfg, []byte(fc.Options), fc.FailOpen)
}

// build turns a validated file into a generation. On error everything built so far is closed. clustersBuilt is
// called with the generation once its clusters exist, before its filters start (their calls need clusters).
// prev, the running generation or nil, lends the filter instances whose definition is unchanged (filterKey);
// the caller must not close prev while build runs.
func build(ctx context.Context, id int64, f *config.File, hash string, prev *generation, reg *filter.Registry, m *metrics.Metrics, log *slog.Logger, clustersBuilt func(*generation)) (_ *generation, err error) {
	g := &generation{id: id, file: f, hash: hash, loadedAt: time.Now(), ref: drain.New(),
		listeners: map[string]*httpproxy.Config{}, clusters: map[string]*httpproxy.Upstream{},
		dubbo: map[string]*dubboproxy.Config{}, tcp: map[string]*tcpproxy.Config{}, dubboCls: map[string]*dubboproxy.Cluster{}, routes: map[string][]*filter.Chain{},
		chains: map[string]*filter.Chain{}, reusable: map[string]*sharedFilter{}}
	if prev != nil {
		for _, bf := range prev.filters {
			if bf.shared.key == "" {
				continue
			}
			if d, ok := bf.shared.f.(filter.Describer); ok && d.Describe().State == "failed" {
				continue // a reload is how an operator recovers a broken filter: build it again
			}
			g.reusable[bf.shared.key] = bf.shared
		}
	}
	defer func() {
		g.reusable = nil
		if err != nil {
			g.close(context.Background())
		}
	}()
	for i, cc := range f.Clusters {
		c, err := cluster.New(cc, log)
		if err != nil {
			return nil, fmt.Errorf("clusters[%d]: %w", i, err)
		}
		cm := m.Cluster(cc.Name)
		g.clusters[cc.Name] = &httpproxy.Upstream{Cluster: c, Metrics: cm}
		if cc.Protocol == "dubbo" {
			dc, err := dubboproxy.NewCluster(c, cm, log)
			if err != nil {
				return nil, fmt.Errorf("clusters[%d]: %w", i, err)
			}
			g.dubboCls[cc.Name] = dc
		}
	}
	if clustersBuilt != nil {
		clustersBuilt(g)
	}
	for i, lc := range f.Listeners {
		if err := g.buildListener(ctx, lc, reg, m, log, f.AccessLog); err != nil {
			return nil, fmt.Errorf("listeners[%d] (%s): %w", i, lc.Name, err)
		}
	}
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	g.stopHealth = cancel
	for name, u := range g.clusters {
		if dc := g.dubboCls[name]; dc != nil {
			go dc.Start(hctx) // its endpoint clients and health checks
			continue
		}
		go u.Start(hctx)
	}
	return g, nil
}

func (g *generation) buildListener(ctx context.Context, lc config.Listener, reg *filter.Registry, m *metrics.Metrics, log *slog.Logger, accessLog bool) error {
	llog := log.With("listener", lc.Name)
	entries := make([]filter.Entry, 0, len(lc.Filters))
	for j, fc := range lc.Filters {
		e, err := g.buildFilter(ctx, lc.Name, "", fc, fc.Config, reg, m, llog)
		if err != nil {
			return fmt.Errorf("filters[%d]: %w", j, err)
		}
		entries = append(entries, e)
	}
	chain := filter.NewChain(entries)
	g.chains[lc.Name] = chain
	table, err := route.NewTable(lc.Routes)
	if err != nil {
		return err
	}
	var chains []*filter.Chain
	for j, r := range table.Routes() {
		rc := chain
		if len(r.Filters) > 0 {
			if rc, err = g.routeChain(ctx, lc, entries, r, reg, m, llog); err != nil {
				return fmt.Errorf("routes[%d] (%s): %w", j, r.Name, err)
			}
		}
		chains = append(chains, rc)
	}
	g.routes[lc.Name] = chains
	if lc.Protocol == "tcp" {
		tc := &tcpproxy.Config{Listener: lc.Name, Address: lc.Address, MaxBuffer: lc.MaxBufferBytes, Log: llog, Ref: g.ref}
		for j, e := range chain.Entries() {
			nf, ok := e.Filter.(filter.NetworkFilter)
			if !ok {
				return fmt.Errorf("filters[%d] (%s): kind %q has no network (L4) callbacks and cannot run on a tcp listener", j, e.Name, e.Kind)
			}
			tc.Filters = append(tc.Filters, nf)
		}
		name := lc.Routes[0].Cluster
		u := g.clusters[name]
		tc.Cluster, tc.Metrics, tc.ConnectTimeout = u.Cluster, u.Metrics, u.Config().ConnectTimeout.D(5*time.Second)
		g.tcp[lc.Name] = tc
		return nil
	}
	if lc.Protocol == "dubbo" {
		dc := &dubboproxy.Config{Listener: lc.Name, Address: lc.Address, Table: table, NoRoute: m.Route(lc.Name, ""),
			Clusters: g.dubboCls, Log: llog, Ref: g.ref}
		for j, r := range table.Routes() {
			dc.Routes = append(dc.Routes, route.Bound{Route: r, Chain: chains[j], Stats: m.Route(lc.Name, r.Name)})
		}
		g.dubbo[lc.Name] = dc
		return nil
	}
	hc := &httpproxy.Config{Listener: lc.Name, Address: lc.Address, Table: table, NoRoute: m.Route(lc.Name, ""),
		Clusters: g.clusters, MaxBuffer: lc.MaxBufferBytes, AccessLog: accessLog, Log: llog, Ref: g.ref}
	for j, r := range table.Routes() {
		hc.Routes = append(hc.Routes, route.Bound{Route: r, Chain: chains[j], Stats: m.Route(lc.Name, r.Name)})
	}
	g.listeners[lc.Name] = hc
	return nil
}

// routeChain applies a route's overrides: a disabled filter is left out, a filter with its own config is built
// again with it (its phase and priority unchanged).
func (g *generation) routeChain(ctx context.Context, lc config.Listener, entries []filter.Entry, r *route.Route, reg *filter.Registry, m *metrics.Metrics, log *slog.Logger) (*filter.Chain, error) {
	var out []filter.Entry
	for j, e := range entries {
		o, ok := r.Filters[e.Name]
		switch {
		case !ok:
			out = append(out, e)
		case o.Disabled:
		case len(o.Config) > 0:
			ne, err := g.buildFilter(ctx, lc.Name, r.Name, lc.Filters[j], o.Config, reg, m, log)
			if err != nil {
				return nil, fmt.Errorf("filters.%s: %w", e.Name, err)
			}
			out = append(out, ne)
		default:
			out = append(out, e)
		}
	}
	return filter.NewChain(out), nil
}

func (g *generation) buildFilter(ctx context.Context, listener, routeName string, fc config.Filter, cfg []byte, reg *filter.Registry, m *metrics.Metrics, log *slog.Logger) (filter.Entry, error) {
	phase, err := filter.ParsePhase(fc.Phase)
	if err != nil {
		return filter.Entry{}, err
	}
	key := filterKey(listener, routeName, fc, cfg)
	sf := g.reusable[key]
	if sf != nil {
		sf.refs.Add(1)
		log.Debug("filter unchanged; keeping its instance from the previous configuration", "filter", fc.Name)
	} else {
		spec := filter.Spec{Name: fc.Name, Kind: fc.Kind, Config: cfg, Options: fc.Options, FailOpen: fc.FailOpen,
			Logger: log.With("filter", fc.Name)}
		if fc.Module != nil {
			spec.Module = filter.ModuleRef{URL: fc.Module.URL, SHA256: fc.Module.SHA256}
		}
		f, err := reg.Build(ctx, spec)
		if err != nil {
			return filter.Entry{}, err
		}
		sf = &sharedFilter{key: key, f: f}
		sf.refs.Store(1)
	}
	g.filters = append(g.filters, builtFilter{listener: listener, route: routeName, spec: fc, shared: sf})
	return filter.Entry{Name: fc.Name, Kind: fc.Kind, Phase: phase, Priority: fc.Priority, Filter: sf.f,
		Observe: m.FilterObserver(listener, fc.Name)}, nil
}

// close releases what the generation holds. Call it after its Ref is done (or on a failed build).
func (g *generation) close(ctx context.Context) error {
	if g.stopHealth != nil {
		g.stopHealth()
	}
	var errs []error
	for _, bf := range g.filters {
		if bf.shared.refs.Add(-1) > 0 {
			continue // a newer generation still uses it
		}
		if c, ok := bf.shared.f.(filter.Closer); ok {
			if err := c.Close(ctx); err != nil {
				errs = append(errs, fmt.Errorf("close filter %s: %w", bf.spec.Name, err))
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(g.clusters)) {
		g.clusters[name].Close()
	}
	return errors.Join(errs...)
}
