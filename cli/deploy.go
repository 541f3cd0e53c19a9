package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/wasmesh/wasmesh/internal/atomicfile"
	"github.com/wasmesh/wasmesh/operator"
	"github.com/wasmesh/wasmesh/operator/api/v1alpha1"
	"github.com/wasmesh/wasmesh/operator/store"
)

// placeFlags say where WasmDeployments live: a directory (--dir) or the cluster of --kubeconfig.
type placeFlags struct {
	dir, kubeconfig, namespace string
}

func (p *placeFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&p.dir, "dir", "", "a directory read by `wasmesh operator --dir` instead of a cluster")
	cmd.Flags().StringVar(&p.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	cmd.Flags().StringVarP(&p.namespace, "namespace", "n", store.DefaultNamespace, "namespace")
}

func (p *placeFlags) client() (client.Client, error) {
	cfg, err := kubeConfig(p.kubeconfig)
	if err != nil {
		return nil, err
	}
	scheme, err := operator.Scheme()
	if err != nil {
		return nil, err
	}
	return client.New(cfg, client.Options{Scheme: scheme})
}

// fileName is where deploy writes a WasmDeployment in a directory; undeploy removes it.
func fileName(dir, ns, name string) string { return filepath.Join(dir, ns+"."+name+".yaml") }

func newDeployCommand(s Streams) *cobra.Command {
	var (
		p                                                  placeFlags
		name, configFile, sha, fail, plugin, phase, policy string
		selector, targets                                  []string
		priority                                           int32
	)
	cmd := &cobra.Command{
		Use:   "deploy REF --name NAME [--selector k=v] [--config FILE]",
		Short: "Deploy a module to proxies: write a WasmDeployment to the cluster or to --dir",
		Long: `Write a WasmDeployment for module REF (oci://host/repo:tag, host/repo:tag or an http(s) URL) selecting
the workloads whose labels match every --selector (none: every workload of the namespace).
Creates it, or replaces the spec of an existing one. Follow it with wasmesh status NAME.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if name == "" {
				return errors.New("--name is required")
			}
			url := args[0]
			if !strings.Contains(url, "://") {
				url = "oci://" + url
			}
			wd := &v1alpha1.WasmDeployment{
				TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: v1alpha1.Kind},
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: p.namespace},
				Spec: v1alpha1.WasmDeploymentSpec{
					URL: url, SHA256: strings.TrimPrefix(sha, "sha256:"), PluginName: plugin,
					FailStrategy: v1alpha1.FailStrategy(fail), Phase: v1alpha1.PluginPhase(phase), ImagePullPolicy: v1alpha1.PullPolicy(policy),
					Selector: &v1alpha1.WorkloadSelector{},
				},
			}
			if cmd.Flags().Changed("priority") {
				wd.Spec.Priority = &priority
			}
			for _, kv := range selector {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return fmt.Errorf("--selector %q: want key=value", kv)
				}
				if wd.Spec.Selector.MatchLabels == nil {
					wd.Spec.Selector.MatchLabels = map[string]string{}
				}
				wd.Spec.Selector.MatchLabels[k] = v
			}
			for _, t := range targets {
				switch t {
				case "proxy", "wasmesh":
					wd.Spec.Targets = append(wd.Spec.Targets, v1alpha1.TargetWasmesh)
				case "istio":
					wd.Spec.Targets = append(wd.Spec.Targets, v1alpha1.TargetIstio)
				default:
					return fmt.Errorf("--target %q: use proxy or istio", t)
				}
			}
			if configFile != "" {
				raw, err := os.ReadFile(configFile)
				if err != nil {
					return fmt.Errorf("--config: %w", err)
				}
				j, err := yaml.YAMLToJSON(raw)
				if err != nil || !strings.HasPrefix(strings.TrimSpace(string(j)), "{") {
					return fmt.Errorf("--config %s: want a JSON or YAML object: %v", configFile, err)
				}
				wd.Spec.PluginConfig = &apiextensionsv1.JSON{Raw: j}
			}
			if p.dir != "" {
				out, err := yaml.Marshal(wd)
				if err != nil {
					return err
				}
				if _, err := store.ParseFile("deploy", out); err != nil { // what the operator will read
					return err
				}
				if err := os.MkdirAll(p.dir, 0o755); err != nil {
					return fmt.Errorf("--dir: %w", err)
				}
				path := fileName(p.dir, p.namespace, name)
				if err := atomicfile.Write(path, out, 0o644); err != nil {
					return err
				}
				_, err = fmt.Fprintf(s.Out, "wrote %s\n", path)
				return err
			}
			c, err := p.client()
			if err != nil {
				return err
			}
			var cur v1alpha1.WasmDeployment
			err = c.Get(cmd.Context(), types.NamespacedName{Namespace: p.namespace, Name: name}, &cur)
			switch {
			case apierrors.IsNotFound(err):
				err = c.Create(cmd.Context(), wd)
			case err == nil:
				cur.Spec = wd.Spec
				err = c.Update(cmd.Context(), &cur)
			}
			if err != nil {
				return fmt.Errorf("writing WasmDeployment %s/%s: %w", p.namespace, name, err)
			}
			_, err = fmt.Fprintf(s.Out, "wasmdeployment %s/%s applied\n", p.namespace, name)
			return err
		},
	}
	p.add(cmd)
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "name of the WasmDeployment (required)")
	f.StringSliceVar(&selector, "selector", nil, "workload label key=value the proxies must have (repeatable)")
	f.StringVar(&configFile, "config", "", "plugin configuration file (JSON or YAML object)")
	f.StringSliceVar(&targets, "target", nil, "data plane: proxy (wasmesh proxies, the default) or istio (repeatable)")
	f.StringVar(&sha, "sha256", "", "pin the manifest digest (oci://) or the module checksum (http)")
	f.StringVar(&fail, "fail-strategy", "", "FAIL_CLOSE (default), FAIL_OPEN or FAIL_RELOAD")
	f.StringVar(&plugin, "plugin-name", "", "root id of the plugin inside the module")
	f.StringVar(&phase, "phase", "", "AUTHN, AUTHZ, STATS or UNSPECIFIED_PHASE")
	f.Int32Var(&priority, "priority", 0, "order within the phase, higher first")
	f.StringVar(&policy, "pull-policy", "", "IfNotPresent (default) or Always")
	return cmd
}

func newUndeployCommand(s Streams) *cobra.Command {
	var p placeFlags
	cmd := &cobra.Command{
		Use:   "undeploy NAME",
		Short: "Remove a WasmDeployment: its filter leaves every proxy",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if p.dir != "" {
				path := fileName(p.dir, p.namespace, name)
				if err := os.Remove(path); err != nil {
					return fmt.Errorf("%w (undeploy removes files written by deploy; remove a hand-written file yourself)", err)
				}
				_, err := fmt.Fprintf(s.Out, "removed %s\n", path)
				return err
			}
			c, err := p.client()
			if err != nil {
				return err
			}
			wd := &v1alpha1.WasmDeployment{ObjectMeta: metav1.ObjectMeta{Namespace: p.namespace, Name: name}}
			if err := c.Delete(cmd.Context(), wd); err != nil {
				return fmt.Errorf("deleting WasmDeployment %s/%s: %w", p.namespace, name, err)
			}
			_, err = fmt.Fprintf(s.Out, "wasmdeployment %s/%s deleted\n", p.namespace, name)
			return err
		},
	}
	p.add(cmd)
	return cmd
}

// statusRow is what list and status print of one WasmDeployment.
type statusRow struct {
	namespace, name, url string
	generation           int64
	status               v1alpha1.WasmDeploymentStatus
	created              time.Time
	events               []store.FileEvent
}

// rows reads the WasmDeployments (with status) of a namespace, or all with allNS. In a directory, files that do
// not parse are reported on warn and skipped, as the operator skips them.
func (p *placeFlags) rows(ctx context.Context, allNS bool, warn io.Writer) ([]statusRow, error) {
	var out []statusRow
	if p.dir != "" {
		rows, err := dirRows(p.dir, warn)
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			if allNS || r.namespace == p.namespace {
				out = append(out, r)
			}
		}
		return out, nil
	}
	c, err := p.client()
	if err != nil {
		return nil, err
	}
	var l v1alpha1.WasmDeploymentList
	var opts []client.ListOption
	if !allNS {
		opts = append(opts, client.InNamespace(p.namespace))
	}
	if err := c.List(ctx, &l, opts...); err != nil {
		return nil, fmt.Errorf("listing WasmDeployments: %w", err)
	}
	for _, wd := range l.Items {
		out = append(out, statusRow{namespace: wd.Namespace, name: wd.Name, url: wd.Spec.URL, generation: wd.Generation, status: wd.Status, created: wd.CreationTimestamp.Time})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].namespace+"/"+out[i].name < out[j].namespace+"/"+out[j].name })
	return out, nil
}

// dirRows reads a directory of `wasmesh operator --dir`: each WasmDeployment of its YAML files, with the status
// the operator wrote beside it; one it has not reconciled yet has an empty status (state Pending). A status whose
// WasmDeployment file is gone is listed too until the operator removes it.
func dirRows(dir string, warn io.Writer) ([]statusRow, error) {
	files, err := store.ReadStatusFiles(dir)
	if err != nil {
		return nil, err
	}
	byKey := map[string]*statusRow{}
	var keys []string
	add := func(ns, name string) *statusRow {
		k := ns + "/" + name
		if r, ok := byKey[k]; ok {
			return r
		}
		byKey[k] = &statusRow{namespace: ns, name: name}
		keys = append(keys, k)
		return byKey[k]
	}
	for _, f := range files {
		r := add(f.Metadata.Namespace, f.Metadata.Name)
		r.generation, r.status, r.events = f.Metadata.Generation, f.Status, f.Events
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || strings.HasPrefix(n, ".") || strings.HasSuffix(n, store.StatusSuffix) ||
			!(strings.HasSuffix(n, ".yaml") || strings.HasSuffix(n, ".yml")) {
			continue // what the operator's directory store skips
		}
		data, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			fmt.Fprintf(warn, "warning: %v\n", err)
			continue
		}
		objs, err := store.ParseFile(filepath.Join(dir, n), data)
		if err != nil {
			fmt.Fprintf(warn, "warning: skipped, as the operator does: %v\n", err)
			continue
		}
		for _, wd := range objs.Deployments {
			add(wd.Namespace, wd.Name).url = wd.Spec.URL // ParseFile defaults the namespace
		}
	}
	sort.Strings(keys)
	out := make([]statusRow, 0, len(keys))
	for _, k := range keys {
		out = append(out, *byKey[k])
	}
	return out, nil
}

func newListCommand(s Streams) *cobra.Command {
	var p placeFlags
	var all bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List WasmDeployments with their digest and readiness",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rows, err := p.rows(cmd.Context(), all, s.Err)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(s.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAMESPACE\tNAME\tDIGEST\tREADY\tSTATE")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.namespace, r.name, short(r.status.ResolvedDigest), orDash(r.status.Ready), state(r.status))
			}
			return tw.Flush()
		},
	}
	p.add(cmd)
	cmd.Flags().BoolVarP(&all, "all-namespaces", "A", false, "every namespace")
	return cmd
}

func newStatusCommand(s Streams) *cobra.Command {
	var p placeFlags
	var all bool
	cmd := &cobra.Command{
		Use:   "status [NAME]",
		Short: "Show rollout progress: per WasmDeployment, or conditions, proxies and events of one",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rows, err := p.rows(cmd.Context(), all, s.Err)
			if err != nil {
				return err
			}
			if len(args) == 0 {
				return printProgress(s.Out, rows)
			}
			for _, r := range rows {
				if r.name == args[0] {
					return printDetail(s.Out, r)
				}
			}
			return fmt.Errorf("WasmDeployment %s/%s has no status (yet): is the operator running?", p.namespace, args[0])
		},
	}
	p.add(cmd)
	cmd.Flags().BoolVarP(&all, "all-namespaces", "A", false, "every namespace")
	return cmd
}

func printProgress(w io.Writer, rows []statusRow) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tNAME\tDIGEST\tSELECTED\tUPDATED\tACKED\tFAILED\tROLLOUT\tSTATE")
	for _, r := range rows {
		var t v1alpha1.TargetStatus
		for _, ts := range r.status.Targets {
			if ts.Target == v1alpha1.TargetWasmesh {
				t = ts
			}
		}
		ro := "-"
		if r.status.Rollout != nil {
			ro = fmt.Sprintf("step %d (%d%%)", r.status.Rollout.Step, r.status.Rollout.Percent)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\n", r.namespace, r.name, short(r.status.ResolvedDigest), t.Selected, t.Updated, t.Acknowledged, t.Failed, ro, state(r.status))
	}
	return tw.Flush()
}

func printDetail(w io.Writer, r statusRow) error {
	st := r.status
	fmt.Fprintf(w, "WasmDeployment %s/%s (generation %d, observed %d)\n", r.namespace, r.name, r.generation, st.ObservedGeneration)
	fmt.Fprintf(w, "  resolved digest:  %s\n  last good digest: %s\n  ready:            %s\n", orDash(st.ResolvedDigest), orDash(st.LastGoodDigest), orDash(st.Ready))
	if st.Rollout != nil {
		fmt.Fprintf(w, "  rollout:          %s step %d at %d%%\n", short(st.Rollout.Digest), st.Rollout.Step, st.Rollout.Percent)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nCONDITION\tSTATUS\tREASON\tMESSAGE")
	for _, c := range st.Conditions {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Type, c.Status, c.Reason, c.Message)
	}
	for _, t := range st.Targets {
		fmt.Fprintf(tw, "\nTARGET %s\tselected %d\tupdated %d\tacknowledged %d, failed %d\n", t.Target, t.Selected, t.Updated, t.Acknowledged, t.Failed)
		for _, f := range t.Failures {
			fmt.Fprintf(tw, "  %s\t%s\n", f.Proxy, f.Message)
		}
	}
	if len(r.events) > 0 {
		fmt.Fprintln(tw, "\nEVENT\tREASON\tCOUNT\tMESSAGE")
		for _, e := range r.events {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", e.Type, e.Reason, e.Count, e.Message)
		}
	}
	return tw.Flush()
}

// state summarises the conditions in one word and its reason.
func state(st v1alpha1.WasmDeploymentStatus) string {
	for _, c := range []string{v1alpha1.ConditionResolved, v1alpha1.ConditionPulled} {
		if cnd := meta.FindStatusCondition(st.Conditions, c); cnd != nil && cnd.Status != metav1.ConditionTrue {
			return "Failed: " + cnd.Reason
		}
	}
	if cnd := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionDegraded); cnd != nil && cnd.Status == metav1.ConditionTrue {
		return "Degraded: " + cnd.Reason
	}
	if cnd := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionProgressing); cnd != nil && cnd.Status == metav1.ConditionTrue {
		return "Progressing: " + cnd.Reason
	}
	if cnd := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionReady); cnd != nil && cnd.Status == metav1.ConditionTrue {
		return "Ready"
	}
	return "Pending"
}

func short(d string) string {
	if len(d) > len("sha256:")+12 {
		return d[:len("sha256:")+12]
	}
	return orDash(d)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
