package v1alpha1_test

import (
	"os/exec"
	"testing"
)

// TestGeneratedUpToDate fails when the committed deepcopy, CRD or ClusterRole differ from what
// controller-gen makes of the current types and markers. It costs a few seconds once controller-gen
// is in the build cache (the first run fetches it from the module proxy).
func TestGeneratedUpToDate(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: not running controller-gen")
	}
	cmd := exec.Command("bash", "../../../scripts/gen-crds.sh", "--check")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/gen-crds.sh --check: %v\n%s", err, out)
	}
}
