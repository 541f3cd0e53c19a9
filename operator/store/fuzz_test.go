package store

import (
	"strings"
	"testing"
)

func FuzzParseFile(f *testing.F) {
	f.Add([]byte("apiVersion: wasmesh.io/v1alpha1\nkind: WasmDeployment\nmetadata: {name: a}\nspec:\n  url: oci://r/x:v1\n  selector: {}\n"))
	f.Add([]byte("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ntype: kubernetes.io/dockerconfigjson\nstringData: {.dockerconfigjson: '{}'}\n---\n---\n"))
	f.Add([]byte("kind: [\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, err := ParseFile("fuzz.yaml", data)
		if err != nil {
			return
		}
		for _, wd := range objs.Deployments {
			if wd.Name == "" || wd.Namespace == "" || wd.Spec.URL == "" {
				t.Fatalf("accepted an incomplete WasmDeployment: %+v", wd)
			}
		}
	})
}

func TestParseFile(t *testing.T) {
	tests := []struct {
		name, yaml, err string
		deployments     int
		secrets         int
	}{
		{"deployment", "apiVersion: wasmesh.io/v1alpha1\nkind: WasmDeployment\nmetadata: {name: a}\nspec: {url: 'oci://r/x:v1', selector: {}}\n", "", 1, 0},
		{"two docs", "apiVersion: wasmesh.io/v1alpha1\nkind: WasmDeployment\nmetadata: {name: a}\nspec: {url: 'oci://r/x:v1', selector: {}}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: s}\ntype: kubernetes.io/dockerconfigjson\n", "", 1, 1},
		{"typo", "apiVersion: wasmesh.io/v1alpha1\nkind: WasmDeployment\nmetadata: {name: a}\nspec: {url: 'oci://r/x:v1', selector: {}, pluginConfg: {}}\n", "unknown field", 0, 0},
		{"no url", "apiVersion: wasmesh.io/v1alpha1\nkind: WasmDeployment\nmetadata: {name: a}\nspec: {selector: {}}\n", "spec.url is required", 0, 0},
		{"no selector", "apiVersion: wasmesh.io/v1alpha1\nkind: WasmDeployment\nmetadata: {name: a}\nspec: {url: 'oci://r/x:v1'}\n", "exactly one of spec.selector", 0, 0},
		{"other kind", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\n", "expected wasmesh.io/v1alpha1", 0, 0},
		{"empty", "", "", 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			objs, err := ParseFile("f.yaml", []byte(tc.yaml))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(objs.Deployments) != tc.deployments || len(objs.Secrets) != tc.secrets {
				t.Fatalf("%d deployments %d secrets", len(objs.Deployments), len(objs.Secrets))
			}
			for _, wd := range objs.Deployments {
				if wd.Namespace != DefaultNamespace {
					t.Errorf("namespace %q, want the default", wd.Namespace)
				}
			}
		})
	}
}
