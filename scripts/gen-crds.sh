#!/bin/bash
# gen-crds.sh regenerates what is derived from the operator's Go types and markers:
#   operator/api/v1alpha1/zz_generated.deepcopy.go   (DeepCopy functions)
#   config/crd/bases/wasmesh.io_wasmdeployments.yaml (the CRD, with its validation)
#   config/rbac/role.yaml                            (ClusterRole from +kubebuilder:rbac markers)
#
# controller-gen runs by exact version from the Go module proxy and stays out of go.mod.
#
#	scripts/gen-crds.sh          # write the files
#	scripts/gen-crds.sh --check  # fail if the committed files differ from fresh output
set -euo pipefail

CONTROLLER_GEN="sigs.k8s.io/controller-tools/cmd/controller-gen@v0.20.0"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

cg() { GOFLAGS= go run "$CONTROLLER_GEN" "$@"; }

if [ "${1:-}" = "--check" ]; then
	# Generate into a temporary directory and compare, leaving the work tree alone.
	tmp="$(mktemp -d)"
	trap 'rm -rf "$tmp"' EXIT
	cg object paths=./operator/api/... output:object:stdout >"$tmp/zz_generated.deepcopy.go"
	cg crd paths=./operator/api/... output:crd:artifacts:config="$tmp"
	cg rbac:roleName=operator paths=./operator/ output:rbac:artifacts:config="$tmp"
	status=0
	for pair in "zz_generated.deepcopy.go operator/api/v1alpha1/zz_generated.deepcopy.go" \
		"wasmesh.io_wasmdeployments.yaml config/crd/bases/wasmesh.io_wasmdeployments.yaml" \
		"role.yaml config/rbac/role.yaml"; do
		set -- $pair
		if ! diff -u "$2" "$tmp/$1"; then
			echo "gen-crds.sh: $2 is out of date: run scripts/gen-crds.sh and commit the result" >&2
			status=1
		fi
	done
	exit $status
fi

cg object paths=./operator/api/...
cg crd paths=./operator/api/... output:crd:artifacts:config=config/crd/bases
cg rbac:roleName=operator paths=./operator/ output:rbac:artifacts:config=config/rbac
echo "gen-crds.sh: wrote deepcopy, CRD and ClusterRole"
