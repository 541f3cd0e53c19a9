// Package controller is the WasmDeployment reconciler. It is level-based: each run reads the WasmDeployment,
// the connected proxies and their acknowledgements, and computes what every selected proxy should run and the
// status, whatever event woke it. The same Reconciler runs against the Kubernetes API and against a directory
// (see operator/store); operator.Run wires it to either.
//
//	r := &controller.Reconciler{Store: st, Puller: puller, Delivery: xdsServer, ModulesURL: "http://op:8081"}
//	res, err := r.Reconcile(ctx, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "shop", Name: "auth"}})
package controller
