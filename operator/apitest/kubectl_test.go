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

// TestConfigDefaultManager: the rendered config/default holds the operator's Deployment and Service as the API
// server stores them: the Service in front of the xds and modules ports, the pod's named ports, the cache
// volume, and the flags proxies depend on (cli/operator_test.go checks they parse).
func TestConfigDefaultManager(t *testing.T) {
	rendered, err := env.RunKubectl(ctx(t), nil, "kustomize", "config/default")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.RunKubectl(ctx(t), rendered, "apply", "--server-side", "--force-conflicts", "-f", "-"); err != nil {
		t.Fatalf("config/default does not apply: %v", err)
	}
	get := func(args ...string) string {
		t.Helper()
		out, err := env.RunKubectl(ctx(t), nil, append([]string{"get", "-n", "wasmesh-system"}, args...)...)
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	if got := get("service", "wasmesh-operator", "-o", `jsonpath={range .spec.ports[*]}{.name}={.port}->{.targetPort} {end}`); got != "grpc-xds=18000->xds http-modules=8082->modules " {
		t.Errorf("Service ports %q", got)
	}
	pod := `{.spec.template.spec.containers[0]}`
	if got := get("deployment", "wasmesh-operator", "-o", "jsonpath="+pod); !strings.Contains(got, `"--modules-url=http://wasmesh-operator.$(POD_NAMESPACE).svc:8082"`) ||
		!strings.Contains(got, `"mountPath":"/var/cache/wasmesh"`) || !strings.Contains(got, `"readOnlyRootFilesystem":true`) {
		t.Errorf("operator container %s", got)
	}
	if got := get("deployment", "wasmesh-operator", "-o", `jsonpath={range .spec.template.spec.containers[0].ports[*]}{.name}={.containerPort} {end}`); got != "xds=18000 modules=8082 metrics=8080 health=8081 " {
		t.Errorf("container ports %q", got)
	}
}
