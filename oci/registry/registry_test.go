package registry_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/wasmesh/wasmesh/oci"
	"github.com/wasmesh/wasmesh/oci/registry"
	"github.com/wasmesh/wasmesh/oci/registrytest"
)

// serve starts a registry on a free port and returns its address and a stop function that waits for Start.
func serve(t *testing.T, root string) (string, func()) {
	t.Helper()
	srv, err := registry.New(registry.Options{Addr: "127.0.0.1:0", Root: root})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	select {
	case addr := <-srv.Ready():
		return addr, func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Start returned %v after cancel", err)
			}
		}
	case err := <-done:
		t.Fatalf("Start: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("registry not ready in 10s")
	}
	return "", nil
}

func TestServesPushAndPullAndPersists(t *testing.T) {
	root := t.TempDir()
	addr, stop := serve(t, root)
	if strings.HasSuffix(addr, ":0") {
		t.Fatalf("Ready reported %s, not the real port", addr)
	}
	c, err := oci.NewClient(oci.Options{Default: oci.RegistryOptions{PlainHTTP: true}, Credential: auth.StaticCredential("", auth.Credential{})})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	wasm := registrytest.Module([]byte("embedded"))
	for _, f := range []oci.Format{oci.FormatIstio, oci.FormatWasm} {
		ref := addr + "/embedded/demo:" + string(f)
		if _, err := c.Push(ctx, ref, wasm, oci.PushOptions{Format: f}); err != nil {
			t.Fatalf("push %s: %v", f, err)
		}
	}
	stop()

	addr2, stop2 := serve(t, root) // a new server on the same root still has the modules
	defer stop2()
	for _, f := range []oci.Format{oci.FormatIstio, oci.FormatWasm} {
		m, err := c.Pull(ctx, addr2+"/embedded/demo:"+string(f), oci.PullOptions{})
		if err != nil {
			t.Fatalf("pull %s after restart: %v", f, err)
		}
		if !bytes.Equal(m.Bytes, wasm) {
			t.Errorf("pull %s: %d bytes", f, len(m.Bytes))
		}
	}
}

func TestNewRequiresRoot(t *testing.T) {
	if _, err := registry.New(registry.Options{}); err == nil {
		t.Fatal("New without Root accepted")
	}
}

func TestAddressInUse(t *testing.T) {
	addr, stop := serve(t, t.TempDir())
	defer stop()
	srv, err := registry.New(registry.Options{Addr: addr, Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err == nil || !strings.Contains(err.Error(), addr) {
		t.Fatalf("second registry on %s: %v", addr, err)
	}
}
