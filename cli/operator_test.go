package cli

import (
	"bytes"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// TestManagerManifest keeps config/manager/manager.yaml in step with `wasmesh operator`: its args parse with
// the command's own flags, each listen address has its named container port, the cache directory is a volume
// (the root filesystem is read-only), --modules-url names the Service, and the Service reaches xds and modules.
// (operator/apitest's TestConfigDefault applies the rendered config/default to a real API server.)
func TestManagerManifest(t *testing.T) {
	data, err := os.ReadFile("../config/manager/manager.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var dep appsv1.Deployment
	var svc corev1.Service
	for _, doc := range bytes.Split(data, []byte("\n---\n")) {
		var meta struct{ Kind string }
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			t.Fatal(err)
		}
		switch meta.Kind {
		case "Deployment":
			err = yaml.UnmarshalStrict(doc, &dep)
		case "Service":
			err = yaml.UnmarshalStrict(doc, &svc)
		}
		if err != nil {
			t.Fatalf("%s: %v", meta.Kind, err)
		}
	}
	if len(dep.Spec.Template.Spec.Containers) != 1 || svc.Name == "" {
		t.Fatal("want one Deployment with one container and one Service")
	}
	c := dep.Spec.Template.Spec.Containers[0]
	if len(c.Args) == 0 || c.Args[0] != "operator" {
		t.Fatalf("args %v: want the operator command first", c.Args)
	}
	cmd := newOperatorCommand(Streams{})
	if err := cmd.ParseFlags(c.Args[1:]); err != nil {
		t.Fatalf("args %v do not parse as `wasmesh operator` flags: %v", c.Args, err)
	}
	flag := func(name string) string { return cmd.Flags().Lookup(name).Value.String() }
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	for name, f := range map[string]string{"xds": "xds-addr", "modules": "modules-addr", "metrics": "metrics-addr", "health": "probe-addr"} {
		_, port, err := net.SplitHostPort(flag(f))
		if err != nil || port != strconv.Itoa(int(ports[name])) {
			t.Errorf("--%s=%s but container port %q is %d", f, flag(f), name, ports[name])
		}
	}
	if flag("leader-elect") != "true" {
		t.Error("two replicas need --leader-elect")
	}
	mounted := false
	for _, m := range c.VolumeMounts {
		mounted = mounted || m.MountPath == flag("cache-dir")
	}
	if !mounted {
		t.Errorf("--cache-dir=%s is not a mounted volume; the root filesystem is read-only", flag("cache-dir"))
	}
	sc, psc := c.SecurityContext, dep.Spec.Template.Spec.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Error("want a read-only root filesystem and a non-root user")
	}
	// config/default prefixes names with wasmesh-; $(POD_NAMESPACE) is expanded by the kubelet.
	wantURL := "http://wasmesh-" + svc.Name + ".$(POD_NAMESPACE).svc:" + strconv.Itoa(int(ports["modules"]))
	if flag("modules-url") != wantURL {
		t.Errorf("--modules-url=%s, want %s", flag("modules-url"), wantURL)
	}
	for k, v := range svc.Spec.Selector {
		if dep.Spec.Template.Labels[k] != v {
			t.Errorf("the Service selects %s=%s, which the pods do not carry", k, v)
		}
	}
	served := map[string]bool{}
	for _, p := range svc.Spec.Ports {
		if p.TargetPort.Type != intstr.String || ports[p.TargetPort.StrVal] == 0 {
			t.Errorf("Service port %s targets %v, not a named container port", p.Name, p.TargetPort)
		}
		served[p.TargetPort.StrVal] = true
		if !strings.HasPrefix(p.Name, "grpc-") && !strings.HasPrefix(p.Name, "http-") {
			t.Errorf("Service port %s: name it grpc-... or http-... for Istio's protocol detection", p.Name)
		}
	}
	if !served["xds"] || !served["modules"] {
		t.Errorf("the Service serves %v, want xds and modules", served)
	}
}
