#!/bin/bash
# gen-crds.sh regenerates what is derived from the operator's Go types and markers:
#   operator/api/v1alpha1/zz_generated.deepcopy.go   (DeepCopy functions)
#   config/crd/bases/wasmesh.io_wasmdeployments.yaml (the CRD, with its validation)
#   config/rbac/role.yaml                            (ClusterRole from +kubebuilder:rbac markers)
#
# controller-gen runs by exact version from the Go module proxy and stays out of go.mod.
#
#	scripts/gen-crds.sh          # write the files
#	scripts/gen-crds.sh --check  # regenerate, then fail if that changed the committed files
set -euo pipefail

CONTROLLER_GEN="sigs.k8s.io/controller-tools/cmd/controller-gen@v0.20.0"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

cg() { GOFLAGS= go run "$CONTROLLER_GEN" "$@"; }

cg object paths=./operator/api/...
cg crd paths=./operator/api/... output:crd:artifacts:config=config/crd/bases
cg rbac:roleName=operator paths=./operator/ output:rbac:artifacts:config=config/rbac

if [ "${1:-}" = "--check" ]; then
	generated="operator/api/v1alpha1/zz_generated.deepcopy.go config/crd/bases config/rbac/role.yaml"
	# shellcheck disable=SC2086
	if [ -n "$(git status --porcelain -- $generated)" ]; then
		git --no-pager diff -- $generated
		echo "gen-crds.sh: generated files are out of date: run scripts/gen-crds.sh and commit the result" >&2
		exit 1
	fi
	exit 0
fi
echo "gen-crds.sh: wrote deepcopy, CRD and ClusterRole"
