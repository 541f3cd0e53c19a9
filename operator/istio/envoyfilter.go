package istio

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"google.golang.org/protobuf/types/known/structpb"
	networking "istio.io/api/networking/v1alpha3"
	typev1beta1 "istio.io/api/type/v1beta1"
	networkingv1alpha3 "istio.io/client-go/pkg/apis/networking/v1alpha3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/wasmesh/wasmesh/operator/api/v1alpha1"
)

// RouteMetadataKey is the filter_metadata namespace under which per-route plugin configurations are
// written on Envoy routes: filter_metadata["wasmesh.io"]["<namespace>.<name>"] holds the override
// as a JSON string. Envoy's Wasm filter has no per-route configuration of its own, so a plugin
// that honours overrides reads the property
// ["xds", "route_metadata", "filter_metadata", "wasmesh.io", "<namespace>.<name>"] and, when
// present, uses it instead of its configuration.
const RouteMetadataKey = "wasmesh.io"

// filterConfigType is Envoy's generic per-route filter configuration, which every HTTP filter
// honours for "disabled" whether or not it has per-route configuration of its own.
const filterConfigType = "type.googleapis.com/envoy.config.route.v3.FilterConfig"

// EnvoyFilters returns the EnvoyFilter objects that carry what a WasmPlugin cannot: the per-route
// overrides of spec.routes. It returns none when there are no routes.
//
// Each override becomes a MERGE patch on the matching virtual hosts (match.host, by domain) or
// routes (match.routeName, the name of a VirtualService http route):
//   - disabled: true sets typed_per_filter_config[FilterName(wd)] to a FilterConfig with
//     disabled: true (and is_optional, so a proxy without the plugin accepts it);
//   - pluginConfig sets route metadata, see RouteMetadataKey.
//
// Patches are made for the contexts spec.match asks for (SERVER: SIDECAR_INBOUND; CLIENT:
// SIDECAR_OUTBOUND and GATEWAY; otherwise ANY) and for each listed port. Istio builds inbound
// sidecar routes as one catch-all virtual host with a route named "default", so overrides by host
// or VirtualService route name take effect on outbound sidecars and gateways, not inbound. Path and Dubbo matches
// cannot be expressed (EnvoyFilter matches routes by name only) and return ErrUnsupported; the CRD
// refuses them for Istio targets already.
func EnvoyFilters(wd *v1alpha1.WasmDeployment) ([]*networkingv1alpha3.EnvoyFilter, error) {
	id := wd.Namespace + "/" + wd.Name
	if !slices.Contains(wd.Spec.Targets, v1alpha1.TargetIstio) {
		return nil, fmt.Errorf("WasmDeployment %s: %w: add Istio to spec.targets to run it on Envoy", id, ErrNotIstioTarget)
	}
	if len(wd.Spec.Routes) == 0 {
		return nil, nil
	}
	if wd.Spec.Type == v1alpha1.PluginTypeNetwork {
		return nil, fmt.Errorf("WasmDeployment %s: spec.routes: %w: a NETWORK plugin sees no routes; remove spec.routes or use type HTTP", id, ErrUnsupported)
	}
	where := listenerScopes(wd.Spec.Match)
	var patches []*networking.EnvoyFilter_EnvoyConfigObjectPatch
	for i, r := range wd.Spec.Routes {
		field := fmt.Sprintf("spec.routes[%d] (%s)", i, r.Name)
		if r.Match.Path != nil || r.Match.DubboService != "" {
			return nil, fmt.Errorf("WasmDeployment %s: %s.match: %w: Envoy routes can be matched by host or routeName only, path and dubboService are served by wasmesh proxies; match by host or routeName, or remove Istio from spec.targets", id, field, ErrUnsupported)
		}
		if r.Match.Host == "" && r.Match.RouteName == "" {
			return nil, fmt.Errorf("WasmDeployment %s: %s.match: %w: set host or routeName", id, field, ErrInvalid)
		}
		value, err := routePatchValue(wd, r)
		if err != nil {
			return nil, fmt.Errorf("WasmDeployment %s: %s: %w", id, field, err)
		}
		for _, sc := range where {
			patches = append(patches, routePatch(sc, r.Match, value))
		}
	}
	ef := &networkingv1alpha3.EnvoyFilter{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.istio.io/v1alpha3", Kind: "EnvoyFilter"},
		ObjectMeta: objectMeta(wd, wd.Name+"-routes"),
	}
	if s := wd.Spec.Selector; s != nil && len(s.MatchLabels) > 0 {
		ef.Spec.WorkloadSelector = &networking.WorkloadSelector{Labels: maps.Clone(s.MatchLabels)}
	}
	for _, r := range wd.Spec.TargetRefs {
		ef.Spec.TargetRefs = append(ef.Spec.TargetRefs, &typev1beta1.PolicyTargetReference{Group: r.Group, Kind: r.Kind, Name: r.Name})
	}
	ef.Spec.ConfigPatches = patches
	return []*networkingv1alpha3.EnvoyFilter{ef}, nil
}

// scope is one patch context and route-configuration port (0: every port).
type scope struct {
	context networking.EnvoyFilter_PatchContext
	port    uint32
}

// listenerScopes lists, without duplicates and in a stable order, where route patches apply.
func listenerScopes(match []v1alpha1.TrafficSelector) []scope {
	if len(match) == 0 {
		return []scope{{context: networking.EnvoyFilter_ANY}}
	}
	var out []scope
	add := func(s scope) {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	for _, m := range match {
		var contexts []networking.EnvoyFilter_PatchContext
		switch m.Mode {
		case v1alpha1.ModeServer:
			contexts = []networking.EnvoyFilter_PatchContext{networking.EnvoyFilter_SIDECAR_INBOUND}
		case v1alpha1.ModeClient:
			contexts = []networking.EnvoyFilter_PatchContext{networking.EnvoyFilter_SIDECAR_OUTBOUND, networking.EnvoyFilter_GATEWAY}
		default:
			contexts = []networking.EnvoyFilter_PatchContext{networking.EnvoyFilter_ANY}
		}
		for _, c := range contexts {
			if len(m.Ports) == 0 {
				add(scope{context: c})
			}
			for _, p := range m.Ports {
				add(scope{context: c, port: uint32(p.Number)})
			}
		}
	}
	return out
}

// routePatchValue is the MERGE value of one override: a disabled filter, or route metadata.
func routePatchValue(wd *v1alpha1.WasmDeployment, r v1alpha1.RouteOverride) (*structpb.Struct, error) {
	filter := FilterName(wd)
	if r.Disabled {
		if r.PluginConfig != nil {
			return nil, fmt.Errorf("%w: set exactly one of pluginConfig or disabled", ErrInvalid)
		}
		return structpb.NewStruct(map[string]any{
			"typed_per_filter_config": map[string]any{
				filter: map[string]any{
					"@type":       filterConfigType,
					"disabled":    true,
					"is_optional": true,
				},
			},
		})
	}
	cfg, err := pluginConfig(r.PluginConfig)
	if err != nil {
		return nil, fmt.Errorf("pluginConfig: %w", err)
	}
	if cfg == nil {
		return nil, fmt.Errorf("%w: set pluginConfig or disabled: true", ErrInvalid)
	}
	// Re-encoded from the Struct so the string is compact and its keys sorted: the same
	// WasmDeployment always yields the same patch, and no needless update reaches the proxies.
	js, err := json.Marshal(cfg.AsMap())
	if err != nil {
		return nil, fmt.Errorf("pluginConfig: %w", err)
	}
	return structpb.NewStruct(map[string]any{
		"metadata": map[string]any{
			"filter_metadata": map[string]any{
				RouteMetadataKey: map[string]any{filter: string(js)},
			},
		},
	})
}

// routePatch patches the virtual hosts (or, with routeName, the routes) that m matches.
func routePatch(sc scope, m v1alpha1.RouteMatch, value *structpb.Struct) *networking.EnvoyFilter_EnvoyConfigObjectPatch {
	vhost := &networking.EnvoyFilter_RouteConfigurationMatch_VirtualHostMatch{DomainName: m.Host}
	applyTo := networking.EnvoyFilter_VIRTUAL_HOST
	if m.RouteName != "" {
		applyTo = networking.EnvoyFilter_HTTP_ROUTE
		vhost.Route = &networking.EnvoyFilter_RouteConfigurationMatch_RouteMatch{Name: m.RouteName}
	}
	return &networking.EnvoyFilter_EnvoyConfigObjectPatch{
		ApplyTo: applyTo,
		Match: &networking.EnvoyFilter_EnvoyConfigObjectMatch{
			Context: sc.context,
			ObjectTypes: &networking.EnvoyFilter_EnvoyConfigObjectMatch_RouteConfiguration{
				RouteConfiguration: &networking.EnvoyFilter_RouteConfigurationMatch{
					PortNumber: sc.port,
					Vhost:      vhost,
				},
			},
		},
		Patch: &networking.EnvoyFilter_Patch{Operation: networking.EnvoyFilter_Patch_MERGE, Value: value},
	}
}
