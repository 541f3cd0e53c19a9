package apitest

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	extensionsv1alpha1 "istio.io/client-go/pkg/apis/extensions/v1alpha1"
	networkingv1alpha3 "istio.io/client-go/pkg/apis/networking/v1alpha3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	typev1beta1 "istio.io/api/type/v1beta1"

	"github.com/wasmesh/wasmesh/operator/api/v1alpha1"
	"github.com/wasmesh/wasmesh/operator/istio"
)

// TestIstioObjectsAccepted creates every valid input that targets Istio, generates its WasmPlugin
// and EnvoyFilters, and has Istio's own CRDs (with their schemas and CEL rules) accept them.
func TestIstioObjectsAccepted(t *testing.T) {
	ns := env.Namespace(t)
	istioInputs := 0
	for _, p := range validInputs(t) {
		t.Run(filepath.Base(p), func(t *testing.T) {
			u := readUnstructured(t, p, ns)
			if err := env.Client.Create(ctx(t), u); err != nil {
				t.Fatal(err)
			}
			var wd v1alpha1.WasmDeployment
			if err := env.Client.Get(ctx(t), client.ObjectKeyFromObject(u), &wd); err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(wd.Spec.Targets, v1alpha1.TargetIstio) {
				if _, err := istio.WasmPlugin(&wd, digestV1); err == nil {
					t.Errorf("WasmPlugin generated for a WasmDeployment that does not target Istio")
				}
				return
			}
			istioInputs++
			digest := digestV1
			if strings.Contains(wd.Spec.URL, "@sha256:") {
				digest = wd.Spec.URL[strings.Index(wd.Spec.URL, "@")+1:]
			} else if wd.Spec.SHA256 != "" {
				digest = "sha256:" + wd.Spec.SHA256
			}
			wp, err := istio.WasmPlugin(&wd, digest)
			if err != nil {
				t.Fatal(err)
			}
			if err := env.Client.Create(ctx(t), wp); err != nil {
				t.Fatalf("Istio's CRD refused the WasmPlugin: %v", err)
			}
			efs, err := istio.EnvoyFilters(&wd)
			if err != nil {
				t.Fatal(err)
			}
			if len(efs) != min(1, len(wd.Spec.Routes)) {
				t.Errorf("%d EnvoyFilters for %d routes", len(efs), len(wd.Spec.Routes))
			}
			for _, ef := range efs {
				if err := env.Client.Create(ctx(t), ef); err != nil {
					t.Fatalf("Istio's CRD refused the EnvoyFilter: %v", err)
				}
			}

			// What was stored is what was generated, and owned by the WasmDeployment.
			var got extensionsv1alpha1.WasmPlugin
			if err := env.Client.Get(ctx(t), client.ObjectKeyFromObject(wp), &got); err != nil {
				t.Fatal(err)
			}
			if got.Spec.Url != wp.Spec.Url || got.Spec.Sha256 != wp.Spec.Sha256 || got.Spec.Phase != wp.Spec.Phase {
				t.Errorf("stored spec differs: %v vs %v", &got.Spec, &wp.Spec)
			}
			assertOwned(t, &wd, got.OwnerReferences)
			for _, ef := range efs {
				var gotEF networkingv1alpha3.EnvoyFilter
				if err := env.Client.Get(ctx(t), client.ObjectKeyFromObject(ef), &gotEF); err != nil {
					t.Fatal(err)
				}
				if len(gotEF.Spec.ConfigPatches) != len(ef.Spec.ConfigPatches) {
					t.Errorf("stored %d patches, generated %d", len(gotEF.Spec.ConfigPatches), len(ef.Spec.ConfigPatches))
				}
				assertOwned(t, &wd, gotEF.OwnerReferences)
			}
		})
	}
	if istioInputs < 4 {
		t.Errorf("only %d inputs target Istio", istioInputs)
	}
}

// assertOwned checks the ownerReference that lets Kubernetes' garbage collector delete an object
// with its WasmDeployment. envtest runs no kube-controller-manager, hence no garbage collector:
// the deletion itself happens only in a real cluster, so the reference is what is tested here.
func assertOwned(t *testing.T, wd *v1alpha1.WasmDeployment, refs []metav1.OwnerReference) {
	t.Helper()
	if len(refs) != 1 {
		t.Fatalf("%d owner references, want 1", len(refs))
	}
	r := refs[0]
	if r.APIVersion != v1alpha1.GroupVersion.String() || r.Kind != v1alpha1.Kind || r.Name != wd.Name || r.UID != wd.UID ||
		r.Controller == nil || !*r.Controller || r.BlockOwnerDeletion == nil || !*r.BlockOwnerDeletion {
		t.Errorf("owner reference %+v does not make %s/%s (uid %s) the controller", r, wd.Namespace, wd.Name, wd.UID)
	}
}

// TestIstioCRDsValidate is the control for TestIstioObjectsAccepted: Istio's CRDs do refuse a bad
// WasmPlugin, so their acceptance above means something.
func TestIstioCRDsValidate(t *testing.T) {
	ns := env.Namespace(t)
	wd := createSample(t, ns)
	wp, err := istio.WasmPlugin(wd, digestV1)
	if err != nil {
		t.Fatal(err)
	}
	wp.Spec.TargetRefs = []*typev1beta1.PolicyTargetReference{{Group: "gateway.networking.k8s.io", Kind: "Gateway", Name: "public"}}
	err = env.Client.Create(ctx(t), wp)
	if !apierrors.IsInvalid(err) {
		t.Fatalf("WasmPlugin with both selector and targetRefs: got %v, want Invalid", err)
	}
	wp, _ = istio.WasmPlugin(wd, digestV1)
	wp.Spec.Sha256 = "not-a-digest"
	if err := env.Client.Create(ctx(t), wp); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "sha256") {
		t.Fatalf("WasmPlugin with a bad sha256: got %v, want Invalid", err)
	}
}
