// Package operator is the wasmesh operator: it turns WasmDeployment resources into Wasm filters
// running on wasmesh proxies (over xDS) and on Istio's Envoy proxies (through owned WasmPlugin and
// EnvoyFilter objects).
//
// Its parts live in subpackages, among them api/v1alpha1 (the WasmDeployment API) and istio
// (WasmPlugin and EnvoyFilter generation). This file holds the RBAC markers from which scripts/gen-crds.sh writes
// config/rbac/role.yaml, so the permissions sit next to the code that needs them:
//
//	scripts/gen-crds.sh   # regenerates config/rbac/role.yaml from the markers below
package operator

// The operator reads and updates WasmDeployments and their status, and sets finalizers on them so
// a deletion can first withdraw the plugin from wasmesh proxies.
// +kubebuilder:rbac:groups=wasmesh.io,resources=wasmdeployments,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=wasmesh.io,resources=wasmdeployments/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=wasmesh.io,resources=wasmdeployments/finalizers,verbs=update

// It owns the Istio objects generated from a WasmDeployment.
// +kubebuilder:rbac:groups=extensions.istio.io,resources=wasmplugins,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=networking.istio.io,resources=envoyfilters,verbs=get;list;watch;create;update;patch;delete

// It records events on WasmDeployments.
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Not here, on purpose (hand-written in config/rbac so they can be scoped): reading imagePullSecrets
// (secret_reader_role.yaml, a ClusterRole to bind with a RoleBinding in each namespace that has
// WasmDeployments) and leader election leases (leader_election_role.yaml, a Role in the operator's
// namespace).
