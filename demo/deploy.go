package demo

import (
	"context"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/yaml"

	"github.com/wasmesh/wasmesh/demo/stack"
	"github.com/wasmesh/wasmesh/operator/api/v1alpha1"
	"github.com/wasmesh/wasmesh/operator/store"
)

// deployedSamples are the samples/wasmdeployments the story applies: one per filter. dubbo-routing reaches the
// proxies' Dubbo listeners because its match names their port.
var deployedSamples = []string{"auth", "ratelimit", "dubbo-routing"}

// sampleDubboPort is the Dubbo listener's port in the samples (samples/proxy/dubbo.yaml, the match of
// samples/wasmdeployments/dubbo-routing.yaml).
const sampleDubboPort = 20880

// demoLabels are the demo's proxies' labels, which every sample's selector is made to match.
var demoLabels = map[string]string{"app": "greeter"}

// loadRoute is the proxies' route the load steps use; rate limiting is switched off there by a route override,
// so the load measures the rollout, not the limiter.
const loadRoute = "load"

// readSample parses samples/wasmdeployments/NAME.yaml with the operator's own (strict) directory loader.
func (d *run) readSample(name string) (*v1alpha1.WasmDeployment, error) {
	path := filepath.Join(d.opts.Samples, "wasmdeployments", name+".yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	objs, err := store.ParseFile(path, b)
	if err != nil {
		return nil, err
	}
	if len(objs.Deployments) != 1 {
		return nil, fmt.Errorf("%s: %d WasmDeployments, want 1", path, len(objs.Deployments))
	}
	return objs.Deployments[0], nil
}

// adaptSample makes a sample fit this machine and says what it changed: the module comes from the demo's
// registry, and the selector is the demo's proxies' labels. The demo's proxies listen on free ports: a match
// naming the samples' Dubbo port (20880) names the proxies' Dubbo ports instead, keeping its direction; other
// matches (the HTTP port 8080) are dropped, so the filter goes to every HTTP listener.
func adaptSample(wd *v1alpha1.WasmDeployment, registry string, dubboPorts []int32) []string {
	var notes []string
	if rest, ok := strings.CutPrefix(wd.Spec.URL, "oci://"); ok {
		if _, repo, ok := strings.Cut(rest, "/"); ok {
			wd.Spec.URL = "oci://" + registry + "/" + repo
			notes = append(notes, "url "+wd.Spec.URL)
		}
	}
	if wd.Spec.Selector == nil || !maps.Equal(wd.Spec.Selector.MatchLabels, demoLabels) {
		wd.Spec.Selector = &v1alpha1.WorkloadSelector{MatchLabels: maps.Clone(demoLabels)}
		notes = append(notes, "selector app=greeter")
	}
	var match []v1alpha1.TrafficSelector
	for _, m := range wd.Spec.Match {
		if !slices.Contains(m.Ports, v1alpha1.PortSelector{Number: sampleDubboPort}) {
			continue
		}
		m.Ports = nil
		var ports []string
		for _, p := range dubboPorts {
			m.Ports = append(m.Ports, v1alpha1.PortSelector{Number: p})
			ports = append(ports, strconv.Itoa(int(p)))
		}
		match = append(match, m)
		notes = append(notes, fmt.Sprintf("match %s ports %s (the proxies' Dubbo listeners)", m.Mode, strings.Join(ports, ",")))
	}
	if len(wd.Spec.Match) > len(match) {
		notes = append(notes, "match (HTTP ports) dropped")
	}
	wd.Spec.Match = match
	if wd.Name == "ratelimit" {
		wd.Spec.Routes = append(wd.Spec.Routes, v1alpha1.RouteOverride{Name: "load-unlimited",
			Match: v1alpha1.RouteMatch{RouteName: loadRoute}, Disabled: true})
		notes = append(notes, "disabled on route "+loadRoute)
	}
	return notes
}

// deploymentYAML renders wd as the file the operator reads.
func deploymentYAML(wd *v1alpha1.WasmDeployment) ([]byte, error) {
	out := &v1alpha1.WasmDeployment{TypeMeta: wd.TypeMeta, Spec: wd.Spec}
	out.APIVersion, out.Kind = v1alpha1.GroupVersion.String(), "WasmDeployment"
	out.Name, out.Namespace = wd.Name, wd.Namespace
	return yaml.Marshal(out)
}

// deploymentFile is where `wasmesh deploy --dir` would write the deployment, so `wasmesh undeploy` finds it.
func deploymentFile(wd *v1alpha1.WasmDeployment) string {
	return wd.Namespace + "." + wd.Name + ".yaml"
}

func (d *run) apply(wd *v1alpha1.WasmDeployment) error {
	b, err := deploymentYAML(wd)
	if err != nil {
		return err
	}
	return d.operator.Apply(deploymentFile(wd), b)
}

// deploy applies the samples and waits until every proxy acknowledged them.
func (d *run) deploy(ctx context.Context) error {
	d.deployments = map[string]*v1alpha1.WasmDeployment{}
	var dubboPorts []int32
	for _, p := range d.proxies {
		_, port, _ := net.SplitHostPort(p.dubbo)
		n, err := strconv.ParseInt(port, 10, 32)
		if err != nil {
			return fmt.Errorf("%s: Dubbo listener %q: %w", p.Name, p.dubbo, err)
		}
		dubboPorts = append(dubboPorts, int32(n))
	}
	applied := time.Now()
	for _, name := range deployedSamples {
		wd, err := d.readSample(name)
		if err != nil {
			return err
		}
		notes := adaptSample(wd, d.registryAddr, dubboPorts)
		if err := d.apply(wd); err != nil {
			return err
		}
		d.deployments[name] = wd
		fmt.Fprintf(d.out, "      applied samples/wasmdeployments/%s.yaml as %s (%s)\n", name, deploymentFile(wd), strings.Join(notes, ", "))
	}
	want := fmt.Sprintf("%d/%d", len(d.proxies), len(d.proxies))
	for _, name := range deployedSamples {
		var last store.StatusFile
		err := stack.Eventually(ctx, name+" acknowledged by every proxy", 90*time.Second, func() (bool, string, error) {
			f, err := d.operator.Status("default", name)
			if err != nil {
				return false, err.Error(), nil
			}
			last = f
			return f.Status.Ready == want && f.Status.LastGoodDigest == f.Status.ResolvedDigest, readyState(f.Status), nil
		})
		got := readyState(last.Status)
		d.check(name+" ready on every proxy", want, got, err == nil)
		if err != nil {
			return err
		}
	}
	fmt.Fprintf(d.out, "      acknowledged by %d proxies %s after the files were written\n", len(d.proxies), time.Since(applied).Round(10*time.Millisecond))
	status, err := d.stack.CLI(ctx, "status", "--dir", d.operator.Dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(d.out, "      $ wasmesh status --dir %s\n", d.operator.Dir)
	for _, line := range strings.Split(strings.TrimRight(status, "\n"), "\n") {
		fmt.Fprintf(d.out, "      %s\n", line)
	}
	return d.printChain(ctx)
}

// readyState renders the part of a status the story shows: ready count and the Ready condition's reason.
func readyState(st v1alpha1.WasmDeploymentStatus) string {
	s := st.Ready
	if s == "" {
		s = "-"
	}
	if c := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionReady); c != nil {
		s += " " + c.Reason
	}
	return s
}

// printChain shows the first proxy's HTTP chain as its admin server reports it.
func (d *run) printChain(ctx context.Context) error {
	filters, err := d.proxies[0].Filters(ctx)
	if err != nil {
		return err
	}
	chains := map[string][]string{}
	for _, f := range filters {
		if f.Route != "" {
			continue // a route's override instance
		}
		phase := f.Phase
		if phase == "" || strings.HasPrefix(phase, "UNSPECIFIED") {
			phase = "no phase"
		}
		chains[f.Listener] = append(chains[f.Listener], fmt.Sprintf("%s [%s, %s, %d VMs, %.0f MiB]", f.Name, phase, f.State, f.VMs, float64(f.MemoryBytes)/(1<<20)))
	}
	fmt.Fprintf(d.out, "      %s HTTP chain:  %s -> router -> echo\n", d.proxies[0].Name, strings.Join(chains["http"], " -> "))
	fmt.Fprintf(d.out, "      %s Dubbo chain: %s -> router -> greeter v1 | v2\n", d.proxies[0].Name, strings.Join(chains["dubbo"], " -> "))
	return nil
}
