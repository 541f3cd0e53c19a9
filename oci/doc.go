// Package oci packs Wasm modules into OCI artifacts and pushes, pulls, verifies and describes them; the CLI, the
// proxy and the operator all go through it. It writes the Istio/Solo "oci" variant (default) or the CNCF Wasm
// artifact, and reads those plus Docker/OCI "compat" images (plugin.wasm in a tar layer) and image indexes
// (wasip1/wasm platform). Shared error values are in errdef.go; the on-disk module cache is oci/cache and an
// embeddable registry is oci/registry. See docs/oci.md.
//
//	c, err := oci.NewClient(oci.Options{}) // credentials from ~/.docker/config.json
//	desc, err := c.Push(ctx, "registry.local:5000/filters/auth:v1", wasm, oci.PushOptions{})
//	m, err := c.Pull(ctx, "registry.local:5000/filters/auth:v1", oci.PullOptions{SHA256: pin})
//	// m.Bytes is the module, m.ManifestDigest and m.ModuleDigest say exactly what it is
package oci
