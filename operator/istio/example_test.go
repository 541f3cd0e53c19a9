package istio_test

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/wasmesh/wasmesh/operator/api/v1alpha1"
	"github.com/wasmesh/wasmesh/operator/istio"
)

// The WasmPlugin of a WasmDeployment pins the tag it was given to the digest it resolved to.
func ExampleWasmPlugin() {
	wd := &v1alpha1.WasmDeployment{
		ObjectMeta: metav1.ObjectMeta{Name: "auth", Namespace: "shop"},
		Spec: v1alpha1.WasmDeploymentSpec{
			URL:      "oci://127.0.0.1:5000/wasmesh/auth:v1",
			Selector: &v1alpha1.WorkloadSelector{MatchLabels: map[string]string{"app": "greeter"}},
			Phase:    v1alpha1.PhaseAuthn,
			Targets:  []v1alpha1.Target{v1alpha1.TargetIstio},
		},
	}
	wp, err := istio.WasmPlugin(wd, "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(wp.Namespace, wp.Name, wp.Spec.Phase)
	fmt.Println(wp.Spec.Url)
	fmt.Println("filter:", istio.FilterName(wd))
	// Output:
	// shop auth AUTHN
	// oci://127.0.0.1:5000/wasmesh/auth@sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824
	// filter: shop.auth
}
