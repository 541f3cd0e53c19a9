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
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Demo credentials, matching samples/filters/auth.json (DEMO ONLY; see samples/filters/keys/README.md).
const (
	aliceKey     = "alice-demo-key-0001"
	bobUser      = "bob"
	bobPassword  = "bob-demo-password"
	jwtIssuer    = "https://issuer.wasmesh.demo"
	jwtAudience  = "greeter"
	jwtKeyID     = "demo-ed25519"
	jwtKeyFile   = "DEMO-ONLY-jwt-private.pem"
	daveKey      = "dave-demo-key-0001"
	loadWorkers  = 8
	reloadRounds = 6
)

type answer struct {
	status   int
	consumer string
	header   http.Header
}

func (d *run) get(ctx context.Context, path string, set func(*http.Request)) (answer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+d.proxyAddr+path, nil)
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

// reloadUnderLoad keeps several clients busy on the load route while the proxy is reloaded, alternating good
// configurations (one adds a consumer) with ones whose module pin is wrong and must be refused; every request
// must succeed throughout.
func (d *run) reloadUnderLoad(ctx context.Context) error {
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	var ok, failed atomic.Int64
	var firstFailure atomic.Value
	var wg sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: loadWorkers}}
	for i := 0; i < loadWorkers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for loadCtx.Err() == nil {
				req, _ := http.NewRequestWithContext(loadCtx, http.MethodGet, "http://"+d.proxyAddr+"/load/ping", nil)
				req.Header.Set("x-api-key", aliceKey)
				resp, err := client.Do(req)
				if loadCtx.Err() != nil {
					return
				}
				if err != nil {
					failed.Add(1)
					firstFailure.CompareAndSwap(nil, err.Error())
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					ok.Add(1)
				} else {
					failed.Add(1)
					firstFailure.CompareAndSwap(nil, resp.Status)
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	accepted, refused := 0, 0
	var slowest time.Duration
	for round := 0; round < reloadRounds; round++ {
		broken := round%2 == 1
		if err := d.writeProxyConfig(map[string]string{"dave": daveKey}, broken); err != nil {
			return err
		}
		took, err := d.reload(ctx)
		slowest = max(slowest, took)
		switch {
		case broken && err != nil:
			refused++
		case !broken && err == nil:
			accepted++
		default:
			d.check(fmt.Sprintf("reload %d", round+1), map[bool]string{true: "refused", false: "accepted"}[broken], fmt.Sprint(err), false)
		}
		time.Sleep(200 * time.Millisecond)
	}
	stopLoad()
	wg.Wait()
	client.CloseIdleConnections()
	fmt.Fprintf(d.out, "      %d reloads (%d accepted, %d with a wrong module pin refused), slowest %s, under %d clients\n",
		reloadRounds, accepted, refused, slowest.Round(time.Millisecond), loadWorkers)
	d.check("reloads accepted / refused", fmt.Sprintf("%d / %d", reloadRounds-reloadRounds/2, reloadRounds/2),
		fmt.Sprintf("%d / %d", accepted, refused), accepted == reloadRounds-reloadRounds/2 && refused == reloadRounds/2)
	got := fmt.Sprintf("%d of %d", failed.Load(), failed.Load()+ok.Load())
	if f := firstFailure.Load(); f != nil {
		got += fmt.Sprintf(" (first: %v)", f)
	}
	d.check("failed requests during reloads", "0", got, failed.Load() == 0 && ok.Load() > 0)
	a, err := d.get(ctx, "/hello", apiKey(daveKey))
	if err != nil {
		return err
	}
	d.check("dave, added by a reload", "200 as dave", describe(a), describe(a) == "200 as dave")
	return nil
}

// reload asks the proxy's admin server to reload its configuration; the error carries the proxy's reason.
func (d *run) reload(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+d.adminAddr+"/reload", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	took := time.Since(start)
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return took, fmt.Errorf("%s", e.Error)
		}
		return took, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return took, nil
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
