package oci_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"testing"

	"github.com/wasmesh/wasmesh/oci"
	"github.com/wasmesh/wasmesh/oci/registrytest"
)

// BenchmarkPull5MiB pulls a 5 MiB module by digest from a local plain-HTTP registry (bytes/op are the module).
func BenchmarkPull5MiB(b *testing.B) {
	reg := registrytest.Start(b, registrytest.Config{})
	c, err := oci.NewClient(oci.Options{Default: oci.RegistryOptions{PlainHTTP: true}, Credential: noCredentials})
	if err != nil {
		b.Fatal(err)
	}
	payload := make([]byte, 5<<20)
	_, _ = rand.Read(payload)
	wasm := registrytest.Module(payload)
	desc, err := c.Push(context.Background(), reg.Host+"/bench/big:v1", wasm, oci.PushOptions{})
	if err != nil {
		b.Fatal(err)
	}
	ref := reg.Host + "/bench/big@" + desc.Digest.String()
	b.SetBytes(int64(len(wasm)))
	b.ReportAllocs()
	for b.Loop() {
		m, err := c.Pull(context.Background(), ref, oci.PullOptions{})
		if err != nil || !bytes.Equal(m.Bytes[:64], wasm[:64]) {
			b.Fatal(err)
		}
	}
}
