package controller

import (
	"fmt"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/wasmesh/wasmesh/operator/api/v1alpha1"
	"github.com/wasmesh/wasmesh/xdsapi"
)

func TestSelects(t *testing.T) {
	wd := &v1alpha1.WasmDeployment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop"},
		Spec: v1alpha1.WasmDeploymentSpec{Selector: &v1alpha1.WorkloadSelector{MatchLabels: map[string]string{"app": "web"}}}}
	tests := []struct {
		node xdsapi.Node
		want bool
	}{
		{xdsapi.Node{Namespace: "shop", Labels: map[string]string{"app": "web"}}, true},
		{xdsapi.Node{Namespace: "shop", Labels: map[string]string{"app": "web", "tier": "1"}}, true},
		{xdsapi.Node{Namespace: "shop", Labels: map[string]string{"app": "db"}}, false},
		{xdsapi.Node{Namespace: "shop"}, false},
		{xdsapi.Node{Namespace: "other", Labels: map[string]string{"app": "web"}}, false},
	}
	for i, tc := range tests {
		if got := selects(wd, tc.node); got != tc.want {
			t.Errorf("%d: selects(%+v) = %v", i, tc.node, got)
		}
	}
	wd.Spec.Selector.MatchLabels = nil
	if !selects(wd, xdsapi.Node{Namespace: "shop"}) {
		t.Error("an empty selector selects the whole namespace")
	}
}

// TestCanaryOrderIsNested: growing the fleet's prefix keeps earlier canaries, and two deployments pick
// different canaries.
func TestCanaryOrderIsNested(t *testing.T) {
	var nodes []xdsapi.Node
	for i := range 100 {
		nodes = append(nodes, xdsapi.Node{ID: fmt.Sprintf("n%d", i)})
	}
	a := append([]xdsapi.Node(nil), nodes...)
	canaryOrder("shop/a", a)
	again := append([]xdsapi.Node(nil), nodes[50:]...)
	again = append(again, nodes[:50]...)
	canaryOrder("shop/a", again)
	for i := range a {
		if a[i].ID != again[i].ID {
			t.Fatalf("order depends on the input order at %d", i)
		}
	}
	b := append([]xdsapi.Node(nil), nodes...)
	canaryOrder("shop/b", b)
	same := 0
	for i := range 10 {
		if a[i].ID == b[i].ID {
			same++
		}
	}
	if same == 10 {
		t.Error("two deployments chose the same first canaries")
	}
}
