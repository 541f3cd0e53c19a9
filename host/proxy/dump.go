package proxy

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/wasmesh/wasmesh/host/proxy/config"
	"github.com/wasmesh/wasmesh/host/proxy/filter"
)

// Dump is /config_dump: the active generation as built, with each chain in the order it runs.
type Dump struct {
	Generation int64          `json:"generation"`
	LoadedAt   time.Time      `json:"loaded_at"`
	File       string         `json:"file"`
	SHA256     string         `json:"sha256"`
	LastReload ReloadStatus   `json:"last_reload"`
	Listeners  []ListenerDump `json:"listeners"`
	Clusters   []ClusterDump  `json:"clusters"`
}

// ListenerDump is one listener.
type ListenerDump struct {
	Name        string      `json:"name"`
	Address     string      `json:"address"`
	BoundTo     string      `json:"bound_to,omitempty"`
	Protocol    string      `json:"protocol"`
	FilterChain []ChainItem `json:"filter_chain"`
	Routes      []RouteDump `json:"routes"`
}

// ChainItem is one filter in run order.
type ChainItem struct {
	Name     string `json:"name"`
	Kind     string `json:"kind"`
	Phase    string `json:"phase"`
	Priority int    `json:"priority"`
}

// RouteDump is one route with its effective chain.
type RouteDump struct {
	config.Route
	FilterChain []ChainItem `json:"effective_filter_chain"`
}

// ClusterDump is one cluster with endpoint state.
type ClusterDump struct {
	config.Cluster
	EndpointState []EndpointState `json:"endpoint_state"`
	Active        int64           `json:"active_requests"`
	Connections   int64           `json:"connections"`
	Overflow      uint64          `json:"circuit_breaker_overflow"`
}

// EndpointState is an endpoint's health.
type EndpointState struct {
	Address string `json:"address"`
	Healthy bool   `json:"healthy"`
	Ejected bool   `json:"ejected"`
}

func chainItems(c *filter.Chain) []ChainItem {
	out := []ChainItem{}
	for _, e := range c.Entries() {
		out = append(out, ChainItem{Name: e.Name, Kind: e.Kind, Phase: e.Phase.String(), Priority: e.Priority})
	}
	return out
}

// ConfigDump returns the Dump of the active generation.
func (s *Server) ConfigDump() any {
	g := s.gen.Load()
	d := Dump{Generation: g.id, LoadedAt: g.loadedAt, File: s.opts.ConfigPath, SHA256: g.hash, LastReload: s.LastReload()}
	for _, lc := range g.file.Listeners {
		ld := ListenerDump{Name: lc.Name, Address: lc.Address, Protocol: lc.Protocol, FilterChain: chainItems(g.chains[lc.Name])}
		if a := s.Addr(lc.Name); a != nil {
			ld.BoundTo = a.String()
		}
		for i, rc := range g.routes[lc.Name] {
			ld.Routes = append(ld.Routes, RouteDump{Route: lc.Routes[i], FilterChain: chainItems(rc)})
		}
		d.Listeners = append(d.Listeners, ld)
	}
	for _, cc := range g.file.Clusters {
		u := g.clusters[cc.Name]
		st := u.Stats()
		cd := ClusterDump{Cluster: cc, Active: st.Active, Connections: st.Connections, Overflow: st.Overflow}
		for _, e := range u.Endpoints() {
			cd.EndpointState = append(cd.EndpointState, EndpointState{Address: e.Address, Healthy: e.Healthy(), Ejected: e.Ejected()})
		}
		d.Clusters = append(d.Clusters, cd)
	}
	return d
}

// FilterInfo is one entry of /filters.
type FilterInfo struct {
	Listener string          `json:"listener"`
	Route    string          `json:"route,omitempty"` // set for a route's override instance
	Name     string          `json:"name"`
	Kind     string          `json:"kind"`
	Phase    string          `json:"phase"`
	Priority int             `json:"priority"`
	Module   *config.Module  `json:"module,omitempty"`
	Config   json.RawMessage `json:"config,omitempty"`
	filter.Status
}

// FilterStatus lists every filter instance of the active generation.
func (s *Server) FilterStatus() any {
	g := s.gen.Load()
	out := []FilterInfo{}
	for _, bf := range g.filters {
		st := filter.Status{State: "ok"}
		if d, ok := bf.shared.f.(filter.Describer); ok {
			st = d.Describe()
		}
		phase, _ := filter.ParsePhase(bf.spec.Phase)
		out = append(out, FilterInfo{Listener: bf.listener, Route: bf.route, Name: bf.spec.Name, Kind: bf.spec.Kind,
			Phase: phase.String(), Priority: bf.spec.Priority, Module: bf.spec.Module, Config: bf.spec.Config, Status: st})
	}
	slices.SortStableFunc(out, func(a, b FilterInfo) int {
		if a.Listener != b.Listener {
			if a.Listener < b.Listener {
				return -1
			}
			return 1
		}
		return 0
	})
	return out
}
