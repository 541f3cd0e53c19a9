package apitest

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/wasmesh/wasmesh/operator/api/v1alpha1"
)

func TestCRDInstalled(t *testing.T) {
	var crd apiextensionsv1.CustomResourceDefinition
	if err := env.Client.Get(ctx(t), types.NamespacedName{Name: "wasmdeployments.wasmesh.io"}, &crd); err != nil {
		t.Fatal(err)
	}
	established := false
	for _, c := range crd.Status.Conditions {
		if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
			established = true
		}
	}
	if !established {
		t.Errorf("CRD not established: %+v", crd.Status.Conditions)
	}
	if !slices.Contains(crd.Spec.Names.ShortNames, "wd") {
		t.Errorf("short names %v, want wd", crd.Spec.Names.ShortNames)
	}
	v := crd.Spec.Versions[0]
	if v.Subresources == nil || v.Subresources.Status == nil {
		t.Error("status subresource not enabled")
	}
	var cols []string
	for _, c := range v.AdditionalPrinterColumns {
		cols = append(cols, c.Name)
	}
	if want := []string{"URL", "Digest", "Ready", "Age"}; !slices.Equal(cols, want) {
		t.Errorf("printer columns %v, want %v", cols, want)
	}
}

// validInputs are WasmDeployments the API server must accept: the samples, and the inputs of the
// Istio generator's golden tests.
func validInputs(t *testing.T) []string {
	t.Helper()
	var paths []string
	for _, glob := range []string{"samples/wasmdeployments/*.yaml", "operator/istio/testdata/*.input.yaml"} {
		m, err := filepath.Glob(filepath.Join(env.RepoRoot, glob))
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, m...)
	}
	if len(paths) < 6 {
		t.Fatalf("found only %d valid inputs", len(paths))
	}
	return paths
}

// readUnstructured reads a WasmDeployment as the API server would get it from kubectl apply,
// without status or uid, in namespace ns.
func readUnstructured(t *testing.T, path, ns string) *unstructured.Unstructured {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(b, &u.Object); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	delete(u.Object, "status")
	u.SetUID("")
	u.SetNamespace(ns)
	return u
}

func TestValidAccepted(t *testing.T) {
	ns := env.Namespace(t)
	for _, p := range validInputs(t) {
		t.Run(filepath.Base(p), func(t *testing.T) {
			u := readUnstructured(t, p, ns)
			if err := env.Client.Create(ctx(t), u); err != nil {
				t.Fatalf("%s rejected: %v", p, err)
			}
			var wd v1alpha1.WasmDeployment
			if err := env.Client.Get(ctx(t), client.ObjectKeyFromObject(u), &wd); err != nil {
				t.Fatal(err)
			}
			// The schema's defaults fill what the input left out.
			s := wd.Spec
			if s.ImagePullPolicy == "" || s.FailStrategy == "" || s.Type == "" || len(s.Targets) == 0 {
				t.Errorf("defaults not applied: imagePullPolicy %q failStrategy %q type %q targets %v", s.ImagePullPolicy, s.FailStrategy, s.Type, s.Targets)
			}
			if r := s.Rollout; r != nil && r.Abort != nil && (r.Abort.Window == nil || r.Abort.Window.Duration == 0) {
				t.Errorf("rollout.abort.window default not applied")
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	ns := env.Namespace(t)
	u := base(t, ns)
	unstructured.RemoveNestedField(u.Object, "spec", "targets")
	if err := unstructured.SetNestedMap(u.Object, map[string]any{"strategy": "Canary", "steps": []any{map[string]any{"percent": int64(10)}}, "abort": map[string]any{"maxNACKs": int64(0)}}, "spec", "rollout"); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(ctx(t), u); err != nil {
		t.Fatal(err)
	}
	var wd v1alpha1.WasmDeployment
	if err := env.Client.Get(ctx(t), client.ObjectKeyFromObject(u), &wd); err != nil {
		t.Fatal(err)
	}
	s := wd.Spec
	if s.ImagePullPolicy != v1alpha1.PullIfNotPresent || s.FailStrategy != v1alpha1.FailClose || s.Type != v1alpha1.PluginTypeHTTP ||
		!slices.Equal(s.Targets, []v1alpha1.Target{v1alpha1.TargetWasmesh}) || s.Rollout.Abort.Window.Duration.String() != "1m0s" {
		t.Errorf("defaults: %+v, abort %+v", s, s.Rollout.Abort)
	}
}

// base is a small valid WasmDeployment that each invalid case breaks in one place.
func base(t *testing.T, ns string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	err := yaml.Unmarshal([]byte(`
apiVersion: wasmesh.io/v1alpha1
kind: WasmDeployment
metadata:
  generateName: invalid-
spec:
  url: oci://127.0.0.1:5000/wasmesh/auth:v1
  selector:
    matchLabels:
      app: greeter
  targets: [Wasmesh, Istio]
`), &u.Object)
	if err != nil {
		t.Fatal(err)
	}
	u.SetNamespace(ns)
	return u
}

func TestInvalidRejected(t *testing.T) {
	ns := env.Namespace(t)
	const gw = `[{group: gateway.networking.k8s.io, kind: Gateway, name: public}]`
	tests := []struct {
		name string
		spec string   // YAML merged into base's spec; null removes a field
		want []string // the rejection must contain each of these
	}{
		{"bad sha256", `sha256: ABCDEF`, []string{"spec.sha256", "^[a-f0-9]{64}$"}},
		{"short sha256", `sha256: abc123`, []string{"spec.sha256"}},
		{"bad url scheme", `url: ftp://registry.example/wasm/auth`, []string{"spec.url", "must be oci://"}},
		{"oci url without repository", `url: oci://registry.example`, []string{"spec.url", "must be oci://"}},
		{"url without scheme", `url: registry.example/wasm/auth:v1`, []string{"spec.url"}},
		{"both selector and targetRefs", `targetRefs: ` + gw, []string{"exactly one of spec.selector or spec.targetRefs"}},
		{"neither selector nor targetRefs", `selector: null`, []string{"exactly one of spec.selector or spec.targetRefs"}},
		{"targetRefs without Istio", "selector: null\ntargets: [Wasmesh]\ntargetRefs: " + gw, []string{"spec.targetRefs: Invalid value", "spec.targetRefs attaches to Istio"}},
		{"targetRefs to a Deployment", "selector: null\ntargetRefs: [{group: apps, kind: Deployment, name: web}]", []string{"spec.targetRefs[0]", "targetRefs supports Gateway"}},
		{"bad phase", `phase: LATE`, []string{"spec.phase", `Unsupported value: "LATE"`}},
		{"bad type", `type: UDP`, []string{"spec.type", "Unsupported value"}},
		{"bad failStrategy", `failStrategy: FAIL_SOMETIMES`, []string{"spec.failStrategy", "Unsupported value"}},
		{"bad imagePullPolicy", `imagePullPolicy: Never`, []string{"spec.imagePullPolicy", "Unsupported value"}},
		{"priority above max", `priority: 5000`, []string{"spec.priority", "less than or equal to 1000"}},
		{"priority below min", `priority: -5000`, []string{"spec.priority", "greater than or equal to -1000"}},
		{"unknown target", `targets: [Linkerd]`, []string{"spec.targets[0]", "Unsupported value"}},
		{"duplicate target", `targets: [Istio, Istio]`, []string{"spec.targets[1]", "Duplicate value"}},
		{"sha256 differs from url digest", "url: oci://r.example/a@sha256:" + strings.Repeat("a", 64) + "\nsha256: " + strings.Repeat("b", 64), []string{"spec.sha256: Invalid value", "must equal the digest pinned in spec.url"}},
		{"imagePullSecret with https", "url: https://h.example/m.wasm\nimagePullSecret: creds", []string{"spec.imagePullSecret: Invalid value", "applies to oci:// urls only"}},
		{"imagePullSecret in another namespace", `imagePullSecret: other-ns/creds`, []string{"spec.imagePullSecret"}},
		{"pluginConfig not an object", `pluginConfig: [1, 2]`, []string{"spec.pluginConfig", "object"}},
		{"env from host with a value", `vmConfig: {env: [{name: HOME, valueFrom: HOST, value: /root}]}`, []string{"spec.vmConfig.env[0]", "value must be empty when valueFrom is HOST"}},
		{"bad env name", `vmConfig: {env: [{name: 1X, value: a}]}`, []string{"spec.vmConfig.env[0].name"}},
		{"port zero", `match: [{ports: [{number: 0}]}]`, []string{"spec.match[0].ports[0].number"}},
		{"port too high", `match: [{ports: [{number: 70000}]}]`, []string{"spec.match[0].ports[0].number"}},
		{"bad mode", `match: [{mode: INBOUND}]`, []string{"spec.match[0].mode", "Unsupported value"}},
		{"canary steps decreasing", `rollout: {strategy: Canary, steps: [{percent: 50}, {percent: 10}]}`, []string{"spec.rollout.steps", "strictly increasing"}},
		{"canary steps repeated", `rollout: {strategy: Canary, steps: [{percent: 10}, {percent: 10}]}`, []string{"spec.rollout.steps", "strictly increasing"}},
		{"canary percent above 100", `rollout: {strategy: Canary, steps: [{percent: 150}]}`, []string{"spec.rollout.steps[0].percent", "less than or equal to 100"}},
		{"canary percent zero", `rollout: {strategy: Canary, steps: [{percent: 0}]}`, []string{"spec.rollout.steps[0].percent", "greater than or equal to 1"}},
		{"canary without steps", `rollout: {strategy: Canary}`, []string{"spec.rollout.steps: Invalid value", "steps are required with strategy Canary"}},
		{"steps with AllAtOnce", `rollout: {strategy: AllAtOnce, steps: [{percent: 10}]}`, []string{"spec.rollout.steps: Invalid value", "not allowed with AllAtOnce"}},
		{"unknown strategy", `rollout: {strategy: BlueGreen}`, []string{"spec.rollout.strategy", "Unsupported value"}},
		{"pause with duration and approval", `rollout: {strategy: Canary, steps: [{percent: 10, pause: {duration: 5m, untilApproved: true}}]}`, []string{"spec.rollout.steps[0].pause", "exactly one of pause.duration or pause.untilApproved"}},
		{"pause duration not a duration", `rollout: {strategy: Canary, steps: [{percent: 10, pause: {duration: 5 minutes}}]}`, []string{"spec.rollout.steps[0].pause.duration"}},
		{"abort with no rule", `rollout: {abort: {}}`, []string{"spec.rollout.abort", "abort needs maxNACKs, maxErrorRatePercent or both"}},
		{"abort error rate above 100", `rollout: {abort: {maxErrorRatePercent: 101}}`, []string{"spec.rollout.abort.maxErrorRatePercent"}},
		{"route disabled and configured", `routes: [{name: r, match: {host: a.example}, disabled: true, pluginConfig: {a: 1}}]`, []string{"spec.routes[0]", "exactly one of pluginConfig or disabled"}},
		{"route without effect", `routes: [{name: r, match: {host: a.example}}]`, []string{"spec.routes[0]", "exactly one of pluginConfig or disabled"}},
		{"route with empty match", `routes: [{name: r, match: {}, disabled: true}]`, []string{"spec.routes[0].match", "at least one of host, path, routeName or dubboService"}},
		{"route path for Istio", `routes: [{name: r, match: {path: {prefix: /admin}}, disabled: true}]`, []string{"spec.routes: Invalid value", "spec.routes[].match.path and .dubboService are served by wasmesh proxies only"}},
		{"route path exact and prefix", "targets: [Wasmesh]\nroutes: [{name: r, match: {path: {prefix: /a, exact: /a}}, disabled: true}]", []string{"spec.routes[0].match.path", "exactly one of exact or prefix"}},
		{"route dubbo with host", "targets: [Wasmesh]\nroutes: [{name: r, match: {dubboService: a.B, host: a.example}, disabled: true}]", []string{"spec.routes[0].match", "dubboService cannot be combined"}},
		{"route bad dubbo service", "targets: [Wasmesh]\nroutes: [{name: r, match: {dubboService: 'a b'}, disabled: true}]", []string{"spec.routes[0].match.dubboService"}},
		{"route names repeated", `routes: [{name: r, match: {host: a.example}, disabled: true}, {name: r, match: {host: b.example}, disabled: true}]`, []string{"spec.routes[1]", "Duplicate value"}},
		{"routes on a network filter", "type: NETWORK\nroutes: [{name: r, match: {host: a.example}, disabled: true}]", []string{"spec.routes: Invalid value", "spec.routes needs type HTTP"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := base(t, ns)
			var patch map[string]any
			if err := yaml.Unmarshal([]byte(tt.spec), &patch); err != nil {
				t.Fatalf("case spec: %v", err)
			}
			spec := u.Object["spec"].(map[string]any)
			for k, v := range patch {
				if v == nil {
					delete(spec, k)
				} else {
					spec[k] = v
				}
			}
			err := env.Client.Create(ctx(t), u)
			if err == nil {
				t.Fatalf("accepted; want a rejection naming %q", tt.want)
			}
			if !apierrors.IsInvalid(err) {
				t.Fatalf("got %v, want an Invalid error", err)
			}
			t.Log(err)
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("rejection does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}
