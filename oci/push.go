package oci

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"time"

	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote"
)

// PushOptions describe the artifact Push writes.
type PushOptions struct {
	// Format picks the layout; "" is FormatIstio.
	Format Format
	// Title names the module layer (org.opencontainers.image.title), the file name `oras pull` writes; default
	// "plugin.wasm".
	Title string
	// Annotations go on the manifest. org.opencontainers.image.created is added when missing.
	Annotations map[string]string
	// PluginConfig is a default plugin configuration (JSON) and PluginConfigSchema its JSON schema. They are
	// attached as a referrer artifact (artifactType MediaTypePluginConfig, subject the module manifest), not as
	// layers, so the module manifest stays exactly what Istio's agent accepts. See docs/oci.md.
	PluginConfig, PluginConfigSchema []byte
	// Created overrides the creation time (reproducible pushes); zero means now.
	Created time.Time
	// Progress, when set, is called as module bytes are uploaded.
	Progress func(done, total int64)
}

// istioConfig is the Solo/Istio runtime config; Istio ignores its content but some tools read abiVersions.
type istioConfig struct {
	Type        string   `json:"type"`
	ABIVersions []string `json:"abiVersions,omitempty"`
}

// wasmConfig is the CNCF Wasm OCI artifact config (application/vnd.wasm.config.v0+json).
type wasmConfig struct {
	Created      string   `json:"created"`
	Author       string   `json:"author,omitempty"`
	Architecture string   `json:"architecture"`
	OS           string   `json:"os"`
	LayerDigests []string `json:"layerDigests"`
}

// Push uploads wasm to refStr (which must carry a tag, or defaults to "latest") and returns the manifest
// descriptor. Blobs the registry already has are not uploaded again.
func (c *Client) Push(ctx context.Context, refStr string, wasm []byte, opts PushOptions) (ocispec.Descriptor, error) {
	ref, err := ParseReference(refStr)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if ref.Digest != "" {
		return ocispec.Descriptor{}, fmt.Errorf("push %s: %w: push to a tag, the digest is computed", ref, ErrInvalidReference)
	}
	if !bytes.HasPrefix(wasm, wasmMagic) {
		return ocispec.Descriptor{}, fmt.Errorf("push %s: %w: file starts with %q", ref, ErrNotWasm, head(wasm))
	}
	if int64(len(wasm)) > c.opts.MaxModuleBytes {
		return ocispec.Descriptor{}, fmt.Errorf("push %s: %w: module is %d bytes, limit %d", ref, ErrTooLarge, len(wasm), c.opts.MaxModuleBytes)
	}
	for name, doc := range map[string][]byte{"plugin config": opts.PluginConfig, "plugin config schema": opts.PluginConfigSchema} {
		if doc != nil && !json.Valid(doc) {
			return ocispec.Descriptor{}, fmt.Errorf("push %s: %s is not valid JSON", ref, name)
		}
	}
	manifest, err := buildManifest(wasm, opts)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("push %s: %w", ref, err)
	}
	repo, err := c.repository(ref)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	for _, b := range manifest.blobs {
		progress := opts.Progress
		if b.desc.Digest != manifest.module.Digest {
			progress = nil
		}
		if err := pushBlob(ctx, repo, b.desc, b.data, progress); err != nil {
			return ocispec.Descriptor{}, classify("push "+ref.String(), b.desc.Digest, err)
		}
	}
	desc := content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, manifest.raw)
	if int64(len(manifest.raw)) > c.opts.MaxManifestBytes {
		return ocispec.Descriptor{}, fmt.Errorf("push %s: %w: manifest is %d bytes", ref, ErrTooLarge, len(manifest.raw))
	}
	if err := repo.PushReference(ctx, desc, bytes.NewReader(manifest.raw), ref.Tag); err != nil {
		return ocispec.Descriptor{}, classify("push manifest "+ref.String(), desc.Digest, err)
	}
	c.log.Debug("pushed module", "ref", ref.String(), "manifest", desc.Digest, "module", manifest.module.Digest, "format", opts.Format)
	desc.ArtifactType = manifest.artifactType
	desc.Annotations = manifest.annotations
	if opts.PluginConfig != nil || opts.PluginConfigSchema != nil {
		if err := pushPluginConfig(ctx, repo, desc, opts); err != nil {
			return ocispec.Descriptor{}, classify("push plugin config "+ref.String(), desc.Digest, err)
		}
	}
	return desc, nil
}

// pushPluginConfig attaches the default plugin config and its schema as a referrer artifact (OCI 1.1 subject) of
// the module manifest rather than as extra layers, so the module manifest keeps the exact layer count Istio's
// agent demands. oras-go falls back to the referrers tag schema on registries without the referrers API.
func pushPluginConfig(ctx context.Context, repo *remote.Repository, subject ocispec.Descriptor, opts PushOptions) error {
	var layers []ocispec.Descriptor
	for _, extra := range []struct {
		mediaType, title string
		data             []byte
	}{
		{MediaTypePluginConfig, "plugin-config.json", opts.PluginConfig},
		{MediaTypePluginConfigSchema, "plugin-config.schema.json", opts.PluginConfigSchema},
	} {
		if extra.data == nil {
			continue
		}
		d := content.NewDescriptorFromBytes(extra.mediaType, extra.data)
		d.Annotations = map[string]string{AnnotationTitle: extra.title}
		if err := pushBlob(ctx, repo, d, extra.data, nil); err != nil {
			return err
		}
		layers = append(layers, d)
	}
	created := subject.Annotations[AnnotationCreated]
	subject.Annotations, subject.ArtifactType = nil, ""
	_, err := oras.PackManifest(ctx, repo, oras.PackManifestVersion1_1, MediaTypePluginConfig, oras.PackManifestOptions{
		Subject:             &subject,
		Layers:              layers,
		ManifestAnnotations: map[string]string{AnnotationCreated: created},
	})
	return err
}

type blob struct {
	desc ocispec.Descriptor
	data []byte
}

type builtManifest struct {
	raw          []byte
	module       ocispec.Descriptor
	blobs        []blob // config first, then layers
	artifactType string
	annotations  map[string]string
}

// buildManifest lays out the artifact for opts.Format; it does no I/O (tested byte for byte).
func buildManifest(wasm []byte, opts PushOptions) (*builtManifest, error) {
	created := opts.Created
	if created.IsZero() {
		created = time.Now()
	}
	ann := maps.Clone(opts.Annotations)
	if ann == nil {
		ann = map[string]string{}
	}
	if ann[AnnotationCreated] == "" {
		ann[AnnotationCreated] = created.UTC().Format(time.RFC3339)
	}
	title := opts.Title
	if title == "" {
		title = "plugin.wasm"
	}
	format := opts.Format
	if format == "" {
		format = FormatIstio
	}

	var layerType, configType, artifactType string
	var configData []byte
	var err error
	switch format {
	case FormatIstio:
		layerType, configType = MediaTypeIstioLayer, MediaTypeIstioConfig
		cfg := istioConfig{Type: "envoy_proxy"}
		if v := ann[AnnotationABIVersion]; v != "" {
			cfg.ABIVersions = []string{v}
		}
		configData, err = json.Marshal(cfg)
	case FormatWasm:
		layerType, configType, artifactType = MediaTypeWasmLayer, MediaTypeWasmConfig, MediaTypeWasmConfig
		configData, err = json.Marshal(wasmConfig{
			Created:      ann[AnnotationCreated],
			Author:       ann["org.opencontainers.image.authors"],
			Architecture: "wasm",
			OS:           "wasip1",
			LayerDigests: []string{content.NewDescriptorFromBytes(MediaTypeWasmLayer, wasm).Digest.String()},
		})
	default:
		return nil, fmt.Errorf("unknown format %q", format)
	}
	if err != nil {
		return nil, err
	}

	module := content.NewDescriptorFromBytes(layerType, wasm)
	module.Annotations = map[string]string{AnnotationTitle: title}
	config := content.NewDescriptorFromBytes(configType, configData)
	out := &builtManifest{module: module, artifactType: artifactType, annotations: ann}
	out.blobs = append(out.blobs, blob{config, configData}, blob{module, wasm})
	layers := []ocispec.Descriptor{module}
	if format == FormatIstio {
		// Istio's agent takes the "oci" variant only with exactly two layers, the runtime config and the module,
		// as Solo's wasme pushed it; the config blob doubles as the first layer.
		cfgLayer := config
		cfgLayer.Annotations = map[string]string{AnnotationTitle: "runtime-config.json"}
		layers = []ocispec.Descriptor{cfgLayer, module}
	}
	out.raw, err = json.Marshal(ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: artifactType,
		Config:       config,
		Layers:       layers,
		Annotations:  ann,
	})
	return out, err
}

func pushBlob(ctx context.Context, repo *remote.Repository, desc ocispec.Descriptor, data []byte, progress func(done, total int64)) error {
	exists, err := repo.Blobs().Exists(ctx, desc)
	if err != nil {
		return err
	}
	if exists {
		if progress != nil {
			progress(desc.Size, desc.Size)
		}
		return nil
	}
	var r io.Reader = bytes.NewReader(data)
	if progress != nil {
		r = &progressReader{r: r, total: desc.Size, fn: progress}
	}
	return repo.Blobs().Push(ctx, desc, r)
}
