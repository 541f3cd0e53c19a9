package main

import (
	"encoding/base64"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/wasmesh/wasmesh/filters/internal/request"
)

// The benchmarks measure the filter's core per request: building the request view from the header map and
// deciding. Host calls are measured in the host (test/filters).

func benchDecide(b *testing.B, a *authenticator, h [][2]string) {
	b.Helper()
	clock := at(now)
	r := request.New(h, "")
	if d := a.Decide(&r, clock); d.Status != 0 {
		b.Fatalf("warm-up: %d %s", d.Status, d.Reason)
	}
	b.ReportAllocs()
	for b.Loop() {
		r := request.New(h, "")
		if d := a.Decide(&r, clock); d.Status != 0 {
			b.Fatal(d.Reason)
		}
	}
}

func BenchmarkAPIKey(b *testing.B) {
	benchDecide(b, newTestAuth(b, ""), hdrs("x-api-key", "alice-key-0001", "user-agent", "bench"))
}

func BenchmarkBasicWarm(b *testing.B) {
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("bob:s3cret-pass"))
	benchDecide(b, newTestAuth(b, ""), hdrs("authorization", basic, "user-agent", "bench"))
}

func BenchmarkJWTCached(b *testing.B) {
	benchDecide(b, newTestAuth(b, ""), hdrs("authorization", "Bearer "+loadTokens(b)["rs256"], "user-agent", "bench"))
}

// BenchmarkBasicCold is the cost a cache miss pays: one bcrypt at cost 10 (the cold-check limits raised so that
// every iteration checks).
func BenchmarkBasicCold(b *testing.B) {
	a := newTestAuth(b, `, "basic_guard": {"cold_checks": {"requests": 1000000, "per": "second"},
	  "cold_checks_per_consumer": {"requests": 1000000, "per": "second"}}`)
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("bob:s3cret-pass"))
	b.ReportAllocs()
	for b.Loop() {
		a.st.basic = newAuthenticator(a.cfg).st.basic
		if _, err := a.checkBasic(basic, time.Now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkJWTVerify is uncached verification per algorithm: parse, signature, claims.
func BenchmarkJWTVerify(b *testing.B) {
	a := newTestAuth(b, "")
	tok := loadTokens(b)
	p := a.cfg.providers[0]
	for _, alg := range []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.ES256, jose.ES384, jose.EdDSA, jose.HS256} {
		token := tok[map[jose.SignatureAlgorithm]string{jose.RS256: "rs256", jose.RS384: "rs384", jose.RS512: "rs512",
			jose.PS256: "ps256", jose.ES256: "es256", jose.ES384: "es384", jose.EdDSA: "eddsa", jose.HS256: "hs256"}[alg]]
		b.Run(string(alg), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.verify(token, a.st.keys[0], now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
