package cli

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"

	"github.com/wasmesh/wasmesh/host/inspect"
	"github.com/wasmesh/wasmesh/oci"
)

// inspectRef describes a module in a registry: the manifest (digest, media types, layers, sizes, annotations)
// and the module facts. It pulls the module (verified, size-limited) because the facts need its bytes.
func inspectRef(cmd *cobra.Command, s Streams, ref string, jsonOut bool) error {
	c, _, err := clientForRef(cmd, ref)
	if err != nil {
		return fmt.Errorf("%s: not a file, and not a registry reference: %w", ref, err)
	}
	m, err := c.Pull(cmd.Context(), ref, oci.PullOptions{WithPluginConfig: true})
	if err != nil {
		return err
	}
	facts, factsErr := inspect.Bytes(m.Bytes)
	if jsonOut {
		out := map[string]any{
			"reference":    m.Reference.String(),
			"digest":       m.ManifestDigest,
			"mediaType":    m.MediaType,
			"artifactType": m.ArtifactType,
			"config":       m.Config,
			"layers":       m.Layers,
			"annotations":  m.Annotations,
			"moduleLayer":  m.Layer.Digest,
			"moduleDigest": m.ModuleDigest,
			"compat":       m.Compat,
		}
		if m.IndexDigest != "" {
			out["indexDigest"] = m.IndexDigest
		}
		for key, doc := range map[string][]byte{"pluginConfig": m.PluginConfig, "pluginConfigSchema": m.PluginConfigSchema} {
			if json.Valid(doc) {
				out[key] = json.RawMessage(doc)
			}
		}
		if factsErr != nil {
			out["moduleError"] = factsErr.Error()
		} else {
			out["module"] = facts
		}
		enc := json.NewEncoder(s.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	var b strings.Builder
	row := func(k, v string) { fmt.Fprintf(&b, "%-12s %s\n", k, v) }
	row("reference", m.Reference.String())
	if m.IndexDigest != "" {
		row("index", m.IndexDigest.String())
	}
	row("digest", m.ManifestDigest.String())
	row("media type", m.MediaType)
	if m.ArtifactType != "" {
		row("artifact", m.ArtifactType)
	}
	row("config", describe(m.Config))
	row("layers", fmt.Sprintf("%d", len(m.Layers)))
	for _, l := range m.Layers {
		mark := " "
		if l.Digest == m.Layer.Digest {
			mark = "*" // the layer the module came from
		}
		fmt.Fprintf(&b, " %s %s\n", mark, describe(l))
	}
	keys := slices.Sorted(maps.Keys(m.Annotations))
	row("annotations", fmt.Sprintf("%d", len(keys)))
	for _, k := range keys {
		fmt.Fprintf(&b, "  %s=%s\n", k, m.Annotations[k])
	}
	for _, a := range []struct {
		name string
		doc  []byte
	}{{"plugin config", m.PluginConfig}, {"config schema", m.PluginConfigSchema}} {
		switch {
		case a.doc == nil:
		case len(a.doc) <= 200:
			row(a.name, string(a.doc))
		default:
			row(a.name, fmt.Sprintf("%d bytes (see --json)", len(a.doc)))
		}
	}
	if _, err := fmt.Fprint(s.Out, b.String()); err != nil {
		return err
	}
	if factsErr != nil {
		return fmt.Errorf("%s (%s): module %s: %w", ref, m.ManifestDigest, m.ModuleDigest, factsErr)
	}
	return printModule(s.Out, facts, false)
}

func describe(d ocispec.Descriptor) string {
	s := fmt.Sprintf("%s %s %d bytes", d.MediaType, d.Digest, d.Size)
	if t := d.Annotations[ocispec.AnnotationTitle]; t != "" {
		s += " (" + t + ")"
	}
	return s
}
