package demo

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/wasmesh/wasmesh/demo/stack"
	"github.com/wasmesh/wasmesh/host/inspect"
	"github.com/wasmesh/wasmesh/operator/api/v1alpha1"
)

// authFilter is the name a proxy gives the operator's auth filter (xds/<namespace>/<name>).
const authFilter = "xds/default/auth"

// canaryPause is how long the first canary step holds before the rollout goes on to every proxy.
const canaryPause = 2 * time.Second

// canary builds the auth filter's next version, pushes it, and rolls it out as a canary (one proxy, a pause,
// then all) while clients keep both proxies busy; every request must succeed throughout.
func (d *run) canary(ctx context.Context) error {
	v2 := filepath.Join(d.opts.WorkDir, "auth-v2.wasm")
	src := filepath.Join(d.opts.FilterSources, "auth")
	if _, err := d.stack.CLI(ctx, "build", src, "--strip", "-o", v2); err != nil {
		return fmt.Errorf("%w (the demo builds auth's next version from %s: run it from the repository root)", err, src)
	}
	m, err := inspect.File(v2)
	if err != nil {
		return err
	}
	ref := d.registryAddr + "/wasmesh/auth:v2"
	pushed, err := d.stack.Push(ctx, v2, ref)
	if err != nil {
		return err
	}
	fmt.Fprintf(d.out, "      auth v2 = filters/auth rebuilt with --strip (same behaviour, new module sha256:%s…, %.1f MiB), pushed as %s\n",
		m.SHA256[:12], float64(m.Size)/(1<<20), ref)

	var targets []stack.Target
	for _, p := range d.proxies {
		targets = append(targets, stack.Target{Name: p.Name, URL: "http://" + p.http + "/" + loadRoute + "/ping",
			Header: http.Header{"X-Api-Key": {aliceKey}}, Want: http.StatusOK})
	}
	load := stack.StartLoad(ctx, targets, loadWorkers)
	defer load.Stop()
	time.Sleep(300 * time.Millisecond)

	wd := d.deployments["auth"].DeepCopy()
	wd.Spec.URL = "oci://" + ref
	zero := int32(0)
	wd.Spec.Rollout = &v1alpha1.Rollout{Strategy: v1alpha1.RolloutCanary,
		Steps: []v1alpha1.CanaryStep{{Percent: 50, Pause: &v1alpha1.Pause{Duration: &metav1.Duration{Duration: canaryPause}}}, {Percent: 100}},
		Abort: &v1alpha1.AbortRule{MaxNACKs: &zero}}
	if err := d.apply(wd); err != nil {
		return err
	}
	d.deployments["auth"] = wd
	fmt.Fprintf(d.out, "      %s: url %s, rollout Canary 50%% (pause %s) then 100%%, abort on the first NACK; %d clients per proxy on /%s/\n",
		deploymentFile(wd), wd.Spec.URL, canaryPause, loadWorkers, loadRoute)

	start := time.Now()
	want := "sha256:" + m.SHA256
	shown, onV2 := "", 0
	err = stack.Eventually(ctx, "auth v2 on every proxy", 90*time.Second, func() (bool, string, error) {
		f, err := d.operator.Status("default", "auth")
		if err != nil {
			return false, err.Error(), nil
		}
		st := f.Status
		var runs []string
		onV2 = 0
		for _, p := range d.proxies {
			dg, err := p.Runs(ctx, authFilter)
			if err != nil {
				return false, "", err
			}
			version := "v1"
			if dg == want {
				version = "v2"
				onV2++
			}
			runs = append(runs, p.Name+" "+version)
		}
		if st.ResolvedDigest != pushed.Digest {
			return false, "the operator has not resolved auth:v2 yet", nil
		}
		step := "rollout complete"
		if r := st.Rollout; r != nil && int(r.Step) < len(wd.Spec.Rollout.Steps) {
			step = fmt.Sprintf("step %d of %d (%d%%)", r.Step+1, len(wd.Spec.Rollout.Steps), r.Percent)
		}
		line := fmt.Sprintf("%-18s %s; status %s", step, strings.Join(runs, ", "), readyState(st))
		if line != shown {
			fmt.Fprintf(d.out, "      %6s  %s\n", time.Since(start).Round(100*time.Millisecond), line)
			shown = line
		}
		done := st.LastGoodDigest == pushed.Digest && onV2 == len(d.proxies)
		return done, line, nil
	})
	counts := load.Stop()
	var ok, failed int64
	first := ""
	for _, c := range counts {
		ok += c.OK
		failed += c.Failed
		if first == "" {
			first = c.FirstFailure
		}
	}
	d.check("auth v2 rolled out (canary, then all)", fmt.Sprintf("%d of %d proxies", len(d.proxies), len(d.proxies)),
		fmt.Sprintf("%d of %d proxies", onV2, len(d.proxies)), err == nil)
	got := fmt.Sprintf("%d of %d", failed, ok+failed)
	if first != "" {
		got += " (first: " + first + ")"
	}
	d.check("failed requests during the canary", "0", got, failed == 0 && ok > 0)
	return err
}
