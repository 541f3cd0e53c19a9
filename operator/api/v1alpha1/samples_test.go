package v1alpha1_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/wasmesh/wasmesh/operator/api/v1alpha1"
)

// TestSamplesMatchFilterConfigs keeps samples/wasmdeployments in step with the filters: each
// sample decodes strictly into the Go types (no unknown or misspelt field) and carries, as its
// pluginConfig, the configuration its filter is tested with in samples/filters/<name>.json.
func TestSamplesMatchFilterConfigs(t *testing.T) {
	paths, err := filepath.Glob("../../../samples/wasmdeployments/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) < 3 {
		t.Fatalf("found %d samples, want one per filter (auth, ratelimit, dubbo-routing)", len(paths))
	}
	for _, p := range paths {
		name := strings.TrimSuffix(filepath.Base(p), ".yaml")
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			var wd v1alpha1.WasmDeployment
			if err := yaml.UnmarshalStrict(b, &wd); err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			if wd.Name != name || wd.Spec.PluginName != name {
				t.Errorf("%s: metadata.name %q and spec.pluginName %q should both be %q", p, wd.Name, wd.Spec.PluginName, name)
			}
			if want := "oci://127.0.0.1:5000/wasmesh/" + name + ":v1"; wd.Spec.URL != want {
				t.Errorf("%s: spec.url %q, want %q", p, wd.Spec.URL, want)
			}
			cfg, err := os.ReadFile(filepath.Join("../../../samples/filters", name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			var want, got any
			if err := json.Unmarshal(cfg, &want); err != nil {
				t.Fatal(err)
			}
			if wd.Spec.PluginConfig == nil {
				t.Fatalf("%s: no spec.pluginConfig", p)
			}
			if err := json.Unmarshal(wd.Spec.PluginConfig.Raw, &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s: spec.pluginConfig differs from samples/filters/%s.json; copy the filter's configuration into the sample", p, name)
			}
		})
	}
}
