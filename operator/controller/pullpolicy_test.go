package controller_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wasmesh/wasmesh/oci/registrytest"
	"github.com/wasmesh/wasmesh/operator"
	"github.com/wasmesh/wasmesh/operator/store"
	"github.com/wasmesh/wasmesh/xdsapi"
)

// TestImagePullPolicy: two deployments of one tag. When the tag moves, Always finds out on its own (resolve
// interval) and rolls the new digest out with one more download; IfNotPresent keeps its digest through a spec
// change that keeps the URL, and resolves again when the URL changes.
func TestImagePullPolicy(t *testing.T) {
	reg := startRegistry(t)
	tag := reg + "/filters/pp:latest"
	v1, v2 := registrytest.Module([]byte("pp-v1")), registrytest.Module([]byte("pp-v2"))
	m1 := push(t, tag, v1, nil)
	dir := t.TempDir()
	op := runOperator(t, operator.Options{Dir: dir, DirInterval: 50 * time.Millisecond, ResolveInterval: 200 * time.Millisecond})
	p := connect(t, xdsAddr(t, op), xdsapi.Node{ID: "web-1", Namespace: "shop", Labels: map[string]string{"app": "web"}}, nil)
	writeYAML(t, dir, "always.yaml", deploymentYAML("always", "shop", "oci://"+tag, "  imagePullPolicy: Always\n"))
	ifnp := func(config string) string {
		return strings.Replace(deploymentYAML("ifnp", "shop", "oci://"+tag, "  imagePullPolicy: IfNotPresent\n"), `"hello"`, config, 1)
	}
	writeYAML(t, dir, "ifnp.yaml", ifnp(`"hello"`))
	for _, name := range []string{"always", "ifnp"} {
		waitStatus(t, dir, "shop", name, 20*time.Second, func(sf store.StatusFile) bool {
			return sf.Status.ResolvedDigest == m1.String() && sf.Status.ResolvedURL == "oci://"+tag
		})
	}
	if got := op.Puller.Stats().Fetches; got != 1 {
		t.Fatalf("%d downloads of one digest for two deployments, want 1", got)
	}

	m2 := push(t, tag, v2, nil) // the tag moves
	sf := waitStatus(t, dir, "shop", "always", 20*time.Second, func(sf store.StatusFile) bool { return sf.Status.ResolvedDigest == m2.String() })
	waitFor(t, 10*time.Second, "the proxy runs v2 of always", func() bool { return p.digest("shop/always") == digest.FromBytes(v2).String() })
	if sf.Status.LastGoodDigest != m2.String() && sf.Status.LastGoodDigest != m1.String() {
		t.Errorf("lastGoodDigest %s", sf.Status.LastGoodDigest)
	}

	// A spec change that keeps the URL: IfNotPresent keeps v1.
	writeYAML(t, dir, "ifnp.yaml", ifnp(`"bonjour"`))
	sf = waitStatus(t, dir, "shop", "ifnp", 20*time.Second, func(sf store.StatusFile) bool { return sf.Status.ObservedGeneration == 2 })
	if sf.Status.ResolvedDigest != m1.String() || p.digest("shop/ifnp") != digest.FromBytes(v1).String() {
		t.Errorf("IfNotPresent after a config change: resolved %s, proxy runs %s; want v1 (%s)", sf.Status.ResolvedDigest, p.digest("shop/ifnp"), m1)
	}
	time.Sleep(time.Second) // five resolve intervals: Always resolves again and again, and downloads nothing
	if got := op.Puller.Stats().Fetches; got != 2 {
		t.Errorf("%d downloads after the tag moved once, want 2 (v1 once, v2 once)", got)
	}

	// A new URL (the same repository by digest): IfNotPresent resolves it.
	byDigest := fmt.Sprintf("oci://%s/filters/pp@%s", reg, m2)
	writeYAML(t, dir, "ifnp.yaml", strings.Replace(ifnp(`"bonjour"`), "oci://"+tag, byDigest, 1))
	waitStatus(t, dir, "shop", "ifnp", 20*time.Second, func(sf store.StatusFile) bool {
		return sf.Status.ResolvedDigest == m2.String() && sf.Status.ResolvedURL == byDigest
	})
	if got := op.Puller.Stats().Fetches; got != 2 {
		t.Errorf("%d downloads, want still 2: v2 is in the cache", got)
	}
}
