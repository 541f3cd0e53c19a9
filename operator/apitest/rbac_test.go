package apitest

import (
	"os"
	"strings"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	"sigs.k8s.io/yaml"
)

const operatorSA = "system:serviceaccount:wasmesh-system:wasmesh-operator"

// TestConfigDefault renders config/default with kustomize (kubectl's), applies it to the API
// server, and checks what the operator's service account may and may not do.
func TestConfigDefault(t *testing.T) {
	rendered, err := env.RunKubectl(ctx(t), nil, "kustomize", "config/default")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.RunKubectl(ctx(t), rendered, "apply", "--server-side", "--force-conflicts", "-f", "-"); err != nil {
		t.Fatalf("config/default does not apply: %v", err)
	}

	ns := env.Namespace(t)
	tests := []struct {
		verb, group, resource, subresource, namespace string
		allowed                                       bool
	}{
		{"watch", "wasmesh.io", "wasmdeployments", "", ns, true},
		{"patch", "wasmesh.io", "wasmdeployments", "status", ns, true},
		{"update", "wasmesh.io", "wasmdeployments", "finalizers", ns, true},
		{"create", "extensions.istio.io", "wasmplugins", "", ns, true},
		{"delete", "networking.istio.io", "envoyfilters", "", ns, true},
		{"create", "", "events", "", ns, true},
		{"update", "coordination.k8s.io", "leases", "", "wasmesh-system", true},
		// Least privilege: not its own resources' lifecycle, not leases elsewhere, no secrets
		// until a namespace binds the secret reader, never other Istio or core kinds.
		{"delete", "wasmesh.io", "wasmdeployments", "", ns, false},
		{"create", "wasmesh.io", "wasmdeployments", "", ns, false},
		{"update", "coordination.k8s.io", "leases", "", ns, false},
		{"get", "", "secrets", "", ns, false},
		{"list", "", "secrets", "", "wasmesh-system", false},
		{"create", "networking.istio.io", "virtualservices", "", ns, false},
		{"create", "", "pods", "", ns, false},
	}
	for _, tt := range tests {
		if got := allowed(t, tt.verb, tt.group, tt.resource, tt.subresource, tt.namespace); got != tt.allowed {
			t.Errorf("%s %s/%s/%s in %s: allowed=%v, want %v", tt.verb, tt.group, tt.resource, tt.subresource, tt.namespace, got, tt.allowed)
		}
	}

	// Binding the secret reader in one namespace, as docs/wasmdeployment.md says, grants get on
	// secrets there and nowhere else.
	b, err := os.ReadFile(env.RepoRoot + "/config/rbac/secret_reader_role_binding.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rb map[string]any
	if err := yaml.Unmarshal(b, &rb); err != nil {
		t.Fatal(err)
	}
	rb["metadata"].(map[string]any)["namespace"] = ns
	out, err := yaml.Marshal(rb)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.RunKubectl(ctx(t), out, "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	if !allowed(t, "get", "", "secrets", "", ns) {
		t.Errorf("secret reader bound in %s, yet get secrets is denied", ns)
	}
	other := env.Namespace(t)
	if allowed(t, "get", "", "secrets", "", other) || allowed(t, "list", "", "secrets", "", ns) {
		t.Errorf("secret reader grants more than get in its own namespace")
	}
}

// allowed asks the API server's RBAC authorizer whether the operator's service account may act.
func allowed(t *testing.T, verb, group, resource, subresource, namespace string) bool {
	t.Helper()
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:   operatorSA,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:wasmesh-system", "system:authenticated"},
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Verb: verb, Group: group, Resource: resource, Subresource: subresource, Namespace: namespace,
		},
	}}
	if err := env.Client.Create(ctx(t), sar); err != nil {
		t.Fatal(err)
	}
	if sar.Status.EvaluationError != "" && !strings.Contains(sar.Status.EvaluationError, "not found") {
		t.Logf("evaluation: %s", sar.Status.EvaluationError)
	}
	return sar.Status.Allowed
}
