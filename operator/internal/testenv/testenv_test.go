package testenv

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAssetsDir(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("KUBEBUILDER_ASSETS", dir)
	_, err := AssetsDir()
	if !errors.Is(err, ErrAssetsMissing) || !strings.Contains(err.Error(), "run scripts/install-envtest.sh") {
		t.Fatalf("empty assets dir: got %v, want an error saying to run scripts/install-envtest.sh", err)
	}
	for _, bin := range []string{"kube-apiserver", "etcd", "kubectl"} {
		if err := os.WriteFile(filepath.Join(dir, bin), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := AssetsDir(); err != nil || got != dir {
		t.Fatalf("got %q, %v; want %q", got, err, dir)
	}
	// Without KUBEBUILDER_ASSETS the versioned cache directory is used.
	t.Setenv("KUBEBUILDER_ASSETS", "")
	t.Setenv("XDG_CACHE_HOME", dir)
	_, err = AssetsDir()
	if want := filepath.Join(dir, "wasmesh", "envtest", "v"+KubeVersion, "kube-apiserver"); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want it to name %s", err, want)
	}
}
