package oci_test

import (
	"fmt"

	"github.com/wasmesh/wasmesh/oci"
)

func ExampleParseReference() {
	ref, err := oci.ParseReference("registry.local:5000/filters/auth:v1@sha256:93a44bbb96c751218e4c00d479e4c14358122a389acca16205b1e4d0dc5f9476")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(ref.Registry, ref.Repository, ref.Tag, ref.Digest.Encoded()[:12])

	_, err = oci.ParseReference("auth:v1") // no registry host: refused, never guessed as docker.io
	fmt.Println(err != nil)
	// Output:
	// registry.local:5000 filters/auth v1 93a44bbb96c7
	// true
}

func ExampleParseFormat() {
	for _, s := range []string{"", "oci", "cncf"} {
		f, _ := oci.ParseFormat(s)
		fmt.Printf("%q -> %s\n", s, f)
	}
	// Output:
	// "" -> istio
	// "oci" -> istio
	// "cncf" -> wasm
}
