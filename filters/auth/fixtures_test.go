package main

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"flag"
	"os"
	"path/filepath"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/crypto/bcrypt"
)

// updateFixtures regenerates testdata/keys.json and testdata/tokens.json, and the demo key under
// samples/filters/keys: go test ./auth -run TestGenerateFixtures -update-fixtures
var updateFixtures = flag.Bool("update-fixtures", false, "regenerate test keys and tokens")

const (
	testIssuer   = "https://issuer.test"
	testAudience = "greeter"
	farFuture    = 4102444800 // 2100-01-01
	longAgo      = 946684800  // 2000-01-01
)

// testKeys are the private test keys, kept as a JWKS of private JWKs in testdata/keys.json.
type testKeys map[string]jose.JSONWebKey

func loadTestKeys(t testing.TB) testKeys {
	t.Helper()
	b, err := os.ReadFile("testdata/keys.json")
	if err != nil {
		t.Fatalf("read test keys (regenerate with -update-fixtures): %v", err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(b, &set); err != nil {
		t.Fatal(err)
	}
	out := testKeys{}
	for _, k := range set.Keys {
		out[k.KeyID] = k
	}
	return out
}

// publicJWKS returns the public JWKS of the named keys (HMAC secrets are included as they are symmetric).
func (k testKeys) publicJWKS(t testing.TB, kids ...string) []byte {
	t.Helper()
	var set jose.JSONWebKeySet
	for _, kid := range kids {
		key := k[kid]
		if _, sym := key.Key.([]byte); !sym {
			key = key.Public()
		}
		set.Keys = append(set.Keys, key)
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sign mints a compact JWS with the named key; extra header fields override.
func (k testKeys) sign(t testing.TB, kid string, alg jose.SignatureAlgorithm, claims map[string]any) string {
	t.Helper()
	key := k[kid]
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key.Key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	obj, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func claims(sub string, extra ...any) map[string]any {
	c := map[string]any{"iss": testIssuer, "aud": testAudience, "sub": sub, "exp": farFuture, "iat": longAgo}
	for i := 0; i+1 < len(extra); i += 2 {
		c[extra[i].(string)] = extra[i+1]
	}
	return c
}

func TestGenerateFixtures(t *testing.T) {
	if !*updateFixtures {
		t.Skip("run with -update-fixtures to regenerate testdata/keys.json and testdata/tokens.json")
	}
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsaNew, _ := rsa.GenerateKey(rand.Reader, 2048)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{KeyID: "rsa-1", Key: rsaKey, Use: "sig"},
		{KeyID: "rsa-new", Key: rsaNew, Use: "sig"},
		{KeyID: "p256-1", Key: p256, Use: "sig"},
		{KeyID: "p384-1", Key: p384, Use: "sig"},
		{KeyID: "ed-1", Key: edKey, Use: "sig"},
		{KeyID: "hmac-1", Key: secret, Use: "sig", Algorithm: "HS256"},
	}}
	writeJSON(t, "testdata/keys.json", set)

	k := loadTestKeys(t)
	bobHash, _ := bcrypt.GenerateFromPassword([]byte("s3cret-pass"), bcrypt.MinCost)
	fixtures := map[string]string{
		"jwks":         string(k.publicJWKS(t, "rsa-1", "p256-1", "p384-1", "ed-1", "hmac-1")),
		"jwks_rotated": string(k.publicJWKS(t, "rsa-new")),
		"bob_bcrypt":   string(bobHash),
		"rs256":        k.sign(t, "rsa-1", jose.RS256, claims("carol")),
		"rs384":        k.sign(t, "rsa-1", jose.RS384, claims("carol")),
		"rs512":        k.sign(t, "rsa-1", jose.RS512, claims("carol")),
		"ps256":        k.sign(t, "rsa-1", jose.PS256, claims("carol")),
		"es256":        k.sign(t, "p256-1", jose.ES256, claims("carol")),
		"es384":        k.sign(t, "p384-1", jose.ES384, claims("carol")),
		"eddsa":        k.sign(t, "ed-1", jose.EdDSA, claims("carol")),
		"hs256":        k.sign(t, "hmac-1", jose.HS256, claims("carol")),
		"admin":        k.sign(t, "rsa-1", jose.RS256, claims("dave", "scope", "read admin", "email", "dave@example.com")),
		"expired":      k.sign(t, "rsa-1", jose.RS256, claims("carol", "exp", longAgo)),
		"not_yet":      k.sign(t, "rsa-1", jose.RS256, claims("carol", "nbf", farFuture-1)),
		"no_exp":       k.sign(t, "rsa-1", jose.RS256, map[string]any{"iss": testIssuer, "aud": testAudience, "sub": "carol"}),
		"wrong_iss":    k.sign(t, "rsa-1", jose.RS256, claims("carol", "iss", "https://evil.test")),
		"wrong_aud":    k.sign(t, "rsa-1", jose.RS256, claims("carol", "aud", "other")),
		"rotated":      k.sign(t, "rsa-new", jose.RS256, claims("erin")),
		"es256_as_384": k.sign(t, "p256-1", jose.ES256, claims("carol")),
	}
	fixtures["alg_none"] = unsignedToken(t, map[string]any{"alg": "none", "kid": "rsa-1"}, claims("carol"))
	fixtures["hs_confusion"] = hsConfusion(t, k)
	fixtures["bad_sig"] = fixtures["rs256"][:len(fixtures["rs256"])-4] + "AAAA"
	writeJSON(t, "testdata/tokens.json", fixtures)

	// The demo key: a separate Ed25519 key whose private half the demo uses to mint tokens.
	_, demo, _ := ed25519.GenerateKey(rand.Reader)
	demoJWK := &jose.JSONWebKey{KeyID: "demo-ed25519", Key: demo, Algorithm: string(jose.EdDSA), Use: "sig"}
	dir := filepath.Join("..", "..", "samples", "filters", "keys")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeJSON(t, filepath.Join(dir, "DEMO-ONLY-jwt-private.jwk.json"), demoJWK)
	writeJSON(t, filepath.Join(dir, "demo-jwks.json"), jose.JSONWebKeySet{Keys: []jose.JSONWebKey{demoJWK.Public()}})
	der, _ := x509.MarshalPKCS8PrivateKey(demo)
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err := os.WriteFile(filepath.Join(dir, "DEMO-ONLY-jwt-private.pem"), pemBytes, 0o644); err != nil {
		t.Fatal(err)
	}
}

// hsConfusion signs an HS256 token using the RSA public key's PEM bytes as the HMAC secret, the classic attack on
// verifiers that let the token pick the algorithm.
func hsConfusion(t testing.TB, k testKeys) string {
	rk := k["rsa-1"]
	pub := rk.Public().Key.(*rsa.PublicKey)
	der, _ := x509.MarshalPKIXPublicKey(pub)
	secret := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: secret},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "rsa-1"))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims("carol"))
	obj, _ := signer.Sign(payload)
	s, _ := obj.CompactSerialize()
	return s
}

func unsignedToken(t testing.TB, header, claims map[string]any) string {
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	return b64(h) + "." + b64(c) + "."
}

func writeJSON(t testing.TB, path string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
