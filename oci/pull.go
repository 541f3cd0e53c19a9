package oci

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote"
)

// wasmMagic starts every Wasm binary.
var wasmMagic = []byte("\x00asm")

// Module is a pulled module with the facts about where it came from.
type Module struct {
	// Reference is the reference as asked, Resolved the same with the manifest digest filled in.
	Reference, Resolved Reference
	// ManifestDigest is the digest of the manifest holding the module (inside the index, if there was one).
	ManifestDigest digest.Digest
	// IndexDigest is set when the reference named an image index.
	IndexDigest digest.Digest
	// ModuleDigest is the sha256 of Bytes: what Istio's WasmPlugin.sha256 and --sha256 pin.
	ModuleDigest digest.Digest
	// MediaType, ArtifactType, Config, Layers and Annotations come from the manifest.
	MediaType    string
	ArtifactType string
	Config       ocispec.Descriptor
	Layers       []ocispec.Descriptor
	Annotations  map[string]string
	// Layer is the layer the module was taken from; Compat is true when it came out of a tar layer.
	Layer  ocispec.Descriptor
	Compat bool
	// ManifestBytes is the manifest exactly as served.
	ManifestBytes []byte
	// PluginConfig and PluginConfigSchema are the attached default plugin config and its schema, fetched when
	// PullOptions.WithPluginConfig is set and the artifact has them.
	PluginConfig, PluginConfigSchema []byte
	// Bytes is the module.
	Bytes []byte
}

// PullOptions tune one pull.
type PullOptions struct {
	// SHA256 pins the module bytes (hex, with or without "sha256:"); a mismatch is ErrDigestMismatch.
	SHA256 string
	// Progress, when set, is called as layer bytes arrive.
	Progress func(done, total int64)
	// WithPluginConfig also looks up the plugin config referrer (one or two more requests).
	WithPluginConfig bool
	// Local, when set, is asked for a module by its sha256 before a raw module layer is downloaded (a cache's
	// blobs); what it returns is verified against the layer digest.
	Local func(digest.Digest) ([]byte, bool)
}

// Resolve returns the manifest descriptor a reference points at now (one HEAD request for a tag). For a
// reference with both a tag and a digest the tag must still point at the digest, else ErrTagMoved.
func (c *Client) Resolve(ctx context.Context, refStr string) (Reference, ocispec.Descriptor, error) {
	ref, err := ParseReference(refStr)
	if err != nil {
		return Reference{}, ocispec.Descriptor{}, err
	}
	repo, err := c.repository(ref)
	if err != nil {
		return ref, ocispec.Descriptor{}, err
	}
	desc, err := c.resolve(ctx, repo, ref)
	return ref, desc, err
}

func (c *Client) resolve(ctx context.Context, repo *remote.Repository, ref Reference) (ocispec.Descriptor, error) {
	desc, err := repo.Resolve(ctx, ref.target())
	if err != nil {
		return ocispec.Descriptor{}, classify("resolve "+ref.String(), nil, err)
	}
	if ref.Tag != "" && ref.Digest != "" {
		tagged, err := repo.Resolve(ctx, ref.Tag)
		if err != nil {
			return ocispec.Descriptor{}, classify("resolve "+ref.String(), nil, err)
		}
		if tagged.Digest != ref.Digest {
			return ocispec.Descriptor{}, fmt.Errorf("%s: %w: tag %q now points to %s", ref, ErrTagMoved, ref.Tag, tagged.Digest)
		}
	}
	if ref.Digest != "" && desc.Digest != ref.Digest {
		return ocispec.Descriptor{}, fmt.Errorf("%s: %w: registry answered %s", ref, ErrDigestMismatch, desc.Digest)
	}
	if desc.Size > c.opts.MaxManifestBytes {
		return ocispec.Descriptor{}, fmt.Errorf("%s (%s): %w: manifest is %d bytes, limit %d", ref, desc.Digest, ErrTooLarge, desc.Size, c.opts.MaxManifestBytes)
	}
	return desc, nil
}

// Pull resolves refStr, picks the module out of whatever layout the artifact has, checks it and returns it.
func (c *Client) Pull(ctx context.Context, refStr string, opts PullOptions) (*Module, error) {
	ref, err := ParseReference(refStr)
	if err != nil {
		return nil, err
	}
	var pin digest.Digest
	if opts.SHA256 != "" {
		if pin, err = ParsePin(opts.SHA256); err != nil {
			return nil, fmt.Errorf("%s: %w", ref, err)
		}
	}
	repo, err := c.repository(ref)
	if err != nil {
		return nil, err
	}
	desc, err := c.resolve(ctx, repo, ref)
	if err != nil {
		return nil, err
	}
	m := &Module{Reference: ref, Resolved: ref}
	m.Resolved.Digest = desc.Digest

	doc, raw, err := c.fetchManifest(ctx, repo, ref, desc)
	if err != nil {
		return nil, err
	}
	if isIndex(doc.MediaType) {
		m.IndexDigest = desc.Digest
		if desc, err = selectPlatform(doc); err != nil {
			return nil, fmt.Errorf("%s (%s): %w", ref, m.IndexDigest, err)
		}
		if desc.Size > c.opts.MaxManifestBytes {
			return nil, fmt.Errorf("%s (%s): %w: manifest is %d bytes, limit %d", ref, desc.Digest, ErrTooLarge, desc.Size, c.opts.MaxManifestBytes)
		}
		if doc, raw, err = c.fetchManifest(ctx, repo, ref, desc); err != nil {
			return nil, err
		}
		if isIndex(doc.MediaType) {
			return nil, fmt.Errorf("%s (%s): %w: nested index", ref, desc.Digest, ErrUnsupportedMediaType)
		}
	}
	m.ManifestDigest = desc.Digest
	m.MediaType, m.ArtifactType, m.Layers, m.Annotations, m.ManifestBytes = doc.MediaType, doc.ArtifactType, doc.Layers, doc.Annotations, raw
	if doc.Config != nil {
		m.Config = *doc.Config
	}

	cands, err := selectLayers(doc)
	if err != nil {
		return nil, fmt.Errorf("%s (%s): %w", ref, desc.Digest, err)
	}
	var lastErr error
	for _, cand := range cands {
		wasm, compat, err := c.fetchModule(ctx, repo, ref, cand, opts)
		if err != nil {
			// A tar layer without plugin.wasm is not fatal while others remain; anything else is.
			if errors.Is(err, ErrNoModule) {
				lastErr = err
				continue
			}
			return nil, err
		}
		m.Bytes, m.Layer, m.Compat = wasm, cand.desc, compat
		break
	}
	if m.Bytes == nil {
		return nil, lastErr
	}
	m.ModuleDigest = digest.FromBytes(m.Bytes)
	c.log.Debug("pulled module", "ref", ref.String(), "manifest", m.ManifestDigest, "layer", m.Layer.MediaType,
		"compat", m.Compat, "module", m.ModuleDigest, "bytes", len(m.Bytes))
	if pin != "" && pin != m.ModuleDigest {
		return nil, fmt.Errorf("%s (%s): %w: module is %s, --sha256 pinned %s", ref, desc.Digest, ErrDigestMismatch, m.ModuleDigest, pin)
	}
	if opts.WithPluginConfig {
		if err := c.fetchPluginConfig(ctx, repo, ref, desc, m); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// fetchPluginConfig finds the newest plugin-config referrer of the module manifest and reads its layers.
func (c *Client) fetchPluginConfig(ctx context.Context, repo *remote.Repository, ref Reference, subject ocispec.Descriptor, m *Module) error {
	var newest *ocispec.Descriptor
	err := repo.Referrers(ctx, subject, MediaTypePluginConfig, func(referrers []ocispec.Descriptor) error {
		for i := range referrers {
			r := referrers[i]
			if newest == nil || r.Annotations[AnnotationCreated] >= newest.Annotations[AnnotationCreated] {
				newest = &r
			}
		}
		return nil
	})
	if err != nil {
		return classify("plugin config of "+ref.String(), subject.Digest, err)
	}
	if newest == nil {
		return nil
	}
	if newest.Size > c.opts.MaxManifestBytes {
		return fmt.Errorf("%s (%s): %w: plugin config manifest is %d bytes", ref, newest.Digest, ErrTooLarge, newest.Size)
	}
	doc, _, err := c.fetchManifest(ctx, repo, ref, *newest)
	if err != nil {
		return err
	}
	for _, l := range doc.Layers {
		var dst *[]byte
		switch l.MediaType {
		case MediaTypePluginConfig:
			dst = &m.PluginConfig
		case MediaTypePluginConfigSchema:
			dst = &m.PluginConfigSchema
		default:
			continue
		}
		if *dst, err = c.fetchBlob(ctx, repo, ref, l, c.opts.MaxManifestBytes, nil); err != nil {
			return err
		}
	}
	return nil
}

// ParsePin reads a module sha256 pin: 64 hex digits, optionally prefixed by "sha256:".
func ParsePin(s string) (digest.Digest, error) {
	h := strings.ToLower(strings.TrimPrefix(s, "sha256:"))
	if b, err := hex.DecodeString(h); err != nil || len(b) != sha256.Size {
		return "", fmt.Errorf("%w: --sha256 %q is not 64 hex digits", ErrInvalidReference, s)
	}
	return digest.NewDigestFromEncoded(digest.SHA256, h), nil
}

func (c *Client) fetchManifest(ctx context.Context, repo *remote.Repository, ref Reference, desc ocispec.Descriptor) (*manifestDoc, []byte, error) {
	rc, err := repo.Fetch(ctx, desc)
	if err != nil {
		return nil, nil, classify("fetch manifest "+ref.String(), desc.Digest, err)
	}
	defer rc.Close()
	raw, err := content.ReadAll(rc, desc) // checks size and digest
	if err != nil {
		return nil, nil, readError(ctx, "fetch manifest "+ref.String(), desc, err)
	}
	doc, err := parseManifest(desc.MediaType, raw)
	if err != nil {
		return nil, nil, fmt.Errorf("%s (%s): %w", ref, desc.Digest, err)
	}
	return doc, raw, nil
}

// fetchBlob reads one blob, refusing it before download when the descriptor is over limit and verifying its
// digest as it streams.
func (c *Client) fetchBlob(ctx context.Context, repo *remote.Repository, ref Reference, desc ocispec.Descriptor, limit int64, progress func(done, total int64)) ([]byte, error) {
	if desc.Size > limit {
		return nil, fmt.Errorf("%s (%s): %w: layer is %d bytes, limit %d", ref, desc.Digest, ErrTooLarge, desc.Size, limit)
	}
	rc, err := repo.Blobs().Fetch(ctx, desc)
	if err != nil {
		return nil, classify("fetch "+ref.String(), desc.Digest, err)
	}
	defer rc.Close()
	var r io.Reader = rc
	if progress != nil {
		r = &progressReader{r: rc, total: desc.Size, fn: progress}
	}
	data, err := content.ReadAll(r, desc)
	if err != nil {
		return nil, readError(ctx, "fetch "+ref.String(), desc, err)
	}
	return data, nil
}

// readError tells content that does not match its descriptor apart from a transfer that broke off.
func readError(ctx context.Context, what string, desc ocispec.Descriptor, err error) error {
	switch {
	case ctx.Err() != nil:
		return classify(what, desc.Digest, ctx.Err())
	case errors.Is(err, content.ErrMismatchedDigest), errors.Is(err, content.ErrTrailingData):
		return fmt.Errorf("%s (%s): %w: %v", what, desc.Digest, ErrDigestMismatch, err)
	}
	return classify(what, desc.Digest, err)
}

// fetchModule fetches a candidate layer and returns the module in it.
func (c *Client) fetchModule(ctx context.Context, repo *remote.Repository, ref Reference, cand candidate, opts PullOptions) ([]byte, bool, error) {
	if cand.kind == kindRaw && opts.Local != nil {
		// A raw layer's digest is the module's sha256: a copy the caller already holds saves the download.
		if b, ok := opts.Local(cand.desc.Digest); ok && digest.FromBytes(b) == cand.desc.Digest && bytes.HasPrefix(b, wasmMagic) {
			return b, false, nil
		}
	}
	data, err := c.fetchBlob(ctx, repo, ref, cand.desc, c.opts.MaxModuleBytes, opts.Progress)
	if err != nil {
		return nil, false, err
	}
	if bytes.HasPrefix(data, wasmMagic) {
		return data, false, nil
	}
	if cand.kind == kindRaw {
		return nil, false, fmt.Errorf("%s (%s): %w: layer %s starts with %q", ref, cand.desc.Digest, ErrNotWasm, cand.desc.MediaType, head(data))
	}
	wasm, err := extractPlugin(data, c.opts.MaxModuleBytes)
	if err != nil {
		return nil, false, fmt.Errorf("%s (%s): %w", ref, cand.desc.Digest, err)
	}
	return wasm, true, nil
}

// extractPlugin finds plugin.wasm in a tar stream, gzip-compressed or not (sniffed, not trusted from the media
// type), reading at most limit bytes of it so a decompression bomb stops early.
func extractPlugin(data []byte, limit int64) ([]byte, error) {
	var r io.Reader = bytes.NewReader(data)
	if bytes.HasPrefix(data, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("%w: gzip layer: %v", ErrNoModule, err)
		}
		defer zr.Close()
		r = bufio.NewReader(zr)
	}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil, fmt.Errorf("%w: tar layer has no plugin.wasm", ErrNoModule)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: tar layer: %v", ErrNoModule, err)
		}
		if h.Typeflag != tar.TypeReg || path.Clean("/"+h.Name) != "/plugin.wasm" {
			continue
		}
		if h.Size > limit {
			return nil, fmt.Errorf("%w: plugin.wasm is %d bytes, limit %d", ErrTooLarge, h.Size, limit)
		}
		wasm, err := io.ReadAll(io.LimitReader(tr, limit+1))
		if err != nil {
			return nil, fmt.Errorf("%w: read plugin.wasm: %v", ErrNoModule, err)
		}
		if int64(len(wasm)) > limit {
			return nil, fmt.Errorf("%w: plugin.wasm over %d bytes", ErrTooLarge, limit)
		}
		if !bytes.HasPrefix(wasm, wasmMagic) {
			return nil, fmt.Errorf("%w: plugin.wasm starts with %q", ErrNotWasm, head(wasm))
		}
		return wasm, nil
	}
}

func head(b []byte) []byte {
	if len(b) > 8 {
		return b[:8]
	}
	return b
}

// progressReader reports bytes read.
type progressReader struct {
	r     io.Reader
	done  int64
	total int64
	fn    func(done, total int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.done += int64(n)
		p.fn(p.done, p.total)
	}
	return n, err
}
