package istio_test

import (
	"errors"
	"strings"
	"testing"

	"oras.land/oras-go/v2/registry"

	"github.com/wasmesh/wasmesh/operator/api/v1alpha1"
	"github.com/wasmesh/wasmesh/operator/istio"
)

// FuzzPinnedURL: an oci:// reference is refused as invalid, or pinned to the resolved digest with
// its registry and repository kept and its tag and former digest dropped.
func FuzzPinnedURL(f *testing.F) {
	for _, s := range []string{
		"127.0.0.1:5000/wasmesh/auth:v1",
		"r.example/a/b",
		"r.example:443/a/b:v1@sha256:" + strings.Repeat("0", 64),
		"r.example/a@sha256:" + strings.Repeat("1", 64),
		"localhost:5000/x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		wd := &v1alpha1.WasmDeployment{Spec: v1alpha1.WasmDeploymentSpec{URL: "oci://" + ref, Targets: []v1alpha1.Target{v1alpha1.TargetIstio}}}
		wd.Name, wd.Namespace = "p", "ns"
		wp, err := istio.WasmPlugin(wd, digest)
		if err != nil {
			if !errors.Is(err, istio.ErrInvalid) {
				t.Fatalf("%q: %v, want ErrInvalid", ref, err)
			}
			return
		}
		in, err := registry.ParseReference(ref)
		if err != nil {
			t.Fatalf("%q accepted but does not parse: %v", ref, err)
		}
		out, err := registry.ParseReference(strings.TrimPrefix(wp.Spec.Url, "oci://"))
		if err != nil || out.Registry != in.Registry || out.Repository != in.Repository || out.Reference != digest {
			t.Fatalf("%q pinned to %q (%v)", ref, wp.Spec.Url, err)
		}
	})
}
