package oci

import (
	"fmt"
	"strings"
)

// Media types of the formats this package writes and reads.
const (
	// Istio/Solo "oci" variant (github.com/solo-io/wasm/spec): pulled by Istio's agent, Alibaba ASM, Envoy Gateway.
	MediaTypeIstioConfig = "application/vnd.module.wasm.config.v1+json"
	MediaTypeIstioLayer  = "application/vnd.module.wasm.content.layer.v1+wasm"

	// CNCF TAG Runtime Wasm OCI artifact: containerd runwasi, wasmCloud, wkg.
	MediaTypeWasmConfig = "application/vnd.wasm.config.v0+json"
	MediaTypeWasmLayer  = "application/wasm"

	// wasmesh plugin-config layers, attached to either format (see docs/oci.md).
	MediaTypePluginConfig       = "application/vnd.wasmesh.plugin.config.v1+json"
	MediaTypePluginConfigSchema = "application/vnd.wasmesh.plugin.config.schema.v1+json"

	// Image media types met in "compat" images, whose last layer is a tar(+gzip) holding plugin.wasm.
	MediaTypeOCIManifest       = "application/vnd.oci.image.manifest.v1+json"
	MediaTypeOCIIndex          = "application/vnd.oci.image.index.v1+json"
	MediaTypeDockerManifest    = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerList        = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaTypeOCILayerTarGzip   = "application/vnd.oci.image.layer.v1.tar+gzip"
	MediaTypeOCILayerTar       = "application/vnd.oci.image.layer.v1.tar"
	MediaTypeDockerLayerTarGz  = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	MediaTypeDockerImageConfig = "application/vnd.docker.container.image.v1+json"
	MediaTypeOCIImageConfig    = "application/vnd.oci.image.config.v1+json"
)

// Annotation keys. The org.opencontainers.image.* keys are the OCI standard ones; io.wasmesh.* are ours and are
// documented in docs/oci.md.
const (
	AnnotationCreated    = "org.opencontainers.image.created"
	AnnotationSource     = "org.opencontainers.image.source"
	AnnotationRevision   = "org.opencontainers.image.revision"
	AnnotationTitle      = "org.opencontainers.image.title"
	AnnotationABIVersion = "io.wasmesh.abi.version"
	AnnotationSDK        = "io.wasmesh.sdk"
	AnnotationLanguage   = "io.wasmesh.language"
	AnnotationEntryPoint = "io.wasmesh.entrypoint"
)

// Format selects the manifest layout Push writes.
type Format string

const (
	// FormatIstio is the Istio/Solo "oci" variant; the default because it is what service meshes pull (docs/oci.md).
	FormatIstio Format = "istio"
	// FormatWasm is the CNCF Wasm OCI artifact with an OCI 1.1 artifactType.
	FormatWasm Format = "wasm"
)

// Formats lists the accepted --format values.
var formatNames = map[string]Format{
	"istio": FormatIstio, "oci": FormatIstio, "solo": FormatIstio,
	"wasm": FormatWasm, "cncf": FormatWasm,
}

// ParseFormat maps a --format value to a Format; "" means the default.
func ParseFormat(s string) (Format, error) {
	if s == "" {
		return FormatIstio, nil
	}
	if f, ok := formatNames[strings.ToLower(s)]; ok {
		return f, nil
	}
	return "", fmt.Errorf("unknown format %q: use istio (alias oci, solo) or wasm (alias cncf)", s)
}
