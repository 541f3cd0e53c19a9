package xdsapi

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	httpwasm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/wasm/v3"
	wasmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/wasm/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Node metadata keys a proxy sends in its first DiscoveryRequest so selectors can pick it.
const (
	MetaNamespace = "namespace" // string: the workload's namespace
	MetaPod       = "pod"       // string: the pod (or host) name
	MetaLabels    = "labels"    // struct of strings: the workload's labels
)

// Resource names. Every filter is a TypedExtensionConfig named FilterPrefix + "<namespace>/<name>" of its
// WasmDeployment; ChainName is one more TypedExtensionConfig, holding a Chain: the order of the filters (phase,
// priority), their traffic matches and per-route overrides, which Envoy's Wasm proto has no field for. An Envoy
// subscribing to the filter names by ECDS never asks for ChainName; a wasmesh proxy subscribes to all (wildcard).
const (
	FilterPrefix = "wasmesh.io/filter/"
	ChainName    = "wasmesh.io/chain"
	// ModulesCluster is the upstream cluster named in http_uri, for Envoys: a cluster pointing at the module server.
	ModulesCluster = "wasmesh-operator-modules"
	// Runtime is the VM runtime named in vm_config (the one Envoy ships; wasmesh proxies run wazero whatever it says).
	Runtime = "envoy.wasm.runtime.v8"
)

// Node is a proxy's identity.
type Node struct {
	ID        string
	Namespace string
	Pod       string
	Labels    map[string]string
}

// NodeFromProto reads the identity from an xDS node.
func NodeFromProto(n *core.Node) Node {
	out := Node{ID: n.GetId()}
	f := n.GetMetadata().GetFields()
	out.Namespace = f[MetaNamespace].GetStringValue()
	out.Pod = f[MetaPod].GetStringValue()
	if l := f[MetaLabels].GetStructValue(); l != nil {
		out.Labels = make(map[string]string, len(l.GetFields()))
		for k, v := range l.GetFields() {
			out.Labels[k] = v.GetStringValue()
		}
	}
	return out
}

// Proto is the xDS node a proxy sends for identity n.
func (n Node) Proto() *core.Node {
	labels := map[string]any{}
	for k, v := range n.Labels {
		labels[k] = v
	}
	md, _ := structpb.NewStruct(map[string]any{MetaNamespace: n.Namespace, MetaPod: n.Pod, MetaLabels: labels})
	return &core.Node{Id: n.ID, Metadata: md, UserAgentName: "wasmesh"}
}

// Filter is one WasmDeployment's plugin as delivered to a proxy.
type Filter struct {
	// Deployment is "<namespace>/<name>".
	Deployment string
	// ModuleDigest is sha256:<hex> of the .wasm bytes; URL is where the module server serves them.
	ModuleDigest string
	URL          string
	RootID       string
	VMID         string
	// Configuration is the plugin configuration (JSON), delivered as a google.protobuf.StringValue.
	Configuration []byte
	// FailStrategy is FAIL_CLOSE, FAIL_OPEN or FAIL_RELOAD.
	FailStrategy string
	Env          map[string]string
	HostEnvKeys  []string
	// Chain placement and scope; see ChainEntry.
	Type     string
	Phase    string
	Priority int32
	Match    []TrafficMatch
	Routes   []RouteOverride
}

// Name is the resource name of f.
func (f Filter) Name() string { return FilterPrefix + f.Deployment }

// Chain is the content of the ChainName resource: the filters of the node, in the order they run.
type Chain struct {
	Filters []ChainEntry `json:"filters"`
}

// ChainEntry places one filter resource in the chain.
type ChainEntry struct {
	Name       string          `json:"name"`
	Deployment string          `json:"deployment"`
	Digest     string          `json:"digest"`
	Type       string          `json:"type,omitempty"`
	Phase      string          `json:"phase,omitempty"`
	Priority   int32           `json:"priority,omitempty"`
	Match      []TrafficMatch  `json:"match,omitempty"`
	Routes     []RouteOverride `json:"routes,omitempty"`
}

// TrafficMatch limits a filter to listener ports and directions (CLIENT, SERVER, CLIENT_AND_SERVER).
type TrafficMatch struct {
	Mode  string  `json:"mode,omitempty"`
	Ports []int32 `json:"ports,omitempty"`
}

// RouteOverride changes a filter on matching routes: Disabled, or another Configuration (JSON).
type RouteOverride struct {
	Name          string `json:"name"`
	Host          string `json:"host,omitempty"`
	PathExact     string `json:"pathExact,omitempty"`
	PathPrefix    string `json:"pathPrefix,omitempty"`
	RouteName     string `json:"routeName,omitempty"`
	DubboService  string `json:"dubboService,omitempty"`
	Disabled      bool   `json:"disabled,omitempty"`
	Configuration string `json:"configuration,omitempty"`
}

// phaseRank orders phases as Istio does: authentication, authorization, stats, then the rest (just before the
// router).
var phaseRank = map[string]int{"AUTHN": 0, "AUTHZ": 1, "STATS": 2, "UNSPECIFIED_PHASE": 3, "": 3}

// Built is a filter turned into its xDS resource once, shared by every node that runs it.
type Built struct {
	Resource *core.TypedExtensionConfig
	// Hash identifies the resource's content (digest, configuration, everything): a proxy acknowledged a filter
	// when the version it acknowledged held this hash.
	Hash  string
	Entry ChainEntry
}

// Build turns f into its resource.
func Build(f Filter) (*Built, error) {
	if f.Deployment == "" || !strings.HasPrefix(f.ModuleDigest, "sha256:") || f.URL == "" {
		return nil, fmt.Errorf("filter %q: deployment, module digest (sha256:...) and URL are required", f.Deployment)
	}
	cfg, err := anypb.New(wrapperspb.String(string(f.Configuration)))
	if err != nil {
		return nil, err
	}
	vm := &wasmv3.VmConfig{
		VmId:    f.VMID,
		Runtime: Runtime,
		Code: &core.AsyncDataSource{Specifier: &core.AsyncDataSource_Remote{Remote: &core.RemoteDataSource{
			HttpUri: &core.HttpUri{
				Uri:              f.URL,
				HttpUpstreamType: &core.HttpUri_Cluster{Cluster: ModulesCluster},
				Timeout:          durationpb.New(30 * time.Second),
			},
			Sha256: strings.TrimPrefix(f.ModuleDigest, "sha256:"),
		}}},
	}
	if len(f.Env) > 0 || len(f.HostEnvKeys) > 0 {
		vm.EnvironmentVariables = &wasmv3.EnvironmentVariables{HostEnvKeys: f.HostEnvKeys, KeyValues: f.Env}
	}
	pc := &wasmv3.PluginConfig{
		Name:          f.Deployment,
		RootId:        f.RootID,
		Vm:            &wasmv3.PluginConfig_VmConfig{VmConfig: vm},
		Configuration: cfg,
	}
	switch f.FailStrategy {
	case "FAIL_OPEN":
		pc.FailurePolicy = wasmv3.FailurePolicy_FAIL_OPEN
		//lint:ignore SA1019 older Envoys read only fail_open; failure_policy is set above for newer ones
		pc.FailOpen = true
	case "FAIL_RELOAD":
		pc.FailurePolicy = wasmv3.FailurePolicy_FAIL_RELOAD
	default:
		pc.FailurePolicy = wasmv3.FailurePolicy_FAIL_CLOSED
	}
	typed, err := anypb.New(&httpwasm.Wasm{Config: pc})
	if err != nil {
		return nil, err
	}
	res := &core.TypedExtensionConfig{Name: f.Name(), TypedConfig: typed}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(res)
	if err != nil {
		return nil, err
	}
	entry := ChainEntry{Name: f.Name(), Deployment: f.Deployment, Digest: f.ModuleDigest, Type: f.Type, Phase: f.Phase, Priority: f.Priority, Match: f.Match, Routes: f.Routes}
	eb, _ := json.Marshal(entry)
	sum := sha256.New()
	sum.Write(b)
	sum.Write(eb)
	return &Built{Resource: res, Hash: hex.EncodeToString(sum.Sum(nil))[:16], Entry: entry}, nil
}

// BuildChain orders filters (phase, then priority high first, then name) into the ChainName resource.
func BuildChain(filters []*Built) (*core.TypedExtensionConfig, error) {
	c := Chain{Filters: make([]ChainEntry, 0, len(filters))}
	for _, f := range filters {
		c.Filters = append(c.Filters, f.Entry)
	}
	sort.SliceStable(c.Filters, func(i, j int) bool {
		a, b := c.Filters[i], c.Filters[j]
		if phaseRank[a.Phase] != phaseRank[b.Phase] {
			return phaseRank[a.Phase] < phaseRank[b.Phase]
		}
		if a.Priority != b.Priority {
			return a.Priority > b.Priority
		}
		return a.Name < b.Name
	})
	b, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	typed, err := anypb.New(wrapperspb.String(string(b)))
	if err != nil {
		return nil, err
	}
	return &core.TypedExtensionConfig{Name: ChainName, TypedConfig: typed}, nil
}

// maxChainBytes bounds a chain a proxy accepts.
const maxChainBytes = 1 << 20

// DecodeChain reads a ChainName resource (untrusted input for a proxy).
func DecodeChain(r *core.TypedExtensionConfig) (Chain, error) {
	var c Chain
	if r.GetName() != ChainName {
		return c, fmt.Errorf("resource %q is not %s", r.GetName(), ChainName)
	}
	var s wrapperspb.StringValue
	if err := r.GetTypedConfig().UnmarshalTo(&s); err != nil {
		return c, fmt.Errorf("%s: %w", ChainName, err)
	}
	if len(s.Value) > maxChainBytes {
		return c, fmt.Errorf("%s: %d bytes, limit %d", ChainName, len(s.Value), maxChainBytes)
	}
	if err := json.Unmarshal([]byte(s.Value), &c); err != nil {
		return c, fmt.Errorf("%s: %w", ChainName, err)
	}
	for i, f := range c.Filters {
		if !strings.HasPrefix(f.Name, FilterPrefix) {
			return c, fmt.Errorf("%s: filters[%d]: name %q lacks the %s prefix", ChainName, i, f.Name, FilterPrefix)
		}
	}
	return c, nil
}

// DecodeFilter reads a filter resource: the Wasm plugin config inside it.
func DecodeFilter(r *core.TypedExtensionConfig) (*wasmv3.PluginConfig, error) {
	if !strings.HasPrefix(r.GetName(), FilterPrefix) {
		return nil, fmt.Errorf("resource %q is not a wasmesh filter", r.GetName())
	}
	var w httpwasm.Wasm
	if err := r.GetTypedConfig().UnmarshalTo(&w); err != nil {
		return nil, fmt.Errorf("filter %s: %w", r.GetName(), err)
	}
	if w.GetConfig().GetVmConfig().GetCode().GetRemote().GetHttpUri().GetUri() == "" {
		return nil, errors.New("filter " + r.GetName() + ": no vm_config.code.remote.http_uri")
	}
	return w.GetConfig(), nil
}
