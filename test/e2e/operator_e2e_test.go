//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/wasmesh/wasmesh/demo/stack"
	"github.com/wasmesh/wasmesh/operator/api/v1alpha1"
	"github.com/wasmesh/wasmesh/operator/store"
)

const (
	aliceKey   = "alice-e2e-key-0001"
	authFilter = "xds/default/auth" // the name the proxy gives the operator's filter
	nackLine   = "rejected filters from the operator (NACK)"
)

// authDeployment is the WasmDeployment of the auth filter at ref, with the given rollout.
func authDeployment(ref, rollout string) []byte {
	return fmt.Appendf(nil, `apiVersion: wasmesh.io/v1alpha1
kind: WasmDeployment
metadata: {name: auth, namespace: default}
spec:
  url: oci://%s
  pluginName: auth
  phase: AUTHN
  failStrategy: FAIL_CLOSE
  selector: {matchLabels: {app: greeter}}
  pluginConfig:
    consumers: [{name: alice, keys: [%s]}]
    default: {consumers: ['*']}
  rollout: %s
`, ref, aliceKey, rollout)
}

// condition renders a condition as "True/Reason" ("" when absent) for assertions and messages.
func condition(st v1alpha1.WasmDeploymentStatus, typ string) string {
	c := meta.FindStatusCondition(st.Conditions, typ)
	if c == nil {
		return ""
	}
	return string(c.Status) + "/" + c.Reason
}

func describeStatus(f store.StatusFile) string {
	st := f.Status
	return fmt.Sprintf("gen %d observed %d resolved %s lastGood %s ready %s Ready=%s Progressing=%s Degraded=%s targets %+v",
		f.Metadata.Generation, st.ObservedGeneration, st.ResolvedDigest, st.LastGoodDigest, st.Ready,
		condition(st, v1alpha1.ConditionReady), condition(st, v1alpha1.ConditionProgressing), condition(st, v1alpha1.ConditionDegraded), st.Targets)
}

// fleet is the operator, the registry and three proxies selected by app=greeter, in front of one echo upstream.
type fleet struct {
	t       *testing.T
	ctx     context.Context
	s       *stack.Stack
	reg     string
	op      *stack.Operator
	proxies []*stack.Proxy
	urls    []string // each proxy's HTTP listener, /hello
}

func newFleet(t *testing.T, ctx context.Context, operatorFlags ...string) *fleet {
	started := time.Now()
	f := &fleet{t: t, ctx: ctx, s: newStack(t)}
	var err error
	if f.reg, err = f.s.Registry(ctx); err != nil {
		t.Fatal(err)
	}
	upstream := echo(t)
	if f.op, err = f.s.Operator(ctx, f.reg, operatorFlags...); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		admin, err1 := stack.FreeAddr()
		listen, err2 := stack.FreeAddr()
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		cfg, err := stack.ProxyConfig{Admin: admin, HTTP: listen, Echo: upstream}.YAML()
		if err != nil {
			t.Fatal(err)
		}
		p, err := f.s.Proxy(ctx, stack.ProxyOptions{Name: fmt.Sprintf("proxy-%d", i), Admin: admin,
			Config: cfg, XDS: f.op.XDSAddr, Labels: "app=greeter"})
		if err != nil {
			t.Fatal(err)
		}
		f.proxies = append(f.proxies, p)
		f.urls = append(f.urls, "http://"+listen+"/hello")
	}
	t.Logf("registry, operator and 3 proxies up in %s", time.Since(started).Round(time.Millisecond))
	return f
}

// push pushes a module file to the fleet's registry as e2e/auth:TAG.
func (f *fleet) push(module, tag string) stack.Pushed {
	f.t.Helper()
	p, err := f.s.Push(f.ctx, module, f.reg+"/e2e/auth:"+tag)
	if err != nil {
		f.t.Fatal(err)
	}
	return p
}

// broken builds testdata/broken in the given mode (refuse or trap).
func (f *fleet) broken(mode string) string {
	f.t.Helper()
	out := filepath.Join(f.s.Dir(), "broken-"+mode+".wasm")
	if _, err := f.s.CLI(f.ctx, "build", "testdata/broken", "--ldflags", "-X main.mode="+mode, "-o", out); err != nil {
		f.t.Fatal(err)
	}
	return out
}

// waitStatus waits until the auth deployment's status satisfies ok and returns it. The waits here allow a
// minute: the first compile of a module on a loaded 2-core machine can take tens of seconds.
func (f *fleet) waitStatus(what string, ok func(v1alpha1.WasmDeploymentStatus) bool) store.StatusFile {
	f.t.Helper()
	var last store.StatusFile
	err := stack.Eventually(f.ctx, what, 60*time.Second, func() (bool, string, error) {
		sf, err := f.op.Status("default", "auth")
		if err != nil {
			return false, err.Error(), nil
		}
		last = sf
		return ok(sf.Status), describeStatus(sf), nil
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return last
}

// runEverywhere waits until every proxy runs the auth filter with module digest ("" = no auth filter).
func (f *fleet) runEverywhere(what, digest string) {
	f.t.Helper()
	err := stack.Eventually(f.ctx, what, 60*time.Second, func() (bool, string, error) {
		var runs []string
		all := true
		for _, p := range f.proxies {
			d, err := p.Runs(f.ctx, authFilter)
			if err != nil {
				return false, "", err
			}
			runs = append(runs, p.Name+"="+d)
			all = all && d == digest
		}
		return all, strings.Join(runs, " "), nil
	})
	if err != nil {
		f.t.Fatal(err)
	}
}

// install deploys good at AllAtOnce and waits until every proxy acknowledged it.
func (f *fleet) install(good stack.Pushed) {
	f.t.Helper()
	if err := f.op.Apply("auth.yaml", authDeployment(f.reg+"/e2e/auth:v1", "{strategy: AllAtOnce}")); err != nil {
		f.t.Fatal(err)
	}
	applied := time.Now()
	f.waitStatus("v1 ready on 3 proxies", func(st v1alpha1.WasmDeploymentStatus) bool {
		return st.Ready == "3/3" && condition(st, v1alpha1.ConditionReady) == "True/"+v1alpha1.ReasonAllAcknowledged &&
			st.ResolvedDigest == good.Digest && st.LastGoodDigest == good.Digest
	})
	f.runEverywhere("every proxy runs v1", good.ModuleDigest)
	f.t.Logf("v1 acknowledged by 3 proxies %s after the file was written", time.Since(applied).Round(time.Millisecond))
}

// load keeps two clients with alice's key busy on each proxy, or on the proxies of the given indexes.
func (f *fleet) load(only ...int) (*stack.Load, []stack.Target) {
	var targets []stack.Target
	for i, u := range f.urls {
		if len(only) == 0 || slices.Contains(only, i) {
			targets = append(targets, stack.Target{Name: f.proxies[i].Name, URL: u, Header: http.Header{"X-Api-Key": {aliceKey}}, Want: http.StatusOK})
		}
	}
	l := stack.StartLoad(f.ctx, targets, 2)
	f.t.Cleanup(func() { l.Stop() })
	return l, targets
}

// TestOperatorRollout: three real proxies connected over xDS to `wasmesh operator --dir` pick up a
// WasmDeployment and serve through it; a canary rollout to a module every proxy refuses stops at its first
// step and rolls back on its own, with no failed request outside the canary under continuous load; deleting
// the resource removes the filter from every proxy.
func TestOperatorRollout(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	started := time.Now()
	f := newFleet(t, ctx)
	good := f.push(artifact(t, "filters/auth.wasm"), "v1")
	bad := f.push(f.broken("refuse"), "v2")

	// 1. First install: every selected proxy runs it and acknowledges, and serves through it.
	f.install(good)
	for i, u := range f.urls {
		for _, c := range []struct {
			key  string
			want int
		}{{"", http.StatusUnauthorized}, {"wrong-key-000000", http.StatusUnauthorized}, {aliceKey, http.StatusOK}} {
			k := ""
			if c.key != "" {
				k = "x-api-key"
			}
			got, err := get(ctx, u, k, c.key)
			if err != nil || got != c.want {
				t.Errorf("%s with key %q: %d, %v; want %d", f.proxies[i].Name, c.key, got, err, c.want)
			}
		}
	}

	// 2. A canary of a broken release under continuous load.
	load, targets := f.load()
	time.Sleep(300 * time.Millisecond)
	canary := `{strategy: Canary, steps: [{percent: 30, pause: {untilApproved: true}}, {percent: 100}], abort: {maxNACKs: 0}}`
	if err := f.op.Apply("auth.yaml", authDeployment(f.reg+"/e2e/auth:v2", canary)); err != nil {
		t.Fatal(err)
	}
	final := f.waitStatus("v2 rolled back", func(st v1alpha1.WasmDeploymentStatus) bool {
		return st.ResolvedDigest == bad.Digest && st.LastGoodDigest == good.Digest &&
			condition(st, v1alpha1.ConditionDegraded) == "True/"+v1alpha1.ReasonRolledBack &&
			condition(st, v1alpha1.ConditionProgressing) == "False/"+v1alpha1.ReasonRolledBack
	})
	t.Logf("rolled back: %s", describeStatus(final))
	if r := final.Status.Rollout; r != nil && r.Step != 0 {
		t.Errorf("rollout went past its first step: %+v", r)
	}
	var failures []v1alpha1.ProxyFailure
	for _, tg := range final.Status.Targets {
		failures = append(failures, tg.Failures...)
	}
	if len(failures) != 1 || !strings.Contains(failures[0].Message, "refuses every configuration") {
		t.Errorf("status failures = %+v, want the canary's refusal", failures)
	}
	// Only the canary was sent v2: one proxy NACKed, the others never saw it.
	nacked := map[string]bool{}
	for _, p := range f.proxies {
		b, err := os.ReadFile(p.Log)
		if err != nil {
			t.Fatal(err)
		}
		nacked[p.Name] = strings.Contains(string(b), nackLine)
	}
	if n := countTrue(nacked); n != 1 {
		t.Errorf("proxies that were sent the broken module and refused it: %v, want exactly one (the canary)", nacked)
	}
	time.Sleep(time.Second) // the rollback reaches the proxies while the load goes on
	f.runEverywhere("every proxy runs v1 after the rollback", good.ModuleDigest)
	counts := load.Stop()
	for i, c := range counts {
		name := targets[i].Name
		t.Logf("%s (canary %v): %d ok, %d failed %s", name, nacked[name], c.OK, c.Failed, c.FirstFailure)
		if c.OK == 0 {
			t.Errorf("%s served nothing under load", name)
		}
		if !nacked[name] && c.Failed != 0 {
			t.Errorf("%s, not a canary, failed %d requests (first: %s)", name, c.Failed, c.FirstFailure)
		}
	}

	// 3. Deleting the resource removes the filter from every proxy.
	if err := f.op.Delete("auth.yaml"); err != nil {
		t.Fatal(err)
	}
	f.runEverywhere("the filter is gone from every proxy", "")
	for i, u := range f.urls {
		if got, err := get(ctx, u, "", ""); err != nil || got != http.StatusOK {
			t.Errorf("%s without a key after the delete: %d, %v; want 200 (no filter)", f.proxies[i].Name, got, err)
		}
	}
	t.Logf("whole test %s", time.Since(started).Round(time.Millisecond))
}

// TestOperatorErrorRateRollback: a release that every proxy accepts but that traps on every request goes to
// one canary proxy under load; the proxies' load reports show its error rate above abort.maxErrorRatePercent
// and the operator rolls it back on its own; only the canary's clients saw failures, and they stop.
func TestOperatorErrorRateRollback(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	f := newFleet(t, ctx, "--load-report-interval", "500ms")
	good := f.push(artifact(t, "filters/auth.wasm"), "v1")
	trap := f.broken("trap")
	bad := f.push(trap, "v2")
	f.install(good)

	load, targets := f.load()
	time.Sleep(300 * time.Millisecond)
	canary := `{strategy: Canary, steps: [{percent: 30, pause: {untilApproved: true}}, {percent: 100}], abort: {maxErrorRatePercent: 5, window: 30s}}`
	if err := f.op.Apply("auth.yaml", authDeployment(f.reg+"/e2e/auth:v2", canary)); err != nil {
		t.Fatal(err)
	}
	applied := time.Now()
	final := f.waitStatus("v2 rolled back for its error rate", func(st v1alpha1.WasmDeploymentStatus) bool {
		return st.ResolvedDigest == bad.Digest && st.LastGoodDigest == good.Digest &&
			condition(st, v1alpha1.ConditionProgressing) == "False/"+v1alpha1.ReasonErrorRateExceeded
	})
	t.Logf("rolled back %s after the canary was applied: %s", time.Since(applied).Round(time.Millisecond), describeStatus(final))
	f.runEverywhere("every proxy runs v1 after the rollback", good.ModuleDigest)
	before := load.Counts()
	time.Sleep(time.Second) // v1 everywhere: no failure may follow
	counts := load.Stop()
	canaries := 0
	for i, c := range counts {
		t.Logf("%s: %d ok, %d failed %s", targets[i].Name, c.OK, c.Failed, c.FirstFailure)
		if c.OK == 0 {
			t.Errorf("%s served nothing under load", targets[i].Name)
		}
		if c.Failed > 0 {
			canaries++
		}
		if c.Failed != before[i].Failed {
			t.Errorf("%s failed %d more requests after every proxy was back on v1", targets[i].Name, c.Failed-before[i].Failed)
		}
	}
	if canaries != 1 {
		t.Errorf("%d proxies failed requests, want exactly one (the canary)", canaries)
	}
}

func countTrue(m map[string]bool) int {
	n := 0
	for _, v := range m {
		if v {
			n++
		}
	}
	return n
}
