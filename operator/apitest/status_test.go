package apitest

import (
	"fmt"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/wasmesh/wasmesh/operator/api/v1alpha1"
)

const (
	digestV1 = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
	digestV2 = "sha256:486ea46224d1bb4fb680f34f7c9ad96a8f24ec88be73ea8e5a6c65260e9cb8a7"
)

// createSample creates the auth sample in ns and returns it as stored.
func createSample(t *testing.T, ns string) *v1alpha1.WasmDeployment {
	t.Helper()
	u := readUnstructured(t, env.RepoRoot+"/samples/wasmdeployments/auth.yaml", ns)
	if err := env.Client.Create(ctx(t), u); err != nil {
		t.Fatal(err)
	}
	var wd v1alpha1.WasmDeployment
	if err := env.Client.Get(ctx(t), client.ObjectKeyFromObject(u), &wd); err != nil {
		t.Fatal(err)
	}
	return &wd
}

func TestStatusSubresource(t *testing.T) {
	ns := env.Namespace(t)
	wd := createSample(t, ns)

	// A status written through the main resource is dropped: only the status subresource
	// (the operator's) can set it.
	wd.Status.ResolvedDigest = digestV1
	if err := env.Client.Update(ctx(t), wd); err != nil {
		t.Fatal(err)
	}
	if wd.Status.ResolvedDigest != "" {
		t.Fatalf("status set through the main resource: %+v", wd.Status)
	}

	now := metav1.Now()
	wd.Status = v1alpha1.WasmDeploymentStatus{
		ObservedGeneration: wd.Generation,
		ResolvedDigest:     digestV2,
		LastGoodDigest:     digestV1,
		Ready:              "2/3",
		Targets: []v1alpha1.TargetStatus{
			{Target: v1alpha1.TargetWasmesh, Selected: 2, Updated: 2, Acknowledged: 2},
			{Target: v1alpha1.TargetIstio, Selected: 1, Updated: 1, Failed: 1, Failures: []v1alpha1.ProxyFailure{
				{Proxy: ns + "/greeter-7d9f", Message: "NACK: wasm: module failed to instantiate", Time: &now},
			}},
		},
		Rollout: &v1alpha1.RolloutStatus{Digest: digestV2, Step: 1, Percent: 50, StepStartedAt: &now},
	}
	meta.SetStatusCondition(&wd.Status.Conditions, metav1.Condition{Type: v1alpha1.ConditionResolved, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonResolved, Message: "oci://127.0.0.1:5000/wasmesh/auth:v1 is " + digestV2})
	meta.SetStatusCondition(&wd.Status.Conditions, metav1.Condition{Type: v1alpha1.ConditionProgressing, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonWaitingApproval, Message: "step 1 (50%) waits for approval"})
	meta.SetStatusCondition(&wd.Status.Conditions, metav1.Condition{Type: v1alpha1.ConditionDegraded, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonProxiesRejected, Message: "1 proxy rejected " + digestV2})
	if err := env.Client.Status().Update(ctx(t), wd); err != nil {
		t.Fatalf("valid status refused: %v", err)
	}
	var got v1alpha1.WasmDeployment
	if err := env.Client.Get(ctx(t), client.ObjectKeyFromObject(wd), &got); err != nil {
		t.Fatal(err)
	}
	if got.Status.ResolvedDigest != digestV2 || len(got.Status.Conditions) != 3 || got.Status.Targets[1].Failures[0].Message == "" {
		t.Errorf("status not stored: %+v", got.Status)
	}

	// kubectl get shows URL, digest, ready/total and age, and knows the short name.
	out, err := env.RunKubectl(ctx(t), nil, "get", "wd", "-n", ns)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 2 {
		t.Fatalf("kubectl get wd:\n%s", out)
	}
	if h := strings.Fields(lines[0]); strings.Join(h, " ") != "NAME URL DIGEST READY AGE" {
		t.Errorf("columns %v", h)
	}
	if row := strings.Fields(lines[1]); len(row) != 5 || row[0] != "auth" || row[1] != wd.Spec.URL || row[2] != digestV2 || row[3] != "2/3" {
		t.Errorf("row %v", row)
	}

	bad := []struct {
		name   string
		mutate func(*v1alpha1.WasmDeploymentStatus)
		want   string
	}{
		{"digest without algorithm", func(s *v1alpha1.WasmDeploymentStatus) { s.ResolvedDigest = digestV2[7:] }, "status.resolvedDigest"},
		{"last good digest upper case", func(s *v1alpha1.WasmDeploymentStatus) { s.LastGoodDigest = strings.ToUpper(digestV1) }, "status.lastGoodDigest"},
		{"negative count", func(s *v1alpha1.WasmDeploymentStatus) { s.Targets[0].Failed = -1 }, "status.targets[0].failed"},
		{"unbounded failures", func(s *v1alpha1.WasmDeploymentStatus) {
			s.Targets[1].Failures = nil
			for i := range v1alpha1.MaxFailures + 1 {
				s.Targets[1].Failures = append(s.Targets[1].Failures, v1alpha1.ProxyFailure{Proxy: fmt.Sprintf("p%d", i), Message: "NACK"})
			}
		}, "status.targets[1].failures"},
		{"long failure message", func(s *v1alpha1.WasmDeploymentStatus) { s.Targets[1].Failures[0].Message = strings.Repeat("x", 2000) }, "status.targets[1].failures[0].message"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			var cur v1alpha1.WasmDeployment
			if err := env.Client.Get(ctx(t), client.ObjectKeyFromObject(wd), &cur); err != nil {
				t.Fatal(err)
			}
			tt.mutate(&cur.Status)
			err := env.Client.Status().Update(ctx(t), &cur)
			if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an Invalid error naming %s", err, tt.want)
			}
		})
	}
}
