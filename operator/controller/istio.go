package controller

import (
	"context"
	"fmt"
	"slices"

	networkingv1alpha3 "istio.io/client-go/pkg/apis/networking/v1alpha3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/wasmesh/wasmesh/operator/api/v1alpha1"
	"github.com/wasmesh/wasmesh/operator/istio"
)

// IstioApplier writes the Istio objects that run a WasmDeployment on Envoy; nil outside a cluster.
type IstioApplier interface {
	Apply(ctx context.Context, wd *v1alpha1.WasmDeployment, resolvedDigest string) error
}

// IstioObjects applies operator/istio's WasmPlugin and EnvoyFilters with a client. The objects are owned by the
// WasmDeployment, so the garbage collector removes them with it; EnvoyFilters no longer generated (a route
// override removed) are deleted here.
type IstioObjects struct{ Client client.Client }

var _ IstioApplier = IstioObjects{}

// Apply implements IstioApplier.
func (a IstioObjects) Apply(ctx context.Context, wd *v1alpha1.WasmDeployment, resolvedDigest string) error {
	wp, err := istio.WasmPlugin(wd, resolvedDigest)
	if err != nil {
		return err
	}
	if err := a.put(ctx, wp); err != nil {
		return err
	}
	efs, err := istio.EnvoyFilters(wd)
	if err != nil {
		return err
	}
	keep := map[string]bool{}
	for _, ef := range efs {
		keep[ef.Name] = true
		if err := a.put(ctx, ef); err != nil {
			return err
		}
	}
	var l networkingv1alpha3.EnvoyFilterList
	if err := a.Client.List(ctx, &l, client.InNamespace(wd.Namespace), client.MatchingLabels{istio.LabelManagedBy: istio.ManagedBy, istio.LabelDeployment: wd.Name}); err != nil {
		return fmt.Errorf("listing the EnvoyFilters of %s/%s: %w", wd.Namespace, wd.Name, err)
	}
	for _, ef := range l.Items {
		if !keep[ef.Name] && slices.ContainsFunc(ef.OwnerReferences, func(o metav1.OwnerReference) bool { return o.UID == wd.UID }) {
			if err := a.Client.Delete(ctx, ef); client.IgnoreNotFound(err) != nil {
				return fmt.Errorf("deleting EnvoyFilter %s/%s: %w", ef.Namespace, ef.Name, err)
			}
		}
	}
	return nil
}

// put creates obj or replaces the existing object's content with it.
func (a IstioObjects) put(ctx context.Context, obj client.Object) error {
	cur := obj.DeepCopyObject().(client.Object)
	err := a.Client.Get(ctx, client.ObjectKeyFromObject(obj), cur)
	switch {
	case apierrors.IsNotFound(err):
		err = a.Client.Create(ctx, obj)
	case err == nil:
		obj.SetResourceVersion(cur.GetResourceVersion())
		err = a.Client.Update(ctx, obj)
	}
	if err != nil {
		return fmt.Errorf("writing %T %s/%s (are Istio's CRDs installed?): %w", obj, obj.GetNamespace(), obj.GetName(), err)
	}
	return nil
}
