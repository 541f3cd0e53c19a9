// Package xds is the proxy's xDS client: it keeps an ADS stream to the wasmesh operator, turns the ECDS
// filter resources it receives into Wasm filters of the proxy's listeners (HTTP filters on http listeners, and on
// dubbo listeners whose port a match names; NETWORK filters on tcp listeners; each narrowed by its traffic match:
// ports, and the listener's direction, inbound unless proxy.yaml says `direction: outbound`), and reloads the
// proxy through its usual whole-configuration generations. A reload that succeeds is acknowledged (ACK); one the
// proxy refuses (a module that does not fetch, compile or configure) is rejected (NACK) with the error, and the
// proxy keeps running what it had. When the operator is unreachable the proxy keeps its last configuration and
// retries. The filters' calls and failures go back to the operator as load reports (LRS).
//
//	c := xds.New(xds.Options{Server: "operator:18000", Node: xdsapi.Node{ID: "web-1", Namespace: "shop"},
//		Base: "proxy.yaml", Out: "proxy.xds.yaml", Reload: func(ctx context.Context) error { return srv.Reload(ctx, "xds") }})
//	go c.Start(ctx) // proxy.Options.ConfigPath is "proxy.xds.yaml": the base plus the operator's filters
package xds

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	wasmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/wasm/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/wrapperspb"
	"sigs.k8s.io/yaml"

	"github.com/wasmesh/wasmesh/internal/atomicfile"
	"github.com/wasmesh/wasmesh/xdsapi"
)

const typeURL = "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig"

// Options configure a Client.
type Options struct {
	// Server is the operator's ADS address, host:port (plain gRPC; put it behind a mesh or a tunnel for TLS).
	Server string
	// Node is this proxy's identity: id, namespace, pod and labels select it.
	Node xdsapi.Node
	// Base is the proxy's own configuration file; Out is where the base plus the operator's filters is written
	// (the proxy's ConfigPath).
	Base, Out string
	// Reload applies Out; its error is the NACK message.
	Reload func(ctx context.Context) error
	// Stats reads the proxy's filter counters for load reports (abort.maxErrorRatePercent); nil sends none.
	Stats  func() []FilterStats
	Logger *slog.Logger
}

// Client is the proxy side of the operator's ADS stream.
type Client struct {
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	version string
	applied map[string]string           // filter resource name -> module sha256
	counted map[instanceKey]FilterStats // counters as last reported
}

// New returns a client; call Merge once before starting the proxy so Out exists.
func New(opts Options) *Client {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Client{opts: opts, log: log, applied: map[string]string{}}
}

// Applied returns the filters running now, by resource name, with their module digest.
func (c *Client) Applied() map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]string, len(c.applied))
	for k, v := range c.applied {
		out[k] = v
	}
	return out
}

// Start keeps a stream open until ctx ends, reconnecting with backoff (1s doubling to 30s).
func (c *Client) Start(ctx context.Context) error {
	backoff := time.Second
	for {
		err := c.stream(ctx)
		if ctx.Err() != nil {
			return nil
		}
		c.log.Warn("xDS stream ended; keeping the current filters and retrying", "server", c.opts.Server, "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

func (c *Client) stream(ctx context.Context) error {
	conn, err := grpc.NewClient(c.opts.Server, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s, err := discovery.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		return err
	}
	go c.report(ctx, conn) // ends with this stream's ctx
	c.mu.Lock()
	version := c.version
	c.mu.Unlock()
	// version_info tells a restarted operator what this proxy runs; an empty resource list is a wildcard.
	if err := s.Send(&discovery.DiscoveryRequest{Node: c.opts.Node.Proto(), TypeUrl: typeURL, VersionInfo: version}); err != nil {
		return err
	}
	c.log.Info("xDS stream open", "server", c.opts.Server, "node", c.opts.Node.ID)
	for {
		resp, err := s.Recv()
		if err != nil {
			return err
		}
		req := &discovery.DiscoveryRequest{TypeUrl: typeURL, ResponseNonce: resp.GetNonce()}
		if err := c.apply(ctx, resp); err != nil {
			c.log.Error("rejected filters from the operator (NACK)", "version", resp.GetVersionInfo(), "err", err)
			req.ErrorDetail = &status.Status{Code: int32(codes.InvalidArgument), Message: err.Error()}
		}
		c.mu.Lock()
		req.VersionInfo = c.version
		c.mu.Unlock()
		if err := s.Send(req); err != nil {
			return err
		}
	}
}

// apply merges the response's filters into the base configuration and reloads; on failure the previous Out
// is restored, so a later file-triggered reload does not pick the refused configuration up.
func (c *Client) apply(ctx context.Context, resp *discovery.DiscoveryResponse) error {
	filters, applied, err := decode(resp)
	if err != nil {
		return err
	}
	prev, _ := os.ReadFile(c.opts.Out)
	if err := c.write(filters); err != nil {
		return err
	}
	if err := c.opts.Reload(ctx); err != nil {
		if prev != nil {
			_ = atomicfile.Write(c.opts.Out, prev, 0o600)
		}
		return err
	}
	c.mu.Lock()
	c.version, c.applied = resp.GetVersionInfo(), applied
	c.mu.Unlock()
	return nil
}

// Merge writes Out from Base with no operator filters yet.
func (c *Client) Merge() error { return c.write(nil) }

// filterEntry is one operator filter as a proxy.yaml filter, with the listeners it goes to (network: tcp
// listeners, else http; match: ports and directions) and its per-route overrides.
type filterEntry struct {
	config  map[string]any
	network bool
	match   []xdsapi.TrafficMatch
	routes  []xdsapi.RouteOverride
}

// decode turns the resources into proxy filter entries in chain order.
func decode(resp *discovery.DiscoveryResponse) ([]filterEntry, map[string]string, error) {
	byName := map[string]*core.TypedExtensionConfig{}
	var chain *xdsapi.Chain
	for _, a := range resp.GetResources() {
		var r core.TypedExtensionConfig
		if err := a.UnmarshalTo(&r); err != nil {
			return nil, nil, fmt.Errorf("resource of type %s: %w", a.GetTypeUrl(), err)
		}
		if r.GetName() == xdsapi.ChainName {
			ch, err := xdsapi.DecodeChain(&r)
			if err != nil {
				return nil, nil, err
			}
			chain = &ch
			continue
		}
		byName[r.GetName()] = &r
	}
	if chain == nil {
		if len(byName) > 0 {
			return nil, nil, errors.New("filters without " + xdsapi.ChainName + ": cannot order them")
		}
		return nil, map[string]string{}, nil
	}
	var out []filterEntry
	applied := map[string]string{}
	for _, e := range chain.Filters {
		r, ok := byName[e.Name]
		if !ok {
			return nil, nil, fmt.Errorf("%s lists %s, which was not sent", xdsapi.ChainName, e.Name)
		}
		if e.Type != "" && e.Type != "HTTP" && e.Type != "NETWORK" {
			return nil, nil, fmt.Errorf("filter %s: unknown type %q (this proxy runs HTTP and NETWORK filters)", e.Name, e.Type)
		}
		pc, err := xdsapi.DecodeFilter(r)
		if err != nil {
			return nil, nil, err
		}
		remote := pc.GetVmConfig().GetCode().GetRemote()
		var cfg wrapperspb.StringValue
		if pc.GetConfiguration() != nil {
			if err := pc.GetConfiguration().UnmarshalTo(&cfg); err != nil {
				return nil, nil, fmt.Errorf("filter %s: configuration: %w", e.Name, err)
			}
		}
		opts := map[string]any{"fail_strategy": strings.Replace(pc.GetFailurePolicy().String(), "FAIL_CLOSED", "FAIL_CLOSE", 1)}
		if pc.GetRootId() != "" {
			opts["root_id"] = pc.GetRootId()
		}
		if pc.GetVmConfig().GetVmId() != "" {
			opts["vm_id"] = pc.GetVmConfig().GetVmId()
		}
		if env := vmEnv(pc.GetVmConfig().GetEnvironmentVariables()); len(env) > 0 {
			opts["env"] = env
		}
		f := map[string]any{
			"name":     FilterNamePrefix + e.Deployment,
			"kind":     "wasm",
			"module":   map[string]any{"url": remote.GetHttpUri().GetUri(), "sha256": remote.GetSha256()},
			"options":  opts,
			"priority": e.Priority,
		}
		if e.Phase != "" && e.Phase != "UNSPECIFIED_PHASE" {
			f["phase"] = e.Phase
		}
		if cfg.Value != "" {
			f["config"] = json.RawMessage(cfg.Value)
		}
		out = append(out, filterEntry{config: f, network: e.Type == "NETWORK", match: e.Match, routes: e.Routes})
		applied[e.Name] = "sha256:" + remote.GetSha256()
	}
	return out, applied, nil
}

// vmEnv is the guest's environment: key_values as sent, and host_env_keys read from this proxy's own
// environment now (a key the proxy does not have is left out, as Envoy does). Values are resolved here rather
// than in the Wasm filter so Out is a complete configuration; it is written readable by the owner only.
func vmEnv(ev *wasmv3.EnvironmentVariables) map[string]string {
	if ev == nil {
		return nil
	}
	env := make(map[string]string, len(ev.GetKeyValues())+len(ev.GetHostEnvKeys()))
	for _, k := range ev.GetHostEnvKeys() {
		if v, ok := os.LookupEnv(k); ok {
			env[k] = v
		}
	}
	for k, v := range ev.GetKeyValues() {
		env[k] = v // an inline value wins over the host's
	}
	return env
}

// listenerScope is what decides whether an operator filter goes to a listener of Base.
type listenerScope struct {
	protocol string // http, dubbo or tcp
	outbound bool   // direction: outbound; inbound (SERVER) by default
	port     int32  // from the address; 0 when unknown
}

func scopeOf(l map[string]any) listenerScope {
	str := func(k string) string { v, _ := l[k].(string); return v }
	sc := listenerScope{protocol: str("protocol"), outbound: str("direction") == "outbound"}
	if sc.protocol == "" {
		sc.protocol = "http"
	}
	if _, p, err := net.SplitHostPort(str("address")); err == nil {
		if n, err := strconv.ParseInt(p, 10, 32); err == nil {
			sc.port = int32(n)
		}
	}
	return sc
}

// runsOn says whether f goes to a listener: NETWORK filters to tcp listeners, HTTP filters to http listeners,
// and then any of the filter's traffic matches must select the listener (no match selects all). A match
// selects by direction (SERVER: inbound, CLIENT: outbound, CLIENT_AND_SERVER or unset: both) and by port (none
// listed: every port). Dubbo listeners run HTTP filters on Dubbo's header pairs, but a filter written for
// HTTP (a JWT check, say) would refuse every Dubbo call: an HTTP filter goes to a dubbo listener only when a
// match names that listener's port.
func (f filterEntry) runsOn(sc listenerScope) bool {
	switch {
	case f.network != (sc.protocol == "tcp"), !f.network && sc.protocol != "http" && sc.protocol != "dubbo":
		return false
	case len(f.match) == 0:
		return sc.protocol != "dubbo"
	}
	for _, m := range f.match {
		switch {
		case m.Mode == "SERVER" && sc.outbound, m.Mode == "CLIENT" && !sc.outbound:
			continue
		case slices.Contains(m.Ports, sc.port), len(m.Ports) == 0 && sc.protocol != "dubbo":
			return true
		}
	}
	return false
}

// write adds each filter to the listeners of Base it runs on and writes Out atomically. Base is edited as a
// generic document so every field the proxy knows survives unchanged.
func (c *Client) write(filters []filterEntry) error {
	raw, err := os.ReadFile(c.opts.Base)
	if err != nil {
		return fmt.Errorf("proxy base config: %w", err)
	}
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return fmt.Errorf("%s: %w", c.opts.Base, err)
	}
	var doc map[string]any
	if err := json.Unmarshal(js, &doc); err != nil {
		return fmt.Errorf("%s: %w", c.opts.Base, err)
	}
	listeners, _ := doc["listeners"].([]any)
	for _, l := range listeners {
		lm, ok := l.(map[string]any)
		if !ok {
			continue
		}
		sc := scopeOf(lm)
		var here []filterEntry
		for _, f := range filters {
			if f.runsOn(sc) {
				here = append(here, f)
			}
		}
		if len(here) == 0 {
			continue
		}
		own, _ := lm["filters"].([]any)
		for _, f := range here {
			own = append(own, f.config)
		}
		lm["filters"] = own
		if sc.protocol == "tcp" {
			continue // a tcp listener's one route has no match to override
		}
		routes, _ := lm["routes"].([]any)
		for _, r := range routes {
			rm, ok := r.(map[string]any)
			if !ok {
				continue
			}
			for _, f := range here {
				for _, o := range f.routes {
					if !overrides(o, rm, sc.protocol) {
						continue
					}
					per, _ := rm["filters"].(map[string]any)
					if per == nil {
						per = map[string]any{}
						rm["filters"] = per
					}
					fo := map[string]any{}
					if o.Disabled {
						fo["disabled"] = true
					}
					if o.Configuration != "" {
						fo["config"] = json.RawMessage(o.Configuration)
					}
					per[f.config["name"].(string)] = fo
					break // the first matching override of a filter wins, as listed
				}
			}
		}
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(c.opts.Out, out, 0o600)
}

// overrides says whether a route override applies to a route of proxy.yaml: every field the override sets must
// equal the route's own (its name, and match.host, match.path.exact or match.path.prefix on http listeners,
// match.service on dubbo listeners; an override with fields of the other protocol applies to neither). Overrides
// are resolved against the routes as configured, once per update, not per request.
func overrides(o xdsapi.RouteOverride, route map[string]any, protocol string) bool {
	match, _ := route["match"].(map[string]any)
	path, _ := match["path"].(map[string]any)
	str := func(m map[string]any, k string) string { v, _ := m[k].(string); return v }
	if protocol == "dubbo" {
		return o.Host == "" && o.PathExact == "" && o.PathPrefix == "" &&
			(o.RouteName == "" || o.RouteName == str(route, "name")) &&
			(o.DubboService == "" || o.DubboService == str(match, "service")) &&
			(o.RouteName != "" || o.DubboService != "")
	}
	if o.DubboService != "" {
		return false
	}
	return (o.RouteName == "" || o.RouteName == str(route, "name")) &&
		(o.Host == "" || o.Host == str(match, "host")) &&
		(o.PathExact == "" || o.PathExact == str(path, "exact")) &&
		(o.PathPrefix == "" || o.PathPrefix == str(path, "prefix")) &&
		(o.RouteName != "" || o.Host != "" || o.PathExact != "" || o.PathPrefix != "")
}
