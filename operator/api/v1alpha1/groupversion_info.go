// Package v1alpha1 holds the wasmesh.io/v1alpha1 API: the WasmDeployment custom resource that
// declares which WebAssembly module runs on which proxies, how it is configured per route, and how a
// new version rolls out.
//
// The Go types are the source of truth: the CRD schema (validation, defaults, printer columns) and
// the deepcopy functions are generated from their markers by scripts/gen-crds.sh.
//
// Register the types with a scheme before building a client:
//
//	scheme := runtime.NewScheme()
//	if err := v1alpha1.AddToScheme(scheme); err != nil { ... }
//	c, err := client.New(cfg, client.Options{Scheme: scheme})
//	var wd v1alpha1.WasmDeployment
//	err = c.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "auth"}, &wd)
//
// +kubebuilder:object:generate=true
// +groupName=wasmesh.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the API group and version of every type in this package.
	GroupVersion = schema.GroupVersion{Group: "wasmesh.io", Version: "v1alpha1"}

	// SchemeBuilder registers the types of this package with a runtime.Scheme. It is
	// apimachinery's, not controller-runtime's, so importing the API pulls in no controller code.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the types of this package to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// Kind is the kind of the WasmDeployment resource, used in ownerReferences and events.
const Kind = "WasmDeployment"

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &WasmDeployment{}, &WasmDeploymentList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
