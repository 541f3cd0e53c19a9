package istio_test

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/wasmesh/wasmesh/operator/api/v1alpha1"
	"github.com/wasmesh/wasmesh/operator/istio"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.yaml from the generator's output")

const digest = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"

// readWasmDeployment decodes a WasmDeployment from a YAML file, refusing unknown fields so a typo
// in a fixture or sample fails instead of being ignored.
func readWasmDeployment(t testing.TB, path string) *v1alpha1.WasmDeployment {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var wd v1alpha1.WasmDeployment
	if err := yaml.UnmarshalStrict(b, &wd); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &wd
}

// generate renders everything the package makes for wd as one multi-document YAML stream.
func generate(t *testing.T, wd *v1alpha1.WasmDeployment, digest string) []byte {
	t.Helper()
	wp, err := istio.WasmPlugin(wd, digest)
	if err != nil {
		t.Fatalf("WasmPlugin: %v", err)
	}
	efs, err := istio.EnvoyFilters(wd)
	if err != nil {
		t.Fatalf("EnvoyFilters: %v", err)
	}
	objs := []any{wp}
	for _, ef := range efs {
		objs = append(objs, ef)
	}
	var out bytes.Buffer
	for _, o := range objs {
		y, err := yaml.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		out.WriteString("---\n")
		out.Write(y)
	}
	return out.Bytes()
}

func TestGolden(t *testing.T) {
	tests := []struct {
		name   string
		input  string
		digest string // empty: status.resolvedDigest of the input
	}{
		{name: "auth", input: "../../samples/wasmdeployments/auth.yaml", digest: digest},
		{name: "ratelimit", input: "../../samples/wasmdeployments/ratelimit.yaml", digest: digest},
		{name: "minimal", input: "testdata/minimal.input.yaml"},
		{name: "gateway-http", input: "testdata/gateway-http.input.yaml"},
		{name: "network-pinned", input: "testdata/network-pinned.input.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wd := readWasmDeployment(t, tt.input)
			if wd.UID == "" {
				wd.UID = "6f1c2d3e-0000-4000-8000-0000000000ff" // samples carry no uid
			}
			d := tt.digest
			if d == "" {
				d = wd.Status.ResolvedDigest
			}
			got := generate(t, wd, d)
			golden := filepath.Join("testdata", tt.name+".golden.yaml")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./operator/istio -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("generated objects differ from %s (go test ./operator/istio -update to accept):\n--- got\n%s", golden, got)
			}
			// Generation is a pure function: a second call must give the same bytes, or every
			// reconcile would update the objects and push config to the proxies.
			if again := generate(t, wd, d); !bytes.Equal(got, again) {
				t.Errorf("second generation differs:\n%s", again)
			}
		})
	}
}

func TestWasmPluginPinsDigest(t *testing.T) {
	tests := []struct{ url, digest, wantURL, wantSHA string }{
		{"oci://r.example/a/b:v1", digest, "oci://r.example/a/b@" + digest, digest[7:]},
		{"oci://127.0.0.1:5000/wasmesh/auth:v1", digest, "oci://127.0.0.1:5000/wasmesh/auth@" + digest, digest[7:]},
		{"oci://127.0.0.1:5000/wasmesh/auth", digest, "oci://127.0.0.1:5000/wasmesh/auth@" + digest, digest[7:]},
		{"oci://r.example/a@" + digest, digest, "oci://r.example/a@" + digest, digest[7:]},
		{"https://h.example/m.wasm", digest, "https://h.example/m.wasm", digest[7:]},
		{"oci://r.example/a/b:v1", "", "oci://r.example/a/b:v1", ""},
	}
	for _, tt := range tests {
		wd := &v1alpha1.WasmDeployment{Spec: v1alpha1.WasmDeploymentSpec{URL: tt.url, Targets: []v1alpha1.Target{v1alpha1.TargetIstio}}}
		wd.Name, wd.Namespace = "p", "ns"
		wp, err := istio.WasmPlugin(wd, tt.digest)
		if err != nil {
			t.Fatalf("%s: %v", tt.url, err)
		}
		if wp.Spec.Url != tt.wantURL || wp.Spec.Sha256 != tt.wantSHA {
			t.Errorf("%s @ %q: got url %q sha256 %q, want %q %q", tt.url, tt.digest, wp.Spec.Url, wp.Spec.Sha256, tt.wantURL, tt.wantSHA)
		}
	}
}

func TestErrors(t *testing.T) {
	base := func() *v1alpha1.WasmDeployment {
		wd := &v1alpha1.WasmDeployment{Spec: v1alpha1.WasmDeploymentSpec{
			URL:      "oci://r.example/a/b:v1",
			Selector: &v1alpha1.WorkloadSelector{},
			Targets:  []v1alpha1.Target{v1alpha1.TargetWasmesh, v1alpha1.TargetIstio},
		}}
		wd.Name, wd.Namespace = "p", "ns"
		return wd
	}
	route := func(m v1alpha1.RouteMatch) []v1alpha1.RouteOverride {
		return []v1alpha1.RouteOverride{{Name: "r", Match: m, Disabled: true}}
	}
	tests := []struct {
		name     string
		mutate   func(*v1alpha1.WasmDeployment)
		digest   string
		envoy    bool // the error comes from EnvoyFilters, not WasmPlugin
		want     error
		contains string
	}{
		{"wasmesh only", func(wd *v1alpha1.WasmDeployment) { wd.Spec.Targets = []v1alpha1.Target{v1alpha1.TargetWasmesh} }, "", false, istio.ErrNotIstioTarget, "spec.targets"},
		{"wasmesh only routes", func(wd *v1alpha1.WasmDeployment) { wd.Spec.Targets = nil }, "", true, istio.ErrNotIstioTarget, "spec.targets"},
		{"digest mismatch", func(wd *v1alpha1.WasmDeployment) { wd.Spec.SHA256 = strings.Repeat("a", 64) }, digest, false, istio.ErrDigestMismatch, "spec.sha256"},
		{"bad digest", func(*v1alpha1.WasmDeployment) {}, "sha256:XYZ", false, istio.ErrInvalid, "sha256:XYZ"},
		{"config not object", func(wd *v1alpha1.WasmDeployment) { wd.Spec.PluginConfig = &apiextensionsv1.JSON{Raw: []byte(`[1]`)} }, "", false, istio.ErrInvalid, "spec.pluginConfig"},
		{"bad phase", func(wd *v1alpha1.WasmDeployment) { wd.Spec.Phase = "LATE" }, "", false, istio.ErrInvalid, "spec.phase"},
		{"bad port", func(wd *v1alpha1.WasmDeployment) {
			wd.Spec.Match = []v1alpha1.TrafficSelector{{Ports: []v1alpha1.PortSelector{{Number: 70000}}}}
		}, "", false, istio.ErrInvalid, "spec.match"},
		{"path route", func(wd *v1alpha1.WasmDeployment) {
			wd.Spec.Routes = route(v1alpha1.RouteMatch{Path: &v1alpha1.PathMatch{Prefix: "/a"}})
		}, "", true, istio.ErrUnsupported, "spec.routes[0] (r).match"},
		{"dubbo route", func(wd *v1alpha1.WasmDeployment) {
			wd.Spec.Routes = route(v1alpha1.RouteMatch{DubboService: "a.B"})
		}, "", true, istio.ErrUnsupported, "dubboService"},
		{"network routes", func(wd *v1alpha1.WasmDeployment) {
			wd.Spec.Type = v1alpha1.PluginTypeNetwork
			wd.Spec.Routes = route(v1alpha1.RouteMatch{Host: "a.example"})
		}, "", true, istio.ErrUnsupported, "NETWORK"},
		{"both disabled and config", func(wd *v1alpha1.WasmDeployment) {
			wd.Spec.Routes = route(v1alpha1.RouteMatch{Host: "a.example"})
			wd.Spec.Routes[0].PluginConfig = &apiextensionsv1.JSON{Raw: []byte(`{}`)}
		}, "", true, istio.ErrInvalid, "spec.routes[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wd := base()
			tt.mutate(wd)
			var err error
			if tt.envoy {
				_, err = istio.EnvoyFilters(wd)
			} else {
				_, err = istio.WasmPlugin(wd, tt.digest)
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.contains) || !strings.Contains(err.Error(), "ns/p") {
				t.Errorf("error %q should name ns/p and %q", err, tt.contains)
			}
		})
	}
}

func TestOwnedByWasmDeployment(t *testing.T) {
	wd := readWasmDeployment(t, "testdata/gateway-http.input.yaml")
	wp, err := istio.WasmPlugin(wd, "")
	if err != nil {
		t.Fatal(err)
	}
	efs, err := istio.EnvoyFilters(wd)
	if err != nil {
		t.Fatal(err)
	}
	if len(efs) != 1 {
		t.Fatalf("got %d EnvoyFilters, want 1", len(efs))
	}
	for _, refs := range [][]metav1.OwnerReference{wp.OwnerReferences, efs[0].OwnerReferences} {
		if len(refs) != 1 {
			t.Fatalf("got %d owner references, want 1", len(refs))
		}
		r := refs[0]
		if r.APIVersion != "wasmesh.io/v1alpha1" || r.Kind != "WasmDeployment" || r.Name != wd.Name || r.UID != wd.UID ||
			r.Controller == nil || !*r.Controller || r.BlockOwnerDeletion == nil || !*r.BlockOwnerDeletion {
			t.Errorf("owner reference %+v does not name the WasmDeployment as controller", r)
		}
	}
	if wp.Namespace != wd.Namespace || efs[0].Namespace != wd.Namespace {
		t.Errorf("objects must live in the WasmDeployment's namespace %q", wd.Namespace)
	}
}
