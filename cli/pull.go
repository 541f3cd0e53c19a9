package cli

import (
	"encoding/json"
	"fmt"
	"path"

	"github.com/spf13/cobra"

	"github.com/wasmesh/wasmesh/internal/atomicfile"
	"github.com/wasmesh/wasmesh/oci"
)

func newPullCommand(s Streams) *cobra.Command {
	var outFile, pin, output string
	cmd := &cobra.Command{
		Use:   "pull REF",
		Short: "Pull a Wasm module from an OCI registry, verified",
		Long: `Pull a Wasm module from an OCI registry. Istio/Solo and CNCF Wasm artifacts, Docker/OCI "compat" images
(plugin.wasm in a tar layer, any number of layers) and image indexes (wasip1/wasm platform) are accepted. Tags are
resolved to digests; an @sha256: manifest digest and a --sha256 module pin are verified. The file is written
atomically: on any error nothing is left behind.`,
		Example: `  wasmesh pull registry.local:5000/filters/auth:v1 -o auth.wasm
  wasmesh pull registry.local:5000/filters/auth@sha256:0c6f… --sha256 5e1b… -o auth.wasm`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			c, ref, err := clientForRef(cmd, args[0])
			if err != nil {
				return err
			}
			if outFile == "" {
				outFile = path.Base(ref.Repository) + ".wasm"
			}
			progressOut := s.Err
			m, err := c.Pull(cmd.Context(), args[0], oci.PullOptions{SHA256: pin, Progress: newProgress(progressOut, "pulling "+ref.Repository)})
			if err != nil {
				return err
			}
			if outFile == "-" {
				_, err = s.Out.Write(m.Bytes)
				return err
			}
			if err := atomicfile.Write(outFile, m.Bytes, 0o644); err != nil {
				return fmt.Errorf("pull %s: write %s: %w", ref, outFile, err)
			}
			if output == "json" {
				enc := json.NewEncoder(s.Out)
				enc.SetIndent("", "  ")
				out := map[string]any{
					"reference": m.Reference.String(), "resolved": m.Resolved.String(), "digest": m.ManifestDigest,
					"moduleDigest": m.ModuleDigest, "size": len(m.Bytes), "file": outFile,
				}
				if m.IndexDigest != "" {
					out["indexDigest"] = m.IndexDigest
				}
				return enc.Encode(out)
			}
			_, err = fmt.Fprintf(s.Out, "%s: %d bytes, module %s, manifest %s\n", outFile, len(m.Bytes), m.ModuleDigest, m.ManifestDigest)
			return err
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&outFile, "output-file", "o", "", `where to write the module ("-" for stdout; default REPOSITORY-NAME.wasm)`)
	fs.StringVar(&pin, "sha256", "", "expected sha256 of the module bytes (as Istio's WasmPlugin.sha256)")
	addOutputFlag(cmd, &output)
	addRegistryFlags(fs)
	return cmd
}
