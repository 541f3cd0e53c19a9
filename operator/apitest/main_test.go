// Package apitest checks the WasmDeployment CRD, the operator's RBAC and kustomize configuration,
// and the generated Istio objects against a real kube-apiserver and etcd with Istio's real CRDs.
//
// It needs the binaries of scripts/install-envtest.sh:
//
//	scripts/install-envtest.sh && go test ./operator/apitest/
package apitest

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/operator/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	var err error
	start := time.Now()
	env, err = testenv.Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "apitest: %v\n", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "apitest: kube-apiserver v%s and etcd ready in %s\n", testenv.KubeVersion, time.Since(start).Round(time.Millisecond))
	code := m.Run()
	if err := env.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "apitest: stopping envtest: %v\n", err)
	}
	os.Exit(code)
}

// ctx returns a context bounded for one API call sequence.
func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}
