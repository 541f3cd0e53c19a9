//go:build e2e

package docs

import (
	"testing"
	"time"
)

// TestGuidesE2E runs every guide whole, the slow blocks (builds, the demo) included, in the order written.
func TestGuidesE2E(t *testing.T) {
	for _, name := range guides {
		t.Run(name, func(t *testing.T) {
			runSession(t, name, readGuide(t, name), 15*time.Minute, "run", "e2e")
		})
	}
}
