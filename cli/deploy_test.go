package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/wasmesh/wasmesh/operator/api/v1alpha1"
	"github.com/wasmesh/wasmesh/operator/store"
)

func runDeployCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := NewRootCommand(Streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

func TestDeployDir(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "cfg.yaml")
	if err := os.WriteFile(cfg, []byte("greeting: hi\nlimit: 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := runDeployCLI(t, "deploy", "registry.local:5000/filters/auth:v1", "--name", "auth", "-n", "shop", "--selector", "app=web",
		"--config", cfg, "--dir", dir, "--fail-strategy", "FAIL_OPEN", "--priority", "5", "--target", "proxy"); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "shop.auth.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := store.ParseFile("shop.auth.yaml", data)
	if err != nil || len(objs.Deployments) != 1 {
		t.Fatalf("the operator cannot read what deploy wrote: %v\n%s", err, data)
	}
	wd := objs.Deployments[0]
	if wd.Spec.URL != "oci://registry.local:5000/filters/auth:v1" || wd.Spec.Selector.MatchLabels["app"] != "web" || string(wd.Spec.PluginConfig.Raw) != `{"greeting":"hi","limit":3}` ||
		*wd.Spec.Priority != 5 || wd.Spec.FailStrategy != v1alpha1.FailOpen || wd.Spec.Targets[0] != v1alpha1.TargetWasmesh {
		t.Errorf("spec %+v", wd.Spec)
	}
	for _, bad := range [][]string{{"deploy", "r/x:v1", "--dir", dir}, {"deploy", "r/x:v1", "--name", "x", "--selector", "novalue", "--dir", dir}, {"deploy", "r/x:v1", "--name", "x", "--target", "k8s", "--dir", dir}} {
		if _, err := runDeployCLI(t, bad...); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}

	// A status as the operator writes it.
	sf := store.StatusFile{APIVersion: "wasmesh.io/v1alpha1", Kind: store.StatusKind, Metadata: store.StatusMeta{Name: "auth", Namespace: "shop", Generation: 2},
		Status: v1alpha1.WasmDeploymentStatus{ObservedGeneration: 2, ResolvedDigest: "sha256:" + strings.Repeat("ab", 32), Ready: "1/3",
			Conditions: []metav1.Condition{{Type: v1alpha1.ConditionResolved, Status: "True", Reason: v1alpha1.ReasonResolved}, {Type: v1alpha1.ConditionDegraded, Status: "True", Reason: v1alpha1.ReasonProxiesRejected, Message: "1 proxies rejected"}},
			Targets:    []v1alpha1.TargetStatus{{Target: v1alpha1.TargetWasmesh, Selected: 3, Updated: 2, Acknowledged: 1, Failed: 1, Failures: []v1alpha1.ProxyFailure{{Proxy: "web-2", Message: "on_configure failed"}}}},
			Rollout:    &v1alpha1.RolloutStatus{Step: 1, Percent: 50}}}
	b, _ := yaml.Marshal(sf)
	if err := os.WriteFile(filepath.Join(dir, "shop.auth"+store.StatusSuffix), b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runDeployCLI(t, "status", "-n", "shop", "--dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "auth") || !regexpFields(out, "3", "2", "1", "1", "step 1 (50%)", "Degraded: ProxiesRejected") {
		t.Errorf("status table:\n%s", out)
	}
	out, err = runDeployCLI(t, "status", "auth", "-n", "shop", "--dir", dir)
	if err != nil || !strings.Contains(out, "web-2") || !strings.Contains(out, "on_configure failed") {
		t.Errorf("status auth: %v\n%s", err, out)
	}
	out, err = runDeployCLI(t, "list", "-A", "--dir", dir)
	if err != nil || !strings.Contains(out, "1/3") {
		t.Errorf("list: %v\n%s", err, out)
	}
	if _, err := runDeployCLI(t, "undeploy", "auth", "-n", "shop", "--dir", dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "shop.auth.yaml")); !os.IsNotExist(err) {
		t.Errorf("undeploy left the file: %v", err)
	}
}

func regexpFields(out string, want ...string) bool {
	for _, w := range want {
		if !strings.Contains(out, w) {
			return false
		}
	}
	return true
}

// TestDeployDirBeforeTheOperator: deploy creates a --dir that does not exist yet, and list and status show what
// it wrote before the operator has reconciled it (no status file): Pending, next to a reconciled one. A file the
// operator would skip is reported, not fatal.
func TestDeployDirBeforeTheOperator(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "deploy", "new")
	for _, name := range []string{"auth", "ratelimit"} {
		if _, err := runDeployCLI(t, "deploy", "registry.local:5000/filters/"+name+":v1", "--name", name, "--dir", dir); err != nil {
			t.Fatalf("deploy %s into a new directory: %v", name, err)
		}
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("directory %v %v, want it created 0755", fi, err)
	}
	sf := store.StatusFile{APIVersion: "wasmesh.io/v1alpha1", Kind: store.StatusKind, Metadata: store.StatusMeta{Name: "auth", Namespace: "default", Generation: 1},
		Status: v1alpha1.WasmDeploymentStatus{ResolvedDigest: "sha256:" + strings.Repeat("cd", 32), Ready: "2/2",
			Conditions: []metav1.Condition{{Type: v1alpha1.ConditionReady, Status: "True", Reason: v1alpha1.ReasonAllAcknowledged}}}}
	b, _ := yaml.Marshal(sf)
	if err := os.WriteFile(filepath.Join(dir, "default.auth"+store.StatusSuffix), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "broken.yaml"), []byte("apiVersion: v1\nkind: ConfigMap\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	var out, errOut bytes.Buffer
	root := NewRootCommand(Streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
	root.SetArgs([]string{"list", "--dir", dir})
	if err := root.ExecuteContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := [][]string{
		{"NAMESPACE", "NAME", "DIGEST", "READY", "STATE"},
		{"default", "auth", "sha256:cdcdcdcdcdcd", "2/2", "Ready"},
		{"default", "ratelimit", "-", "-", "Pending"},
	}
	if len(lines) != len(want) {
		t.Fatalf("list:\n%s", out.String())
	}
	for i, w := range want {
		if got := strings.Fields(lines[i]); strings.Join(got, " ") != strings.Join(w, " ") {
			t.Errorf("list line %d: %q, want %q", i, got, w)
		}
	}
	if !strings.Contains(errOut.String(), "broken.yaml") {
		t.Errorf("the file the operator skips is not reported: %q", errOut.String())
	}
	detail, err := runDeployCLI(t, "status", "ratelimit", "--dir", dir)
	if err != nil || !strings.Contains(detail, "WasmDeployment default/ratelimit") {
		t.Errorf("status of a pending deployment: %v\n%s", err, detail)
	}
}
