package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wasmesh/wasmesh/host/inspect"
	"github.com/wasmesh/wasmesh/oci"
)

func newPushCommand(s Streams) *cobra.Command {
	var (
		format, configFile, schemaFile, output string
		annotations                            []string
	)
	cmd := &cobra.Command{
		Use:   "push FILE.wasm REF",
		Short: "Push a Wasm module to an OCI registry and print the manifest digest",
		Long: `Push a Wasm module to an OCI registry as an Istio/Solo "oci" artifact (default; what Istio, ASM and
Envoy Gateway pull) or a CNCF Wasm artifact (--format wasm). The manifest is annotated with the module's ABI version
and SDK (io.wasmesh.*) found by inspecting it. See docs/oci.md.`,
		Example: `  wasmesh push bin/filters/auth.wasm registry.local:5000/filters/auth:v1
  wasmesh push auth.wasm 127.0.0.1:5000/filters/auth:v1 --plain-http --config defaults.json --output json`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			file, ref := args[0], args[1]
			if err := checkOutput(output); err != nil {
				return err
			}
			f, err := oci.ParseFormat(format)
			if err != nil {
				return err
			}
			wasm, err := os.ReadFile(file)
			if err != nil {
				return err
			}
			m, err := inspect.Bytes(wasm)
			if err != nil {
				return fmt.Errorf("push %s: %w", file, err)
			}
			if err := m.Validate(); err != nil {
				// Registries hold any module; say so, but a plain WASI module is a legitimate push.
				fmt.Fprintf(s.Err, "warning: %s: %v\n", file, err)
			}
			opts := oci.PushOptions{Format: f, Title: filepath.Base(file), Annotations: map[string]string{
				oci.AnnotationTitle: filepath.Base(file),
			}}
			for k, v := range map[string]string{
				oci.AnnotationABIVersion: string(m.ABIVersion), oci.AnnotationSDK: m.SDK,
				oci.AnnotationLanguage: m.Language, oci.AnnotationEntryPoint: m.EntryPoint,
			} {
				if v != "" {
					opts.Annotations[k] = v
				}
			}
			for _, a := range annotations {
				k, v, ok := strings.Cut(a, "=")
				if !ok || k == "" {
					return fmt.Errorf("--annotation %q: want key=value", a)
				}
				opts.Annotations[k] = v
			}
			if opts.PluginConfig, err = readOptional(configFile); err != nil {
				return err
			}
			if opts.PluginConfigSchema, err = readOptional(schemaFile); err != nil {
				return err
			}
			c, _, err := clientForRef(cmd, ref)
			if err != nil {
				return err
			}
			opts.Progress = newProgress(s.Err, "pushing "+filepath.Base(file))
			desc, err := c.Push(cmd.Context(), ref, wasm, opts)
			if err != nil {
				return err
			}
			if output == "json" {
				enc := json.NewEncoder(s.Out)
				enc.SetIndent("", "  ")
				return enc.Encode(map[string]any{
					"reference":    ref,
					"digest":       desc.Digest,
					"mediaType":    desc.MediaType,
					"artifactType": desc.ArtifactType,
					"size":         desc.Size,
					"moduleDigest": "sha256:" + m.SHA256,
					"format":       f,
					"annotations":  desc.Annotations,
				})
			}
			_, err = fmt.Fprintln(s.Out, desc.Digest)
			return err
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&format, "format", string(oci.FormatIstio), "artifact layout: istio (alias oci) or wasm (alias cncf)")
	fs.StringVar(&configFile, "config", "", "default plugin configuration (JSON) to attach as a layer")
	fs.StringVar(&schemaFile, "schema", "", "JSON schema of the plugin configuration to attach as a layer")
	fs.StringArrayVar(&annotations, "annotation", nil, "manifest annotation key=value (repeatable)")
	addOutputFlag(cmd, &output)
	addRegistryFlags(fs)
	return cmd
}

func readOptional(path string) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	return os.ReadFile(path)
}
