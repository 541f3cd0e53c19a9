//go:build e2e

package e2e

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/operator/api/v1alpha1"
)

// TestOperatorOutage: while the operator is down, proxies keep serving through the filters they have, and a
// proxy restarted meanwhile comes back from its --xds-state with the filter active, its module read from its
// module cache since the operator's module server is down too; when the operator returns on the same
// addresses, every proxy reconnects, gets the current state and acknowledges it again. Clients of the proxies
// that are not restarted see no failure throughout.
func TestOperatorOutage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	f := newFleet(t, ctx)
	good := f.push(artifact(t, "filters/auth.wasm"), "v1")
	f.install(good)
	load, targets := f.load(1, 2) // proxy-0 is restarted during the outage
	time.Sleep(300 * time.Millisecond)

	f.op.Stop(5 * time.Second)
	time.Sleep(time.Second) // the proxies notice: their streams break and they retry with backoff
	f.runEverywhere("every proxy keeps v1 with the operator down", good.ModuleDigest)
	if status, err := get(ctx, "http://"+f.op.ModulesAddr+"/modules/"+good.ModuleDigest, "", ""); err == nil {
		t.Fatalf("the operator's module server still answers (%d): the restart below would prove nothing", status)
	}

	restarted := f.proxies[0]
	if err := restarted.Restart(ctx); err != nil {
		t.Fatalf("%s restarted with the operator down: %v", restarted.Name, err)
	}
	if _, err := restarted.WaitForLine(ctx, "starting from the saved xDS state", time.Second); err != nil {
		t.Fatal(err)
	}
	f.runEverywhere("the restarted proxy runs v1 from its saved state", good.ModuleDigest)
	for _, c := range []struct {
		key  string
		want int
	}{{"", http.StatusUnauthorized}, {aliceKey, http.StatusOK}} {
		header := "X-Api-Key"
		if c.key == "" {
			header = ""
		}
		if got, err := get(ctx, f.urls[0], header, c.key); err != nil || got != c.want {
			t.Errorf("%s after its restart, api key %q: %d %v, want %d (the auth filter active)", restarted.Name, c.key, got, err, c.want)
		}
	}

	outage := time.Now()
	if err := f.op.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	// The status written before the outage would pass at once: the restarted operator's own counters show that
	// every proxy reconnected and acknowledged what it sent.
	metrics := "http://" + f.op.MetricsAddr + "/metrics"
	for _, m := range []string{"wasmesh_operator_xds_connected_proxies", "wasmesh_operator_xds_acked_total"} {
		if err := waitMetric(ctx, metrics, m, 3, 30*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	f.waitStatus("v1 ready on 3 proxies after the operator's restart", func(st v1alpha1.WasmDeploymentStatus) bool {
		return st.Ready == "3/3" && st.LastGoodDigest == good.Digest &&
			condition(st, v1alpha1.ConditionReady) == "True/"+v1alpha1.ReasonAllAcknowledged
	})
	t.Logf("operator back: 3 proxies reconnected and acknowledged within %s", time.Since(outage).Round(time.Millisecond))
	f.runEverywhere("every proxy runs v1 after the outage", good.ModuleDigest)

	counts := load.Stop()
	for i, c := range counts {
		t.Logf("%s: %d ok, %d failed %s", targets[i].Name, c.OK, c.Failed, c.FirstFailure)
		if c.OK == 0 || c.Failed != 0 {
			t.Errorf("%s through the operator's outage: %d ok, %d failed (first: %s)", targets[i].Name, c.OK, c.Failed, c.FirstFailure)
		}
	}
}
