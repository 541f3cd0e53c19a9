package demo

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/host/proxy/config"
	"github.com/wasmesh/wasmesh/operator/api/v1alpha1"
	"github.com/wasmesh/wasmesh/operator/store"
)

func testRun(t *testing.T) *run {
	return &run{opts: Options{Samples: "../samples", WorkDir: t.TempDir()}}
}

// The samples the demo applies, adapted to its registry, must pass the operator's own strict loader and keep
// what the story relies on.
func TestSamplesAdapt(t *testing.T) {
	d := testRun(t)
	for _, name := range deployedSamples {
		t.Run(name, func(t *testing.T) {
			wd, err := d.readSample(name)
			if err != nil {
				t.Fatal(err)
			}
			notes := adaptSample(wd, "127.0.0.1:41000", []int32{41001, 41002})
			b, err := deploymentYAML(wd)
			if err != nil {
				t.Fatal(err)
			}
			objs, err := store.ParseFile(deploymentFile(wd), b)
			if err != nil {
				t.Fatalf("the operator refuses the demo's deployment: %v\n%s", err, b)
			}
			got := objs.Deployments[0]
			if got.Name != name || got.Namespace != "default" {
				t.Errorf("object %s/%s", got.Namespace, got.Name)
			}
			if want := "oci://127.0.0.1:41000/wasmesh/" + name + ":v1"; got.Spec.URL != want {
				t.Errorf("url %q, want %q (notes %v)", got.Spec.URL, want, notes)
			}
			// dubbo-routing goes to the proxies' Dubbo listeners (outbound, on free ports); the rest to every
			// HTTP listener.
			var wantMatch []v1alpha1.TrafficSelector
			if name == "dubbo-routing" {
				wantMatch = []v1alpha1.TrafficSelector{{Mode: v1alpha1.ModeClient, Ports: []v1alpha1.PortSelector{{Number: 41001}, {Number: 41002}}}}
			}
			if !reflect.DeepEqual(got.Spec.Match, wantMatch) {
				t.Errorf("match %+v, want %+v (notes %v)", got.Spec.Match, wantMatch, notes)
			}
			if got.Spec.Selector == nil || got.Spec.Selector.MatchLabels["app"] != "greeter" {
				t.Errorf("selector %+v: the demo's proxies are labelled app=greeter", got.Spec.Selector)
			}
			offOnLoad := false
			for _, r := range got.Spec.Routes {
				offOnLoad = offOnLoad || (r.Match.RouteName == loadRoute && r.Disabled)
			}
			if offOnLoad != (name == "ratelimit") {
				t.Errorf("disabled on the load route = %v", offOnLoad)
			}
		})
	}
}

// The demo's tokens must verify with the public key the sample auth configuration trusts.
func TestMintJWT(t *testing.T) {
	d := testRun(t)
	tok, err := d.mintJWT("carol", time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q", tok)
	}
	b, err := os.ReadFile(filepath.Join("..", "samples", "filters", "keys", jwtKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pub := k.(ed25519.PrivateKey).Public().(ed25519.PublicKey)
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	if !ed25519.Verify(pub, []byte(parts[0]+"."+parts[1]), sig) {
		t.Fatal("signature does not verify")
	}
	var jwks struct {
		Keys []struct{ Kid, X string }
	}
	// The demo applies samples/wasmdeployments/auth.yaml: its pluginConfig must trust the demo key.
	wd, err := d.readSample("auth")
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(wd.Spec.PluginConfig.Raw, &cfg); err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(cfg["jwt"].(map[string]any)["providers"].([]any)[0].(map[string]any)["jwks"])
	if err := json.Unmarshal(raw, &jwks); err != nil || len(jwks.Keys) == 0 {
		t.Fatalf("sample JWKS: %v", err)
	}
	x, _ := base64.RawURLEncoding.DecodeString(jwks.Keys[0].X)
	if jwks.Keys[0].Kid != jwtKeyID || string(x) != string(pub) {
		t.Fatal("the demo key is not the one samples/wasmdeployments/auth.yaml trusts")
	}
	claims, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if !strings.Contains(string(claims), `"sub":"carol"`) || !strings.Contains(string(claims), jwtIssuer) {
		t.Fatalf("claims %s", claims)
	}
}

// The dubbo-routing WasmDeployment the demo applies must configure the routing samples/filters/dubbo-routing.json
// documents (and samples/proxy/dubbo.yaml uses, below).
func TestDubboRoutingSampleConfig(t *testing.T) {
	wd, err := testRun(t).readSample("dubbo-routing")
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("..", "samples", "filters", "dubbo-routing.json"))
	if err != nil {
		t.Fatal(err)
	}
	var got, wantV any
	if err := json.Unmarshal(wd.Spec.PluginConfig.Raw, &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(want, &wantV); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, wantV) {
		t.Errorf("samples/wasmdeployments/dubbo-routing.yaml's pluginConfig differs from samples/filters/dubbo-routing.json")
	}
}

// The proxy samples for the operator's and the demo's arrangement must stay valid, and the Dubbo gateway's
// routing must stay the one samples/filters/dubbo-routing.json documents.
func TestProxySamples(t *testing.T) {
	for _, name := range []string{"xds.yaml", "dubbo.yaml"} {
		f, err := config.Load(filepath.Join("..", "samples", "proxy", name), []string{"wasm"})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if name != "dubbo.yaml" {
			continue
		}
		want, err := os.ReadFile(filepath.Join("..", "samples", "filters", "dubbo-routing.json"))
		if err != nil {
			t.Fatal(err)
		}
		var got, wantV any
		if err := json.Unmarshal(f.Listeners[0].Filters[0].Config, &got); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(want, &wantV); err != nil {
			t.Fatal(err)
		}
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(wantV)
		if string(g) != string(w) {
			t.Errorf("dubbo.yaml's dubbo-routing config differs from samples/filters/dubbo-routing.json:\n%s\n%s", g, w)
		}
	}
}
