package controller_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	extensionsv1alpha1 "istio.io/client-go/pkg/apis/extensions/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/opencontainers/go-digest"

	"github.com/wasmesh/wasmesh/oci/registrytest"
	"github.com/wasmesh/wasmesh/operator"
	"github.com/wasmesh/wasmesh/operator/api/v1alpha1"
	"github.com/wasmesh/wasmesh/operator/internal/testenv"
	"github.com/wasmesh/wasmesh/xdsapi"
)

// TestKube runs the same reconciler with controller-runtime's manager against a real kube-apiserver and etcd.
func TestKube(t *testing.T) {
	if testing.Short() {
		t.Skip("envtest: starts kube-apiserver and etcd")
	}
	env, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })

	reg := startRegistry(t)
	wasm := registrytest.Module([]byte("kube"))
	manifest := push(t, reg+"/filters/kube:v1", wasm, nil)
	authReg := registrytest.Start(t, registrytest.Config{Auth: true})
	push(t, authReg.Host+"/filters/private:v1", registrytest.Module([]byte("kube-private")), func(contextT, string) (authCred, error) {
		return authCred{Username: authReg.User, Password: authReg.Password}, nil
	})

	op := runOperator(t, operator.Options{Kube: env.Config, MetricsAddr: "0", ProbeAddr: "0"})
	ctx := context.Background()
	addr := xdsAddr(t, op)
	c := env.Client
	ns := env.Namespace(t)
	other := env.Namespace(t)
	p := connect(t, addr, xdsapi.Node{ID: "kube-web-1", Namespace: ns, Labels: map[string]string{"app": "web"}}, nil)

	dockerConfig := func(user, pass string) []byte {
		return fmt.Appendf(nil, `{"auths":{%q:{"username":%q,"password":%q}}}`, authReg.Host, user, pass)
	}
	for _, s := range []*corev1.Secret{
		{ObjectMeta: metav1.ObjectMeta{Name: "regcred", Namespace: ns}, Type: corev1.SecretTypeDockerConfigJson, Data: map[string][]byte{".dockerconfigjson": dockerConfig(authReg.User, authReg.Password)}},
		{ObjectMeta: metav1.ObjectMeta{Name: "wrong", Namespace: ns}, Type: corev1.SecretTypeDockerConfigJson, Data: map[string][]byte{".dockerconfigjson": dockerConfig(authReg.User, "nope")}},
		// The right credentials, but in another namespace: never used.
		{ObjectMeta: metav1.ObjectMeta{Name: "elsewhere", Namespace: other}, Type: corev1.SecretTypeDockerConfigJson, Data: map[string][]byte{".dockerconfigjson": dockerConfig(authReg.User, authReg.Password)}},
	} {
		if err := c.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	wd := func(name, url, secret string, fail v1alpha1.FailStrategy) *v1alpha1.WasmDeployment {
		return &v1alpha1.WasmDeployment{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: v1alpha1.WasmDeploymentSpec{
				URL: url, ImagePullSecret: secret, FailStrategy: fail,
				PluginConfig: &apiextensionsv1.JSON{Raw: []byte(`{"k":"v"}`)},
				Selector:     &v1alpha1.WorkloadSelector{MatchLabels: map[string]string{"app": "web"}},
			},
		}
	}
	cases := []struct {
		obj                *v1alpha1.WasmDeployment
		cond, status, want string
	}{
		{wd("good", "oci://"+reg+"/filters/kube:v1", "", ""), v1alpha1.ConditionReady, "True", v1alpha1.ReasonAllAcknowledged},
		{wd("badtag", "oci://"+reg+"/filters/kube:nope", "", v1alpha1.FailOpen), v1alpha1.ConditionResolved, "False", v1alpha1.ReasonResolveFailed},
		{wd("private", "oci://"+authReg.Host+"/filters/private:v1", "regcred", ""), v1alpha1.ConditionPulled, "True", v1alpha1.ReasonPulled},
		{wd("refused", "oci://"+authReg.Host+"/filters/private:v1", "wrong", v1alpha1.FailOpen), v1alpha1.ConditionResolved, "False", v1alpha1.ReasonResolveFailed},
		{wd("crossns", "oci://"+authReg.Host+"/filters/private:v1", "elsewhere", ""), v1alpha1.ConditionResolved, "False", v1alpha1.ReasonPullSecretMissing},
	}
	for _, tc := range cases {
		if err := c.Create(ctx, tc.obj); err != nil {
			t.Fatalf("creating %s: %v", tc.obj.Name, err)
		}
	}
	for _, tc := range cases {
		t.Run(tc.obj.Name, func(t *testing.T) {
			var got v1alpha1.WasmDeployment
			key := types.NamespacedName{Namespace: ns, Name: tc.obj.Name}
			waitFor(t, 30*time.Second, tc.obj.Name+" "+tc.cond+"="+tc.status+" "+tc.want, func() bool {
				if c.Get(ctx, key, &got) != nil {
					return false
				}
				cnd := meta.FindStatusCondition(got.Status.Conditions, tc.cond)
				return cnd != nil && string(cnd.Status) == tc.status && cnd.Reason == tc.want
			})
			if got.Status.ObservedGeneration != got.Generation {
				t.Errorf("observedGeneration %d, generation %d", got.Status.ObservedGeneration, got.Generation)
			}
			if tc.status == "False" {
				waitFor(t, 30*time.Second, "a Warning event "+tc.want+" on "+tc.obj.Name, func() bool {
					var evs corev1.EventList
					if c.List(ctx, &evs, client.InNamespace(ns)) != nil {
						return false
					}
					for _, e := range evs.Items {
						if e.InvolvedObject.Name == tc.obj.Name && e.Type == corev1.EventTypeWarning && e.Reason == tc.want {
							return true
						}
					}
					return false
				})
			}
		})
	}
	// Istio as a second target: an owned WasmPlugin pinned to the resolved digest.
	both := wd("both", "oci://"+reg+"/filters/kube:v1", "", "")
	both.Spec.Targets = []v1alpha1.Target{v1alpha1.TargetWasmesh, v1alpha1.TargetIstio}
	if err := c.Create(ctx, both); err != nil {
		t.Fatal(err)
	}
	var wp extensionsv1alpha1.WasmPlugin
	waitFor(t, 30*time.Second, "the WasmPlugin of "+both.Name, func() bool {
		return c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "both"}, &wp) == nil
	})
	if !strings.Contains(wp.Spec.Url, manifest.String()) && wp.Spec.Sha256 == "" || len(wp.OwnerReferences) != 1 || wp.OwnerReferences[0].Name != "both" {
		t.Errorf("WasmPlugin url %q sha256 %q owners %+v", wp.Spec.Url, wp.Spec.Sha256, wp.OwnerReferences)
	}
	waitFor(t, 30*time.Second, "both targets in status", func() bool {
		got := mustGet(t, ctx, c, ns, "both")
		return len(got.Status.Targets) == 2 && got.Status.Targets[1].Target == v1alpha1.TargetIstio && got.Status.Ready == "1/1"
	})

	var good v1alpha1.WasmDeployment
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "good"}, &good); err != nil {
		t.Fatal(err)
	}
	if good.Status.ResolvedDigest != manifest.String() || good.Status.Ready != "1/1" || good.Status.LastGoodDigest != manifest.String() {
		t.Errorf("good: %+v", good.Status)
	}
	if d := p.digest(ns + "/good"); d != digest.FromBytes(wasm).String() {
		t.Errorf("the proxy runs %q, want %s", d, digest.FromBytes(wasm))
	}
	if !strings.Contains(fmt.Sprint(meta.FindStatusCondition(mustGet(t, ctx, c, ns, "refused").Status.Conditions, v1alpha1.ConditionResolved)), "credentials") {
		t.Error("the refused deployment should say the registry refused the credentials")
	}
	if good.Status.ResolvedURL != good.Spec.URL {
		t.Errorf("status.resolvedURL %q: the CRD must keep it", good.Status.ResolvedURL)
	}

	// The error-rate abort in Kubernetes mode: v2 goes to the canary (the one proxy at 50%), which reports
	// half its calls failed; the rollout goes back to v1 with ErrorRateExceeded in status and as an event.
	v2 := registrytest.Module([]byte("kube-v2"))
	push(t, reg+"/filters/kube:v2", v2, nil)
	canary := wd("rate", "oci://"+reg+"/filters/kube:v1", "", "")
	canary.Spec.Rollout = &v1alpha1.Rollout{Strategy: v1alpha1.RolloutCanary,
		Steps: []v1alpha1.CanaryStep{{Percent: 50, Pause: &v1alpha1.Pause{UntilApproved: true}}},
		Abort: &v1alpha1.AbortRule{MaxErrorRatePercent: ptr.To[int32](10)}}
	if err := c.Create(ctx, canary); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "rate on v1", func() bool { return mustGet(t, ctx, c, ns, "rate").Status.LastGoodDigest == manifest.String() })
	cur := mustGet(t, ctx, c, ns, "rate")
	cur.Spec.URL = "oci://" + reg + "/filters/kube:v2"
	if err := c.Update(ctx, cur); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the canary on v2", func() bool { return p.digest(ns+"/rate") == digest.FromBytes(v2).String() })
	p.loadReports(t).send(xdsapi.FilterLoad{Deployment: ns + "/rate", Digest: digest.FromBytes(v2).String(), Calls: 20, Failures: 10})
	waitFor(t, 30*time.Second, "rate rolled back by its error rate", func() bool {
		cnd := meta.FindStatusCondition(mustGet(t, ctx, c, ns, "rate").Status.Conditions, v1alpha1.ConditionProgressing)
		return cnd != nil && cnd.Reason == v1alpha1.ReasonErrorRateExceeded
	})
	waitFor(t, 30*time.Second, "the proxy back on v1", func() bool { return p.digest(ns+"/rate") == digest.FromBytes(wasm).String() })
	waitFor(t, 30*time.Second, "an ErrorRateExceeded event", func() bool {
		var evs corev1.EventList
		if c.List(ctx, &evs, client.InNamespace(ns)) != nil {
			return false
		}
		for _, e := range evs.Items {
			if e.InvolvedObject.Name == "rate" && e.Reason == v1alpha1.ReasonErrorRateExceeded {
				return true
			}
		}
		return false
	})
}

func mustGet(t *testing.T, ctx context.Context, c client.Client, ns, name string) *v1alpha1.WasmDeployment {
	t.Helper()
	var wd v1alpha1.WasmDeployment
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &wd); err != nil {
		t.Fatal(err)
	}
	return &wd
}
