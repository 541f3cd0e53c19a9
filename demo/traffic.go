package demo

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// Demo credentials, matching samples/filters/auth.json (DEMO ONLY; see samples/filters/keys/README.md).
const (
	aliceKey    = "alice-demo-key-0001"
	bobUser     = "bob"
	bobPassword = "bob-demo-password"
	jwtIssuer   = "https://issuer.wasmesh.demo"
	jwtAudience = "greeter"
	jwtKeyID    = "demo-ed25519"
	jwtKeyFile  = "DEMO-ONLY-jwt-private.pem"
	loadWorkers = 4 // per proxy
)

type answer struct {
	status   int
	consumer string
	header   http.Header
}

func (d *run) get(ctx context.Context, path string, set func(*http.Request)) (answer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+d.proxies[0].http+path, nil)
	if err != nil {
		return answer{}, err
	}
	if set != nil {
		set(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return answer{}, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return answer{status: resp.StatusCode, consumer: resp.Header.Get("X-Upstream-Consumer"), header: resp.Header}, nil
}

func apiKey(k string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("x-api-key", k) }
}

func bearer(t string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+t) }
}

// describe renders an answer for the story: the status, and who the upstream was told the caller is.
func describe(a answer) string {
	if a.consumer != "" {
		return fmt.Sprintf("%d as %s", a.status, a.consumer)
	}
	return fmt.Sprint(a.status)
}

func (d *run) traffic(ctx context.Context) error {
	token, err := d.mintJWT("carol", time.Now().Add(10*time.Minute))
	if err != nil {
		return err
	}
	expired, err := d.mintJWT("carol", time.Now().Add(-10*time.Minute))
	if err != nil {
		return err
	}
	cases := []struct {
		step string
		path string
		set  func(*http.Request)
		want string
	}{
		{"no credentials", "/hello", nil, "401"},
		{"API key of alice", "/hello", apiKey(aliceKey), "200 as alice"},
		{"wrong API key", "/hello", apiKey("guess"), "401"},
		{"basic auth of bob (bcrypt)", "/hello", func(r *http.Request) { r.SetBasicAuth(bobUser, bobPassword) }, "200 as bob"},
		{"JWT of carol (EdDSA)", "/hello", bearer(token), "200 as carol"},
		{"expired JWT", "/hello", bearer(expired), "401"},
		{"alice on /admin (a rule excludes her)", "/admin/stats", apiKey(aliceKey), "403"},
		{"bob on /admin", "/admin/stats", func(r *http.Request) { r.SetBasicAuth(bobUser, bobPassword) }, "200 as bob"},
	}
	for _, c := range cases {
		a, err := d.get(ctx, c.path, c.set)
		if err != nil {
			return err
		}
		got := describe(a)
		if a.status == http.StatusUnauthorized && a.header.Get("WWW-Authenticate") == "" {
			got += " without WWW-Authenticate"
		}
		d.check(c.step, c.want, got, got == c.want)
	}
	// alice may make 3 requests a minute (samples/filters/ratelimit.json); she has made one.
	var a answer
	n := 1
	for ; n <= 5; n++ {
		if a, err = d.get(ctx, "/hello", apiKey(aliceKey)); err != nil {
			return err
		}
		if a.status != http.StatusOK {
			break
		}
	}
	got := fmt.Sprintf("%d at request %d", a.status, n+1)
	d.check("alice past her rate (3/min)", "429 at request 4", got, got == "429 at request 4" && a.header.Get("Retry-After") != "")
	if ra := a.header.Get("Retry-After"); ra != "" {
		fmt.Fprintf(d.out, "           retry-after %ss, x-ratelimit-limit %s, x-ratelimit-remaining %s\n",
			ra, a.header.Get("X-Ratelimit-Limit"), a.header.Get("X-Ratelimit-Remaining"))
	}
	return nil
}

// mintJWT signs a token for subject with the demo's Ed25519 key, as the demo issuer would.
func (d *run) mintJWT(subject string, exp time.Time) (string, error) {
	path := filepath.Join(d.opts.Samples, "filters", "keys", jwtKeyFile)
	pemBytes, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return "", fmt.Errorf("%s: no PEM block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return "", fmt.Errorf("%s: not an Ed25519 key", path)
	}
	enc := base64.RawURLEncoding
	header, _ := json.Marshal(map[string]string{"alg": "EdDSA", "typ": "JWT", "kid": jwtKeyID})
	claims, _ := json.Marshal(map[string]any{
		"iss": jwtIssuer, "aud": jwtAudience, "sub": subject,
		"iat": time.Now().Unix(), "exp": exp.Unix(),
	})
	signing := enc.EncodeToString(header) + "." + enc.EncodeToString(claims)
	return signing + "." + enc.EncodeToString(ed25519.Sign(key, []byte(signing))), nil
}
