package controller_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wasmesh/wasmesh/oci/registrytest"
	"github.com/wasmesh/wasmesh/operator/api/v1alpha1"
	"github.com/wasmesh/wasmesh/operator/store"
	"github.com/wasmesh/wasmesh/xdsapi"
)

// TestDirDeploy: a WasmDeployment file in a directory reaches the selected proxies over xDS, the module is
// served by digest, and the status says so.
func TestDirDeploy(t *testing.T) {
	reg := startRegistry(t)
	wasm := registrytest.Module([]byte("deploy-v1"))
	manifest := push(t, reg+"/filters/hello:v1", wasm, nil)
	moduleDigest := digest.FromBytes(wasm)

	dir := t.TempDir()
	op := startOperator(t, dir)
	addr := xdsAddr(t, op)
	web1 := connect(t, addr, xdsapi.Node{ID: "web-1", Namespace: "shop", Pod: "web-1", Labels: map[string]string{"app": "web"}}, nil)
	web2 := connect(t, addr, xdsapi.Node{ID: "web-2", Namespace: "shop", Pod: "web-2", Labels: map[string]string{"app": "web", "v": "2"}}, nil)
	other := connect(t, addr, xdsapi.Node{ID: "db-1", Namespace: "shop", Labels: map[string]string{"app": "db"}}, nil)
	elsewhere := connect(t, addr, xdsapi.Node{ID: "web-x", Namespace: "other", Labels: map[string]string{"app": "web"}}, nil)

	writeYAML(t, dir, "hello.yaml", deploymentYAML("hello", "shop", "oci://"+reg+"/filters/hello:v1", "  failStrategy: FAIL_OPEN\n"))
	sf := waitStatus(t, dir, "shop", "hello", 20*time.Second, func(sf store.StatusFile) bool {
		return condIs(sf, v1alpha1.ConditionReady, "True", v1alpha1.ReasonAllAcknowledged)
	})
	for _, c := range []string{v1alpha1.ConditionResolved, v1alpha1.ConditionPulled} {
		if !condIs(sf, c, "True", "") {
			t.Errorf("condition %s not True: %+v", c, sf.Status.Conditions)
		}
	}
	if !condIs(sf, v1alpha1.ConditionDegraded, "False", v1alpha1.ReasonHealthy) || !condIs(sf, v1alpha1.ConditionProgressing, "False", v1alpha1.ReasonRolloutComplete) {
		t.Errorf("conditions: %+v", sf.Status.Conditions)
	}
	if sf.Status.ResolvedDigest != manifest.String() || sf.Status.LastGoodDigest != manifest.String() {
		t.Errorf("resolvedDigest %q lastGoodDigest %q, want %s", sf.Status.ResolvedDigest, sf.Status.LastGoodDigest, manifest)
	}
	if sf.Metadata.Generation != 1 || sf.Status.ObservedGeneration != 1 {
		t.Errorf("generation %d observed %d, want 1 and 1", sf.Metadata.Generation, sf.Status.ObservedGeneration)
	}
	want := v1alpha1.TargetStatus{Target: v1alpha1.TargetWasmesh, Selected: 2, Updated: 2, Acknowledged: 2}
	if len(sf.Status.Targets) != 1 || fmt.Sprint(sf.Status.Targets[0]) != fmt.Sprint(want) || sf.Status.Ready != "2/2" {
		t.Errorf("targets %+v ready %q, want %+v and 2/2", sf.Status.Targets, sf.Status.Ready, want)
	}
	if !hasEvent(sf, store.EventNormal, v1alpha1.ReasonPulled) {
		t.Errorf("no Pulled event: %+v", sf.Events)
	}
	for _, p := range []*proxy{web1, web2} {
		if got := p.digest("shop/hello"); got != moduleDigest.String() {
			t.Errorf("%s runs %q, want %s", p.node.ID, got, moduleDigest)
		}
	}
	for _, p := range []*proxy{other, elsewhere} {
		if got := p.digest("shop/hello"); got != "" {
			t.Errorf("%s was not selected but runs %q", p.node.ID, got)
		}
	}

	// The URL the proxy got serves exactly the module.
	resp, err := http.Get(web1.url("shop/hello"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || digest.FromBytes(body) != moduleDigest || !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") {
		t.Errorf("GET %s: %d, %d bytes, Cache-Control %q", web1.url("shop/hello"), resp.StatusCode, len(body), resp.Header.Get("Cache-Control"))
	}
	if got := op.Puller.Stats().Fetches; got != 1 {
		t.Errorf("registry fetches %d, want 1", got)
	}
	for metric, want := range map[string]float64{"wasmesh_operator_registry_fetches_total": 1, "wasmesh_operator_cache_entries": 1, "wasmesh_operator_xds_connected_proxies": 4} {
		if got := gauge(t, op, metric); got != want {
			t.Errorf("%s = %v, want %v", metric, got, want)
		}
	}
	if gauge(t, op, "wasmesh_operator_xds_acked_total") < 2 {
		t.Error("wasmesh_operator_xds_acked_total should count the two selected proxies' ACKs at least")
	}

	// Deleting the file withdraws the filter from the proxies.
	if err := removeFile(dir, "hello.yaml"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the filter to be withdrawn", func() bool { return web1.digest("shop/hello") == "" && web2.digest("shop/hello") == "" })
}

// TestDirPullErrors: resolve and pull failures show in conditions and as warning events, FAIL_OPEN included, and
// an imagePullSecret is read from the deployment's own namespace only.
func TestDirPullErrors(t *testing.T) {
	reg := startRegistry(t)
	push(t, reg+"/filters/hello:v1", registrytest.Module([]byte("errors")), nil)
	dir := t.TempDir()
	startOperator(t, dir)

	secret := func(ns, name string) string {
		return fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata: {name: %s, namespace: %s}\ntype: kubernetes.io/dockerconfigjson\nstringData:\n  .dockerconfigjson: '{\"auths\":{}}'\n", name, ns)
	}
	writeYAML(t, dir, "secrets.yaml", secret("team-b", "regcred")+"---\n"+strings.Replace(secret("team-a", "opaque"), "kubernetes.io/dockerconfigjson\n", "Opaque\n", 1))
	cases := []struct {
		name, ns, url, extra, cond, reason string
	}{
		{"badtag", "team-a", "oci://" + reg + "/filters/hello:nope", "  failStrategy: FAIL_OPEN\n", v1alpha1.ConditionResolved, v1alpha1.ReasonResolveFailed},
		{"badrepo", "team-a", "oci://" + reg + "/filters/missing:v1", "", v1alpha1.ConditionResolved, v1alpha1.ReasonResolveFailed},
		{"nosecret", "team-a", "oci://" + reg + "/filters/hello:v1", "  imagePullSecret: regcred\n", v1alpha1.ConditionResolved, v1alpha1.ReasonPullSecretMissing},
		{"opaque", "team-a", "oci://" + reg + "/filters/hello:v1", "  imagePullSecret: opaque\n", v1alpha1.ConditionResolved, v1alpha1.ReasonPullSecretMissing},
		{"pinned", "team-a", "oci://" + reg + "/filters/hello:v1", "  sha256: " + strings.Repeat("ab", 32) + "\n", v1alpha1.ConditionResolved, v1alpha1.ReasonDigestMismatch},
		{"samens", "team-b", "oci://" + reg + "/filters/hello:v1", "  imagePullSecret: regcred\n", v1alpha1.ConditionPulled, v1alpha1.ReasonPulled},
	}
	for _, c := range cases {
		writeYAML(t, dir, c.name+".yaml", deploymentYAML(c.name, c.ns, c.url, c.extra))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ok := c.reason == v1alpha1.ReasonPulled
			status := map[bool]string{true: "True", false: "False"}[ok]
			sf := waitStatus(t, dir, c.ns, c.name, 20*time.Second, func(sf store.StatusFile) bool { return condIs(sf, c.cond, status, c.reason) })
			if !ok {
				if !hasEvent(sf, store.EventWarning, c.reason) {
					t.Errorf("no %s warning event: %+v", c.reason, sf.Events)
				}
				if !condIs(sf, v1alpha1.ConditionReady, "False", "") {
					t.Errorf("Ready should be False: %+v", sf.Status.Conditions)
				}
			}
		})
	}
}

// TestDirRegistryAuth: a registry requiring credentials refuses the operator without imagePullSecret or with a
// wrong one, and serves it with the right one.
func TestDirRegistryAuth(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Config{Auth: true})
	basic := func(user, pass string) func(ctx contextT, host string) (authCred, error) {
		return func(ctx contextT, host string) (authCred, error) {
			return authCred{Username: user, Password: pass}, nil
		}
	}
	push(t, reg.Host+"/filters/private:v1", registrytest.Module([]byte("private")), basic(reg.User, reg.Password))
	dir := t.TempDir()
	startOperator(t, dir)
	cfg := func(user, pass string) string {
		return fmt.Sprintf(`{"auths":{%q:{"username":%q,"password":%q}}}`, reg.Host, user, pass)
	}
	writeYAML(t, dir, "secrets.yaml", fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata: {name: good, namespace: shop}\ntype: kubernetes.io/dockerconfigjson\nstringData:\n  .dockerconfigjson: '%s'\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: bad, namespace: shop}\ntype: kubernetes.io/dockerconfigjson\nstringData:\n  .dockerconfigjson: '%s'\n", cfg(reg.User, reg.Password), cfg(reg.User, "wrong")))
	url := "oci://" + reg.Host + "/filters/private:v1"
	writeYAML(t, dir, "anon.yaml", deploymentYAML("anon", "shop", url, "  failStrategy: FAIL_OPEN\n"))
	writeYAML(t, dir, "bad.yaml", deploymentYAML("bad", "shop", url, "  imagePullSecret: bad\n"))
	writeYAML(t, dir, "good.yaml", deploymentYAML("good", "shop", url, "  imagePullSecret: good\n"))
	for _, name := range []string{"anon", "bad"} {
		sf := waitStatus(t, dir, "shop", name, 20*time.Second, func(sf store.StatusFile) bool {
			return condIs(sf, v1alpha1.ConditionResolved, "False", v1alpha1.ReasonResolveFailed)
		})
		if !hasEvent(sf, store.EventWarning, v1alpha1.ReasonResolveFailed) {
			t.Errorf("%s: no warning event: %+v", name, sf.Events)
		}
		if c := sf.Status.Conditions; !strings.Contains(fmt.Sprint(c), "credentials") {
			t.Errorf("%s: the message should say the registry refused the credentials: %+v", name, c)
		}
	}
	waitStatus(t, dir, "shop", "good", 20*time.Second, func(sf store.StatusFile) bool {
		return condIs(sf, v1alpha1.ConditionPulled, "True", v1alpha1.ReasonPulled)
	})
}

// TestDirHTTPModule: a plain .wasm over http is fetched by the operator, pinned by spec.sha256 (the bytes'
// checksum) and served by digest like an OCI module.
func TestDirHTTPModule(t *testing.T) {
	wasm := registrytest.Module([]byte("over-http"))
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/auth.wasm":
			_, _ = w.Write(wasm)
		case "/text":
			_, _ = w.Write([]byte("not wasm"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer web.Close()
	d := digest.FromBytes(wasm)
	dir := t.TempDir()
	op := startOperator(t, dir)
	p := connect(t, xdsAddr(t, op), xdsapi.Node{ID: "web-1", Namespace: "shop", Labels: map[string]string{"app": "web"}}, nil)
	writeYAML(t, dir, "ok.yaml", deploymentYAML("ok", "shop", web.URL+"/auth.wasm", "  sha256: "+d.Encoded()+"\n"))
	writeYAML(t, dir, "pin.yaml", deploymentYAML("pin", "shop", web.URL+"/auth.wasm", "  sha256: \""+strings.Repeat("0", 64)+"\"\n"))
	writeYAML(t, dir, "text.yaml", deploymentYAML("text", "shop", web.URL+"/text", ""))
	writeYAML(t, dir, "gone.yaml", deploymentYAML("gone", "shop", web.URL+"/gone.wasm", ""))
	sf := waitStatus(t, dir, "shop", "ok", 20*time.Second, func(sf store.StatusFile) bool {
		return condIs(sf, v1alpha1.ConditionReady, "True", v1alpha1.ReasonAllAcknowledged)
	})
	if sf.Status.ResolvedDigest != d.String() || p.digest("shop/ok") != d.String() {
		t.Errorf("resolved %s, proxy runs %s, want %s", sf.Status.ResolvedDigest, p.digest("shop/ok"), d)
	}
	waitStatus(t, dir, "shop", "pin", 20*time.Second, func(sf store.StatusFile) bool {
		return condIs(sf, v1alpha1.ConditionResolved, "False", v1alpha1.ReasonDigestMismatch)
	})
	for _, name := range []string{"text", "gone"} {
		waitStatus(t, dir, "shop", name, 20*time.Second, func(sf store.StatusFile) bool {
			return condIs(sf, v1alpha1.ConditionResolved, "False", v1alpha1.ReasonResolveFailed) && hasEvent(sf, store.EventWarning, v1alpha1.ReasonResolveFailed)
		})
	}
	resp, err := http.Get(p.url("shop/ok"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if digest.FromBytes(body) != d {
		t.Errorf("module server returned %d bytes of something else", len(body))
	}
}
