//go:build e2e

package demo

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestDemo runs the whole story against the binaries `make test-e2e` builds (bin/wasmesh, bin/filters), with
// real processes on loopback, and fails if any check does.
func TestDemo(t *testing.T) {
	bin, err := filepath.Abs("../bin/wasmesh")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%v: run make build filters (make test-e2e does)", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out bytes.Buffer
	err = Run(ctx, Options{Binary: bin, Filters: "../bin/filters", Samples: "../samples", Out: &out})
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
}
