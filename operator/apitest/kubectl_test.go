package apitest

import (
	"strings"
	"testing"
)

// TestKubectlApply is what a user sees: the samples apply as they are, and a bad resource is
// refused by kubectl apply with the field named.
func TestKubectlApply(t *testing.T) {
	out, err := env.RunKubectl(ctx(t), nil, "apply", "-f", "samples/wasmdeployments/")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"auth", "ratelimit", "dubbo-routing"} {
		if !strings.Contains(string(out), "wasmdeployment.wasmesh.io/"+name+" created") {
			t.Errorf("kubectl apply did not create %s:\n%s", name, out)
		}
	}
	bad := []byte(`apiVersion: wasmesh.io/v1alpha1
kind: WasmDeployment
metadata: {name: bad, namespace: default}
spec:
  url: oci://127.0.0.1:5000/wasmesh/auth:v1
  sha256: not-a-digest
  selector: {}
`)
	_, err = env.RunKubectl(ctx(t), bad, "apply", "-f", "-")
	if err == nil || !strings.Contains(err.Error(), "spec.sha256") {
		t.Fatalf("kubectl apply of a bad sha256: got %v, want a refusal naming spec.sha256", err)
	}
	t.Log(err)
}
