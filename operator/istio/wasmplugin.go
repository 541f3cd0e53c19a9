// Package istio turns a WasmDeployment into the Istio objects that run it on Envoy sidecars and
// gateways: one extensions.istio.io/v1alpha1 WasmPlugin, and networking.istio.io/v1alpha3
// EnvoyFilter patches for what WasmPlugin cannot say (per-route overrides).
//
// The functions are pure: same input, same objects, no client. Every object is owned by the
// WasmDeployment (an ownerReference with controller=true), so Kubernetes' garbage collector
// deletes it with the WasmDeployment.
//
//	wp, err := istio.WasmPlugin(wd, wd.Status.ResolvedDigest)
//	if err != nil { ... }
//	efs, err := istio.EnvoyFilters(wd)
//	// create or update wp and efs with a controller-runtime client
package istio

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	extensions "istio.io/api/extensions/v1alpha1"
	typev1beta1 "istio.io/api/type/v1beta1"
	extensionsv1alpha1 "istio.io/client-go/pkg/apis/extensions/v1alpha1"
	"oras.land/oras-go/v2/registry"

	"github.com/wasmesh/wasmesh/operator/api/v1alpha1"
)

// Errors the caller can tell apart with errors.Is. They are wrapped with the WasmDeployment's
// namespace/name and the field at fault.
var (
	// ErrNotIstioTarget: spec.targets does not include Istio, so no Istio object is wanted.
	ErrNotIstioTarget = errors.New("spec.targets does not include Istio")
	// ErrUnsupported: the WasmDeployment asks for something Istio cannot do.
	ErrUnsupported = errors.New("cannot be expressed for Istio")
	// ErrInvalid: a field holds a value the CRD schema should have refused (objects built in code
	// skip the API server's validation).
	ErrInvalid = errors.New("invalid WasmDeployment")
	// ErrDigestMismatch: the resolved digest is not the one spec.sha256 pins.
	ErrDigestMismatch = errors.New("resolved digest does not match spec.sha256")
)

// Labels set on every generated object, so they can be listed per WasmDeployment.
const (
	LabelManagedBy  = "app.kubernetes.io/managed-by"
	ManagedBy       = "wasmesh-operator"
	LabelDeployment = "wasmesh.io/deployment"
)

var digestPattern = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)

// FilterName is the name Istio gives a WasmPlugin's filter in Envoy's filter chain,
// "<namespace>.<name>"; per-route patches address the filter by it.
func FilterName(wd *v1alpha1.WasmDeployment) string {
	return wd.Namespace + "." + wd.Name
}

// WasmPlugin returns the WasmPlugin that runs wd on Istio's proxies.
//
// resolvedDigest ("sha256:<hex>", or empty before the first resolution) is the version to run: for
// oci:// URLs the tag is replaced by the digest, so every proxy pulls the same bytes whatever the
// tag points to later, and sha256 is set to its hex so Envoy verifies it. A rollback is the same
// call with status.lastGoodDigest.
//
// FAIL_RELOAD maps to Istio's FAIL_RELOAD (Istio 1.31 has it: a new VM after a runtime trap,
// fail-closed for other errors), so every failStrategy maps to the Istio value of the same name.
func WasmPlugin(wd *v1alpha1.WasmDeployment, resolvedDigest string) (*extensionsv1alpha1.WasmPlugin, error) {
	id := wd.Namespace + "/" + wd.Name
	if !slices.Contains(wd.Spec.Targets, v1alpha1.TargetIstio) {
		return nil, fmt.Errorf("WasmDeployment %s: %w: add Istio to spec.targets to run it on Envoy", id, ErrNotIstioTarget)
	}
	s := &wd.Spec
	url, sha, err := pin(s.URL, s.SHA256, resolvedDigest)
	if err != nil {
		return nil, fmt.Errorf("WasmDeployment %s: %w", id, err)
	}
	cfg, err := pluginConfig(s.PluginConfig)
	if err != nil {
		return nil, fmt.Errorf("WasmDeployment %s: spec.pluginConfig: %w", id, err)
	}
	wp := &extensionsv1alpha1.WasmPlugin{
		TypeMeta:   metav1.TypeMeta{APIVersion: "extensions.istio.io/v1alpha1", Kind: "WasmPlugin"},
		ObjectMeta: objectMeta(wd, wd.Name),
	}
	spec := &wp.Spec
	spec.Url = url
	spec.Sha256 = sha
	spec.PluginName = s.PluginName
	spec.PluginConfig = cfg
	spec.ImagePullSecret = s.ImagePullSecret
	if spec.ImagePullPolicy, err = pullPolicy(s.ImagePullPolicy); err != nil {
		return nil, fmt.Errorf("WasmDeployment %s: spec.imagePullPolicy: %w", id, err)
	}
	if spec.Phase, err = phase(s.Phase); err != nil {
		return nil, fmt.Errorf("WasmDeployment %s: spec.phase: %w", id, err)
	}
	if s.Priority != nil {
		spec.Priority = wrapperspb.Int32(*s.Priority)
	}
	if spec.FailStrategy, err = failStrategy(s.FailStrategy); err != nil {
		return nil, fmt.Errorf("WasmDeployment %s: spec.failStrategy: %w", id, err)
	}
	if spec.Type, err = pluginType(s.Type); err != nil {
		return nil, fmt.Errorf("WasmDeployment %s: spec.type: %w", id, err)
	}
	if spec.VmConfig, err = vmConfig(s.VMConfig); err != nil {
		return nil, fmt.Errorf("WasmDeployment %s: spec.vmConfig: %w", id, err)
	}
	if s.Selector != nil {
		spec.Selector = &typev1beta1.WorkloadSelector{MatchLabels: maps.Clone(s.Selector.MatchLabels)}
	}
	spec.TargetRefs = targetRefs(s.TargetRefs)
	if spec.Match, err = trafficSelectors(s.Match); err != nil {
		return nil, fmt.Errorf("WasmDeployment %s: spec.match: %w", id, err)
	}
	return wp, nil
}

// objectMeta names an object generated for wd, in wd's namespace, labelled and owned by it.
func objectMeta(wd *v1alpha1.WasmDeployment, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:      name,
		Namespace: wd.Namespace,
		Labels: map[string]string{
			LabelManagedBy:  ManagedBy,
			LabelDeployment: wd.Name,
		},
		// controller=true and blockOwnerDeletion=true: the garbage collector deletes the object
		// with its WasmDeployment, and foreground deletion waits for it.
		OwnerReferences: []metav1.OwnerReference{
			*metav1.NewControllerRef(wd, v1alpha1.GroupVersion.WithKind(v1alpha1.Kind)),
		},
	}
}

// pin returns the URL and sha256 Istio should use for the module at url resolved to digest.
func pin(url, sha256, digest string) (string, string, error) {
	var oci *registry.Reference
	if ref, ok := strings.CutPrefix(url, "oci://"); ok {
		r, err := registry.ParseReference(ref)
		if err != nil {
			return "", "", fmt.Errorf("spec.url %q: %w: %v", url, ErrInvalid, err)
		}
		oci = &r
	}
	if digest == "" {
		return url, sha256, nil
	}
	if !digestPattern.MatchString(digest) {
		return "", "", fmt.Errorf("resolved digest %q: %w: want sha256:<64 hex digits>", digest, ErrInvalid)
	}
	hex := strings.TrimPrefix(digest, "sha256:")
	if sha256 != "" && sha256 != hex {
		return "", "", fmt.Errorf("%w: spec.sha256 is %s, %s resolved to %s; fix spec.sha256 or the tag", ErrDigestMismatch, sha256, url, digest)
	}
	if oci != nil {
		// The tag (and any digest already there) gives way to the resolved digest.
		return "oci://" + oci.Registry + "/" + oci.Repository + "@" + digest, hex, nil
	}
	return url, hex, nil
}

// pluginConfig converts free-form JSON to the protobuf Struct Istio carries. Istio hands the
// plugin the Struct as JSON again, so numbers come back as floats (1 becomes 1, 1.0 stays 1).
func pluginConfig(raw *apiextensionsv1.JSON) (*structpb.Struct, error) {
	if raw == nil || len(raw.Raw) == 0 {
		return nil, nil
	}
	var m map[string]any
	if err := json.Unmarshal(raw.Raw, &m); err != nil {
		return nil, fmt.Errorf("%w: want a JSON object: %v", ErrInvalid, err)
	}
	if m == nil {
		return nil, nil
	}
	s, err := structpb.NewStruct(m)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return s, nil
}

func pullPolicy(p v1alpha1.PullPolicy) (extensions.PullPolicy, error) {
	switch p {
	case "":
		return extensions.PullPolicy_UNSPECIFIED_POLICY, nil
	case v1alpha1.PullIfNotPresent:
		return extensions.PullPolicy_IfNotPresent, nil
	case v1alpha1.PullAlways:
		return extensions.PullPolicy_Always, nil
	}
	return 0, fmt.Errorf("%q: %w", p, ErrInvalid)
}

func phase(p v1alpha1.PluginPhase) (extensions.PluginPhase, error) {
	switch p {
	case "", v1alpha1.PhaseUnspecified:
		return extensions.PluginPhase_UNSPECIFIED_PHASE, nil
	case v1alpha1.PhaseAuthn:
		return extensions.PluginPhase_AUTHN, nil
	case v1alpha1.PhaseAuthz:
		return extensions.PluginPhase_AUTHZ, nil
	case v1alpha1.PhaseStats:
		return extensions.PluginPhase_STATS, nil
	}
	return 0, fmt.Errorf("%q: %w", p, ErrInvalid)
}

func failStrategy(f v1alpha1.FailStrategy) (extensions.FailStrategy, error) {
	switch f {
	case "", v1alpha1.FailClose:
		return extensions.FailStrategy_FAIL_CLOSE, nil
	case v1alpha1.FailOpen:
		return extensions.FailStrategy_FAIL_OPEN, nil
	case v1alpha1.FailReload:
		return extensions.FailStrategy_FAIL_RELOAD, nil
	}
	return 0, fmt.Errorf("%q: %w", f, ErrInvalid)
}

func pluginType(t v1alpha1.PluginType) (extensions.PluginType, error) {
	switch t {
	case "", v1alpha1.PluginTypeHTTP:
		return extensions.PluginType_HTTP, nil
	case v1alpha1.PluginTypeNetwork:
		return extensions.PluginType_NETWORK, nil
	}
	return 0, fmt.Errorf("%q: %w", t, ErrInvalid)
}

func vmConfig(vm *v1alpha1.VMConfig) (*extensions.VmConfig, error) {
	if vm == nil || len(vm.Env) == 0 {
		return nil, nil
	}
	out := &extensions.VmConfig{}
	for i, e := range vm.Env {
		v := &extensions.EnvVar{Name: e.Name, Value: e.Value}
		switch e.ValueFrom {
		case "", v1alpha1.EnvInline:
			v.ValueFrom = extensions.EnvValueSource_INLINE
		case v1alpha1.EnvHost:
			v.ValueFrom = extensions.EnvValueSource_HOST
		default:
			return nil, fmt.Errorf("env[%d].valueFrom %q: %w", i, e.ValueFrom, ErrInvalid)
		}
		out.Env = append(out.Env, v)
	}
	return out, nil
}

func targetRefs(refs []v1alpha1.PolicyTargetReference) []*typev1beta1.PolicyTargetReference {
	var out []*typev1beta1.PolicyTargetReference
	for _, r := range refs {
		out = append(out, &typev1beta1.PolicyTargetReference{Group: r.Group, Kind: r.Kind, Name: r.Name})
	}
	return out
}

func trafficSelectors(match []v1alpha1.TrafficSelector) ([]*extensions.WasmPlugin_TrafficSelector, error) {
	var out []*extensions.WasmPlugin_TrafficSelector
	for i, m := range match {
		ts := &extensions.WasmPlugin_TrafficSelector{}
		switch m.Mode {
		case "", v1alpha1.ModeClientAndServer:
			ts.Mode = typev1beta1.WorkloadMode_CLIENT_AND_SERVER
		case v1alpha1.ModeClient:
			ts.Mode = typev1beta1.WorkloadMode_CLIENT
		case v1alpha1.ModeServer:
			ts.Mode = typev1beta1.WorkloadMode_SERVER
		default:
			return nil, fmt.Errorf("[%d].mode %q: %w", i, m.Mode, ErrInvalid)
		}
		for _, p := range m.Ports {
			if p.Number < 1 || p.Number > 65535 {
				return nil, fmt.Errorf("[%d].ports: %d: %w: want 1-65535", i, p.Number, ErrInvalid)
			}
			ts.Ports = append(ts.Ports, &typev1beta1.PortSelector{Number: uint32(p.Number)})
		}
		out = append(out, ts)
	}
	return out, nil
}
