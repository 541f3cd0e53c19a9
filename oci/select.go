package oci

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// This file decides, from untrusted manifest bytes, which blob holds the module. It does no I/O so that it can
// be fuzzed (FuzzParseManifest, FuzzSelectPlatform).

// layerKind says how a selected layer holds the module.
type layerKind int

const (
	// kindRaw: the blob is the module itself.
	kindRaw layerKind = iota
	// kindArchive: the blob is a tar, maybe gzip-compressed, holding plugin.wasm ("compat" images); a raw module
	// under a tar media type (what `oras push file.wasm` does without a type) is recognised by its magic.
	kindArchive
)

// candidate is a layer to try, in order.
type candidate struct {
	desc ocispec.Descriptor
	kind layerKind
}

// rawLayerTypes hold the module bytes directly.
var rawLayerTypes = []string{
	MediaTypeIstioLayer,
	MediaTypeWasmLayer,
	"application/vnd.wasm.content.layer.v1+wasm", // wasm-to-oci (engineerd), still found in old registries
}

// archiveLayerTypes may hold plugin.wasm in a tar stream.
var archiveLayerTypes = []string{
	MediaTypeOCILayerTarGzip,
	MediaTypeOCILayerTar,
	MediaTypeDockerLayerTarGz,
	"application/vnd.docker.image.rootfs.diff.tar",
}

// manifestDoc is the union of the fields we read from image manifests and indexes.
type manifestDoc struct {
	SchemaVersion int                  `json:"schemaVersion"`
	MediaType     string               `json:"mediaType,omitempty"`
	ArtifactType  string               `json:"artifactType,omitempty"`
	Config        *ocispec.Descriptor  `json:"config,omitempty"`
	Layers        []ocispec.Descriptor `json:"layers,omitempty"`
	Manifests     []ocispec.Descriptor `json:"manifests,omitempty"`
	Subject       *ocispec.Descriptor  `json:"subject,omitempty"`
	Annotations   map[string]string    `json:"annotations,omitempty"`
}

// isIndex reports whether a manifest media type names an index (OCI index or Docker manifest list).
func isIndex(mediaType string) bool {
	return mediaType == MediaTypeOCIIndex || mediaType == MediaTypeDockerList
}

// parseManifest decodes manifest or index bytes served with mediaType (the Content-Type, which wins over the
// body's own mediaType field when they disagree, as registries validate the former).
func parseManifest(mediaType string, data []byte) (*manifestDoc, error) {
	var doc manifestDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%w: manifest is not valid JSON: %v", ErrUnsupportedMediaType, err)
	}
	if doc.SchemaVersion != 2 {
		return nil, fmt.Errorf("%w: manifest schemaVersion %d (want 2; Docker schema 1 is not supported)", ErrUnsupportedMediaType, doc.SchemaVersion)
	}
	if mediaType == "" || mediaType == "application/json" {
		mediaType = doc.MediaType
	}
	if mediaType == "" { // an OCI manifest may omit it: tell an index from a manifest by shape
		if doc.Manifests != nil {
			mediaType = MediaTypeOCIIndex
		} else {
			mediaType = MediaTypeOCIManifest
		}
	}
	switch mediaType {
	case MediaTypeOCIManifest, MediaTypeDockerManifest:
		if doc.Config == nil {
			return nil, fmt.Errorf("%w: %s without a config descriptor", ErrUnsupportedMediaType, mediaType)
		}
	case MediaTypeOCIIndex, MediaTypeDockerList:
	default:
		return nil, fmt.Errorf("%w: manifest media type %q", ErrUnsupportedMediaType, mediaType)
	}
	doc.MediaType = mediaType
	for _, d := range slices.Concat(doc.Layers, doc.Manifests) {
		if err := d.Digest.Validate(); err != nil {
			return nil, fmt.Errorf("%w: descriptor digest %q: %v", ErrUnsupportedMediaType, d.Digest, err)
		}
		if d.Size < 0 {
			return nil, fmt.Errorf("%w: descriptor %s has negative size", ErrUnsupportedMediaType, d.Digest)
		}
	}
	return &doc, nil
}

// selectPlatform picks the wasip1/wasm entry of an index ("wasi"/"wasip2" are accepted after it, as some tools
// write those). Entries without a platform are considered only when they are the sole entry.
func selectPlatform(doc *manifestDoc) (ocispec.Descriptor, error) {
	best, bestRank := -1, 99
	for i, m := range doc.Manifests {
		if m.Platform == nil || m.Platform.Architecture != "wasm" {
			continue
		}
		rank := slices.Index([]string{"wasip1", "wasi", "wasip2"}, m.Platform.OS)
		if rank >= 0 && rank < bestRank {
			best, bestRank = i, rank
		}
	}
	if best >= 0 {
		return doc.Manifests[best], nil
	}
	if len(doc.Manifests) == 1 && doc.Manifests[0].Platform == nil {
		return doc.Manifests[0], nil
	}
	var seen []string
	for _, m := range doc.Manifests {
		if m.Platform != nil {
			seen = append(seen, m.Platform.OS+"/"+m.Platform.Architecture)
		}
	}
	return ocispec.Descriptor{}, fmt.Errorf("%w: index has no wasip1/wasm platform (has %s)", ErrNoModule, strings.Join(seen, ", "))
}

// selectLayers orders the layers to try: layers typed as Wasm first (Istio "oci", CNCF, wasm-to-oci), then tar
// layers from last to first ("compat" images put plugin.wasm in the last layer, but any number of layers is
// accepted, unlike Istio's exact-two rule). Unknown layer types are skipped; none usable is an error.
func selectLayers(doc *manifestDoc) ([]candidate, error) {
	var out []candidate
	for _, l := range doc.Layers {
		if slices.Contains(rawLayerTypes, l.MediaType) {
			out = append(out, candidate{desc: l, kind: kindRaw})
		}
	}
	for i := len(doc.Layers) - 1; i >= 0; i-- {
		if slices.Contains(archiveLayerTypes, doc.Layers[i].MediaType) {
			out = append(out, candidate{desc: doc.Layers[i], kind: kindArchive})
		}
	}
	if len(out) == 0 {
		types := make([]string, 0, len(doc.Layers))
		for _, l := range doc.Layers {
			types = append(types, l.MediaType)
		}
		cfg := ""
		if doc.Config != nil {
			cfg = doc.Config.MediaType
		}
		return nil, fmt.Errorf("%w: no Wasm layer (config %q, layers [%s]); want %s, %s or a tar layer with plugin.wasm",
			ErrUnsupportedMediaType, cfg, strings.Join(types, ", "), MediaTypeIstioLayer, MediaTypeWasmLayer)
	}
	return out, nil
}
