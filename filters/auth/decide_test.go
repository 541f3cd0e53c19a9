package main

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/crypto/bcrypt"

	"github.com/wasmesh/wasmesh/filters/internal/pluginconfig"
	"github.com/wasmesh/wasmesh/filters/internal/request"
	"github.com/wasmesh/wasmesh/filters/internal/tokenbucket"
)

func loadTokens(t testing.TB) map[string]string {
	t.Helper()
	b, err := os.ReadFile("testdata/tokens.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// newTestAuth builds an authenticator with API key, Basic (bcrypt at cost 10, the common default) and a JWT
// provider holding every test key.
func newTestAuth(t testing.TB, extra string) *authenticator {
	t.Helper()
	tok := loadTokens(t)
	hash := bobHash(t)
	cfg := fmt.Sprintf(`{
	  "consumers": [{"name": "alice", "keys": ["alice-key-0001"]}, {"name": "bob", "basic": {"username": "bob", "bcrypt": %q}}],
	  "jwt": {"providers": [{"issuer": %q, "audiences": [%q], "jwks": %s,
	          "claims_to_headers": [{"claim": "sub", "header": "x-jwt-sub"}]}]}%s}`, hash, testIssuer, testAudience, tok["jwks"], extra)
	pc, err := pluginconfig.Parse([]byte(cfg), compile)
	if err != nil {
		t.Fatal(err)
	}
	return newAuthenticator(pc)
}

var bobHashes = map[string][]byte{}

// bobHash hashes bob's password once per test binary: bcrypt at cost 10 is slow on purpose.
func bobHash(t testing.TB) []byte {
	if h, ok := bobHashes["bob"]; ok {
		return h
	}
	h, err := bcrypt.GenerateFromPassword([]byte("s3cret-pass"), bcrypt.DefaultCost)
	if err != nil {
		t.Fatal(err)
	}
	bobHashes["bob"] = h
	return h
}

func hdrs(kv ...string) [][2]string {
	h := [][2]string{{":method", "GET"}, {":path", "/hello"}, {":authority", "api.example.com"}}
	for i := 0; i+1 < len(kv); i += 2 {
		h = append(h, [2]string{kv[i], kv[i+1]})
	}
	return h
}

var now = time.Unix(1_800_000_000, 0)

// at is a clock stopped at t.
func at(t time.Time) func() time.Time { return func() time.Time { return t } }

func TestDecide(t *testing.T) {
	a := newTestAuth(t, `, "rules": [{"name": "admin", "match": {"path_prefix": "/admin"}, "allow": {"claims": {"scope": ["admin"]}}}]`)
	tok := loadTokens(t)
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("bob:s3cret-pass"))
	tests := []struct {
		name     string
		path     string
		headers  []string
		status   int
		consumer string
		reason   string
	}{
		{"api key", "/hello", []string{"x-api-key", "alice-key-0001"}, 0, "alice", ""},
		{"basic", "/hello", []string{"authorization", basic}, 0, "bob", ""},
		{"basic lowercase scheme", "/hello", []string{"authorization", "basic " + strings.TrimPrefix(basic, "Basic ")}, 0, "bob", ""},
		{"jwt", "/hello", []string{"authorization", "Bearer " + tok["rs256"]}, 0, "carol", ""},
		{"jwt scope allows admin", "/admin", []string{"authorization", "Bearer " + tok["admin"]}, 0, "dave", ""},
		{"jwt without scope", "/admin", []string{"authorization", "Bearer " + tok["rs256"]}, 403, "carol", `not allowed by rule "admin"`},
		{"alg none", "/hello", []string{"authorization", "Bearer " + tok["alg_none"]}, 401, "", "unexpected signature algorithm"},
		{"RS256 public key as HS256 secret", "/hello", []string{"authorization", "Bearer " + tok["hs_confusion"]}, 401, "", "no key fits alg HS256"},
		{"bearer with no token", "/hello", []string{"authorization", "Bearer "}, 401, "", "no credentials"},
		{"two dots only", "/hello", []string{"authorization", "Bearer .."}, 401, "", "malformed"},
		{"unknown scheme", "/hello", []string{"authorization", "Digest x"}, 401, "", "no credentials"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := hdrs(tt.headers...)
			h[1][1] = tt.path
			r := request.New(h, "")
			d := a.Decide(&r, at(now))
			if d.Status != tt.status || d.Consumer != tt.consumer || !strings.Contains(d.Reason, tt.reason) {
				t.Fatalf("got status %d consumer %q reason %q; want %d %q %q", d.Status, d.Consumer, d.Reason, tt.status, tt.consumer, tt.reason)
			}
			if tt.status == 401 && len(d.Challenges) == 0 {
				t.Fatal("401 without WWW-Authenticate challenges")
			}
		})
	}
}

func TestKeyFits(t *testing.T) {
	keys := loadTestKeys(t)
	pub := func(kid string) verificationKey {
		k := keys[kid]
		if _, sym := k.Key.([]byte); sym {
			return verificationKey{kid: kid, key: k.Key}
		}
		return verificationKey{kid: kid, key: k.Public().Key}
	}
	tests := []struct {
		kid  string
		alg  jose.SignatureAlgorithm
		want bool
	}{
		{"rsa-1", jose.RS256, true}, {"rsa-1", jose.PS256, true}, {"rsa-1", jose.HS256, false}, {"rsa-1", jose.ES256, false},
		{"p256-1", jose.ES256, true}, {"p256-1", jose.ES384, false}, {"p384-1", jose.ES384, true}, {"p384-1", jose.ES256, false},
		{"ed-1", jose.EdDSA, true}, {"ed-1", jose.RS256, false},
		{"hmac-1", jose.HS256, true}, {"hmac-1", jose.RS256, false},
	}
	for _, tt := range tests {
		if got := keyFits(tt.alg, pub(tt.kid)); got != tt.want {
			t.Errorf("keyFits(%s, %s) = %v, want %v", tt.alg, tt.kid, got, tt.want)
		}
	}
	pinned := pub("rsa-1")
	pinned.alg = jose.RS256
	if keyFits(jose.PS256, pinned) {
		t.Error("a key whose JWK says alg RS256 must not verify PS256")
	}
}

func TestTokenCache(t *testing.T) {
	a := newTestAuth(t, "")
	tok := loadTokens(t)["rs256"]
	r := request.New(hdrs("authorization", "Bearer "+tok), "")
	if d := a.Decide(&r, at(now)); d.Status != 0 {
		t.Fatalf("first: %+v", d)
	}
	if a.st.tokens.Len() != 1 {
		t.Fatalf("cache holds %d tokens, want 1", a.st.tokens.Len())
	}
	// The cached identity still honours exp: 2100-01-01 plus the 60s skew.
	if d := a.Decide(&r, at(time.Unix(farFuture+61, 0))); d.Status != 401 || !strings.Contains(d.Reason, "expired") {
		t.Fatalf("cached token after exp: %+v", d)
	}
	if a.st.tokens.Len() != 0 {
		t.Fatal("an expired token stays cached")
	}
	// A new key set invalidates cached verifications made with the old one.
	if d := a.Decide(&r, at(now)); d.Status != 0 {
		t.Fatal(d.Reason)
	}
	keys, _, err := parseJWKS([]byte(loadTokens(t)["jwks_rotated"]), true)
	if err != nil {
		t.Fatal(err)
	}
	a.installKeys(0, keys)
	if d := a.Decide(&r, at(now)); d.Status != 401 {
		t.Fatalf("token signed by a removed key passed from cache: %+v", d)
	}
}

func TestTokenCacheBounded(t *testing.T) {
	a := newTestAuth(t, `, "basic_cache_size": 2, "basic_guard": {"cold_checks_per_consumer": {"requests": 100, "per": "second"}}`)
	tok := loadTokens(t)
	for _, name := range []string{"rs256", "rs384", "rs512", "ps256", "es256", "es384", "eddsa", "hs256"} {
		r := request.New(hdrs("authorization", "Bearer "+tok[name]), "")
		if d := a.Decide(&r, at(now)); d.Status != 0 {
			t.Fatalf("%s: %s", name, d.Reason)
		}
	}
	if a.st.tokens.Len() != 8 {
		t.Fatalf("cache len %d", a.st.tokens.Len())
	}
	for _, pass := range []string{"a", "b", "c", "s3cret-pass"} {
		r := request.New(hdrs("authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("bob:"+pass))), "")
		a.Decide(&r, at(now))
	}
	if a.st.basic.Len() != 1 {
		t.Fatalf("basic cache holds %d entries, want only the one success", a.st.basic.Len())
	}
}

func TestSaltedSHA256(t *testing.T) {
	sum := sha256.Sum256([]byte("pepper-salt" + "pw"))
	cfg := fmt.Sprintf(`{"consumers": [{"name": "s", "basic": {"username": "s", "sha256": %q, "salt": "pepper-salt"}}]}`, hex.EncodeToString(sum[:]))
	pc, err := pluginconfig.Parse([]byte(cfg), compile)
	if err != nil {
		t.Fatal(err)
	}
	a := newAuthenticator(pc)
	for pass, want := range map[string]int{"pw": 0, "pw2": 401, "": 401} {
		r := request.New(hdrs("authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("s:"+pass))), "")
		if d := a.Decide(&r, at(now)); d.Status != want {
			t.Errorf("password %q: status %d, want %d", pass, d.Status, want)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	tok := loadTokens(t)
	tests := []struct{ cfg, want string }{
		{`{"consumers": [{"name": "a", "keys": ["aaaaaaaa1"]}, {"name": "b", "keys": ["bbbbbbbb1"]}, {"name": "c", "keys": []}]}`, "consumers[2].keys: must not be empty"},
		{`{"consumers": [{"name": "a", "keys": ["short"]}]}`, "consumers[0].keys[0]: must be at least 8"},
		{`{"consumers": [{"name": "a", "keys": ["aaaaaaaa1"]}, {"name": "b", "keys": ["aaaaaaaa1"]}]}`, `consumers[1].keys[0]: key already belongs to consumer "a"`},
		{`{"consumers": [{"name": "a", "keys": ["aaaaaaaa1"]}, {"name": "a", "keys": ["bbbbbbbb1"]}]}`, "consumers[1].name: duplicate"},
		{`{"consumers": [{"name": "a", "basic": {"username": "a", "sha256": "00"}}]}`, "consumers[0].basic.sha256: must be 64 hex digits"},
		{`{"consumers": [{"name": "a", "basic": {"username": "a", "sha256": "` + strings.Repeat("0", 64) + `"}}]}`, "consumers[0].basic.salt"},
		{`{"consumers": [{"name": "a", "keys": ["akey-0001"]}], "basic_guard": {"negative_ttl": "2h"}}`, "basic_guard.negative_ttl: must be between 1s and 1h"},
		{`{"consumers": [{"name": "a", "keys": ["akey-0001"]}], "basic_guard": {"cold_checks": {"requests": 1, "per": "week"}}}`, `basic_guard.cold_checks.per: "week" is not one of`},
		{`{"consumers": [{"name": "a", "keys": ["akey-0001"]}], "basic_guard": {"cold_checks_per_consumer": {"requests": 0, "per": "second"}}}`, "basic_guard.cold_checks_per_consumer.requests"},
		{`{"consumers": [{"name": "a", "keys": ["akey-0001"]}], "basic_guard": {"negative_cache": 5}}`, "negative_cache: unknown field"},
		{`{"jwt": {"providers": [{"issuer": "x"}]}}`, "jwt.providers[0]: set jwks (inline) or remote_jwks"},
		{`{"jwt": {"providers": [{"issuer": "x", "jwks": {"keys": [{"kty": "RSA"}]}}]}}`, "jwt.providers[0].jwks: keys[0]"},
		{`{"jwt": {"providers": [{"issuer": "x", "jwks": ` + tok["jwks"] + `, "from": [{"header": "a", "query": "b"}]}]}}`, "jwt.providers[0].from[0]: set exactly one"},
		{`{"jwt": {"providers": [{"issuer": "x", "remote_jwks": {"cluster": "c", "path": "jwks"}}]}}`, "jwt.providers[0].remote_jwks.path: must start with /"},
		{`{"jwt": {"providers": [{"issuer": "x", "jwks": ` + tok["jwks"] + `, "clock_skew": "forever"}]}}`, "clock_skew"},
		{`{"consumer_header": "Bad Header", "consumers": [{"name": "a", "keys": ["aaaaaaaa1"]}]}`, "consumer_header"},
	}
	for _, tt := range tests {
		if _, err := pluginconfig.Parse([]byte(tt.cfg), compile); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%.80s:\n got %v\nwant %q", tt.cfg, err, tt.want)
		}
	}
}

// FuzzVerifyToken feeds arbitrary bearer values through extraction, the cache and verification.
func FuzzVerifyToken(f *testing.F) {
	tok := loadTokens(f)
	for _, name := range []string{"rs256", "es256", "eddsa", "hs256", "alg_none", "hs_confusion", "bad_sig", "expired"} {
		f.Add(tok[name])
	}
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJSUzI1NiJ9.e30.")
	a := newTestAuth(f, "")
	f.Fuzz(func(t *testing.T, token string) {
		r := request.New(hdrs("authorization", "Bearer "+token, "cookie", "jwt="+token), "")
		d := a.Decide(&r, at(now))
		if d.Status == 0 && d.Consumer == "" {
			t.Fatalf("token %q allowed without a consumer", token)
		}
		_ = peekIssuer(token)
	})
}

// FuzzBasic feeds arbitrary Authorization values to the Basic path.
func FuzzBasic(f *testing.F) {
	f.Add("Basic " + base64.StdEncoding.EncodeToString([]byte("bob:s3cret-pass")))
	f.Add("Basic Ym9iOg==")
	f.Add("Basic !!")
	a := newTestAuth(f, "")
	f.Fuzz(func(t *testing.T, v string) {
		r := request.New(hdrs("authorization", v), "")
		if d := a.Decide(&r, at(now)); d.Status == 0 && d.Consumer != "bob" {
			t.Fatalf("%q authenticated as %q", v, d.Consumer)
		}
	})
}

// FuzzParseJWKS checks that no JWKS document crashes the parser or yields private keys.
func FuzzParseJWKS(f *testing.F) {
	tok := loadTokens(f)
	f.Add([]byte(tok["jwks"]))
	f.Add([]byte(`{"keys": [{"kty": "EC", "crv": "P-256"}]}`))
	f.Add([]byte(`{"keys": null}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		keys, _, err := parseJWKS(doc, false)
		if err == nil && len(keys) == 0 {
			t.Fatal("no error and no keys")
		}
	})
}

// guardAuth has two bcrypt users (cost 4, to keep the test fast) and the given basic_guard.
func guardAuth(t *testing.T, guard string) *authenticator {
	t.Helper()
	hash := func(pass string) string {
		h, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		return string(h)
	}
	cfg := fmt.Sprintf(`{"consumers": [{"name": "bob", "basic": {"username": "bob", "bcrypt": %q}},
	  {"name": "carol", "basic": {"username": "carol", "bcrypt": %q}}], "basic_guard": %s}`, hash("bob-pass"), hash("carol-pass"), guard)
	pc, err := pluginconfig.Parse([]byte(cfg), compile)
	if err != nil {
		t.Fatal(err)
	}
	return newAuthenticator(pc)
}

func basicReq(user, pass string) request.Request {
	return request.New(hdrs("authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+pass))), "")
}

func TestBasicNegativeCache(t *testing.T) {
	a := guardAuth(t, `{"negative_ttl": "10s"}`)
	st := a.st.guard.(*tokenbucket.MemStore)
	clock := now
	decide := func(user, pass string) Decision {
		r := basicReq(user, pass)
		return a.Decide(&r, func() time.Time { return clock })
	}
	if d := decide("bob", "guess-1"); d.Status != 401 {
		t.Fatalf("wrong password: %+v", d)
	}
	checks := st.Writes
	for i := 0; i < 5; i++ {
		if d := decide("bob", "guess-1"); d.Status != 401 || !strings.Contains(d.Reason, "bad credentials") {
			t.Fatalf("repeated wrong password: %+v", d)
		}
	}
	if st.Writes != checks {
		t.Fatalf("a repeated wrong password took %d cold-check tokens, want none (answered from the negative cache)", st.Writes-checks)
	}
	if d := decide("bob", "bob-pass"); d.Status != 0 || d.Consumer != "bob" {
		t.Fatalf("right password after a wrong one: %+v", d)
	}
	clock = clock.Add(11 * time.Second) // past negative_ttl: checked again
	if d := decide("bob", "guess-1"); d.Status != 401 || st.Writes == checks {
		t.Fatalf("after the TTL: %+v, writes %d, want a new check", d, st.Writes-checks)
	}
	if a.st.failed.Len() != 1 {
		t.Fatalf("negative cache holds %d entries, want 1", a.st.failed.Len())
	}
}

func TestBasicColdChecksLimited(t *testing.T) {
	a := guardAuth(t, `{"cold_checks": {"requests": 1, "per": "minute", "burst": 3},
	  "cold_checks_per_consumer": {"requests": 1, "per": "minute", "burst": 2}}`)
	decide := func(user, pass string) Decision {
		r := basicReq(user, pass)
		return a.Decide(&r, at(now))
	}
	if d := decide("bob", "bob-pass"); d.Status != 0 { // cold, then warm
		t.Fatalf("bob: %+v", d)
	}
	if d := decide("bob", "guess-1"); d.Status != 401 {
		t.Fatalf("bob's 2nd cold check: %+v", d)
	}
	d := decide("bob", "guess-2")
	if d.Status != 429 || !strings.Contains(d.Reason, `user "bob"`) || d.RetryAfter <= 0 || d.RetryAfter > time.Minute {
		t.Fatalf("bob's 3rd cold check: %+v, want 429 for the user with a retry-after", d)
	}
	if d := decide("bob", "bob-pass"); d.Status != 0 {
		t.Fatalf("warm credentials while the cold checks are limited: %+v", d)
	}
	if d := decide("carol", "guess-1"); d.Status != 401 { // carol's bucket is full; the 3rd proxy-wide token
		t.Fatalf("carol: %+v", d)
	}
	d = decide("carol", "carol-pass")
	if d.Status != 429 || !strings.Contains(d.Reason, "proxy-wide") {
		t.Fatalf("4th cold check proxy-wide: %+v, want 429 proxy-wide", d)
	}
	if d := decide("nobody", "x"); d.Status != 401 {
		t.Fatalf("unknown user (no bcrypt, no limit): %+v", d)
	}
}

// TestWarmPathsDoNotAllocate guards the per-request cost: in the guest every allocation is paid again by Go's
// garbage collector, which runs inline in the single-threaded VM.
func TestWarmPathsDoNotAllocate(t *testing.T) {
	a := newTestAuth(t, "")
	tok := loadTokens(t)
	for name, h := range map[string][][2]string{
		"api key": hdrs("x-api-key", "alice-key-0001"),
		"basic":   hdrs("authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("bob:s3cret-pass"))),
		"jwt":     hdrs("authorization", "Bearer "+tok["rs256"]),
	} {
		r := request.New(h, "")
		if d := a.Decide(&r, at(now)); d.Status != 0 {
			t.Fatalf("%s: %s", name, d.Reason)
		}
		if n := testing.AllocsPerRun(20, func() { r := request.New(h, ""); a.Decide(&r, at(now)) }); n != 0 {
			t.Errorf("%s: %v allocations per warm request, want 0", name, n)
		}
	}
}
