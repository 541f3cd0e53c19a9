package demo

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/host/proxy/config"
)

func testRun(t *testing.T) *run {
	return &run{
		opts:         Options{Samples: "../samples", WorkDir: t.TempDir()},
		proxyAddr:    "127.0.0.1:18080",
		adminAddr:    "127.0.0.1:19901",
		upstreamAddr: "127.0.0.1:19000",
		modules: map[string]module{
			"auth":      {pulled: "/tmp/auth.wasm", sha256: strings.Repeat("a", 64)},
			"ratelimit": {pulled: "/tmp/ratelimit.wasm", sha256: strings.Repeat("b", 64)},
		},
	}
}

// The proxy.yaml the demo writes must pass the proxy's own strict parser, in each variant it writes.
func TestProxyConfigParses(t *testing.T) {
	d := testRun(t)
	for _, tc := range []struct {
		name   string
		extra  map[string]string
		badPin bool
	}{
		{"initial", nil, false},
		{"with dave", map[string]string{"dave": daveKey}, false},
		{"wrong pin", map[string]string{"dave": daveKey}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := d.proxyConfig(tc.extra, tc.badPin)
			if err != nil {
				t.Fatal(err)
			}
			f, err := config.Parse("proxy.yaml", b, []string{"wasm"})
			if err != nil {
				t.Fatalf("the proxy refuses the demo's config: %v\n%s", err, b)
			}
			l := f.Listeners[0]
			if len(l.Filters) != 2 || l.Filters[0].Name != "auth" || l.Filters[1].Name != "ratelimit" {
				t.Fatalf("filters = %+v", l.Filters)
			}
			if got := l.Filters[1].Module.SHA256 == strings.Repeat("0", 64); got != tc.badPin {
				t.Errorf("ratelimit pin broken = %v, want %v", got, tc.badPin)
			}
			if has := strings.Contains(string(l.Filters[0].Config), daveKey); has != (tc.extra != nil) {
				t.Errorf("dave's key in auth config = %v", has)
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
	cfg, err := d.sampleConfig("auth.json")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(cfg["jwt"].(map[string]any)["providers"].([]any)[0].(map[string]any)["jwks"])
	if err := json.Unmarshal(raw, &jwks); err != nil || len(jwks.Keys) == 0 {
		t.Fatalf("sample JWKS: %v", err)
	}
	x, _ := base64.RawURLEncoding.DecodeString(jwks.Keys[0].X)
	if jwks.Keys[0].Kid != jwtKeyID || string(x) != string(pub) {
		t.Fatal("the demo key is not the one samples/filters/auth.json trusts")
	}
	claims, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if !strings.Contains(string(claims), `"sub":"carol"`) || !strings.Contains(string(claims), jwtIssuer) {
		t.Fatalf("claims %s", claims)
	}
}
