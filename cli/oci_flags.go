package cli

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/wasmesh/wasmesh/oci"
)

// addRegistryFlags defines the flags every registry-facing command shares. They are read back by name
// (registryClient), so a command owned elsewhere (inspect) gains them with this one call.
func addRegistryFlags(fs *pflag.FlagSet) {
	fs.Bool("plain-http", false, "talk HTTP, not HTTPS, to the registry (local registries)")
	fs.Bool("insecure", false, "skip TLS certificate verification")
	fs.String("ca-file", "", "PEM bundle of CAs to trust for the registry, in addition to the system ones")
	fs.Duration("timeout", oci.DefaultTimeout, "how long to wait for each registry response (retries come on top)")
	fs.Int64("max-module-bytes", oci.DefaultMaxModuleBytes, "refuse modules and layers larger than this")
	fs.Int64("max-manifest-bytes", oci.DefaultMaxManifestBytes, "refuse manifests larger than this")
}

// registryClient builds an oci.Client whose TLS settings apply to host only; credentials come from the Docker
// config file and its helpers (what `wasmesh login`, `docker login` and `oras login` write).
func registryClient(cmd *cobra.Command, host string) (*oci.Client, error) {
	fs := cmd.Flags()
	plain, _ := fs.GetBool("plain-http")
	insecure, _ := fs.GetBool("insecure")
	ca, _ := fs.GetString("ca-file")
	timeout, _ := fs.GetDuration("timeout")
	maxModule, _ := fs.GetInt64("max-module-bytes")
	maxManifest, _ := fs.GetInt64("max-manifest-bytes")
	if plain && (insecure || ca != "") {
		return nil, fmt.Errorf("--plain-http cannot be combined with --insecure or --ca-file")
	}
	return oci.NewClient(oci.Options{
		Registries:       map[string]oci.RegistryOptions{host: {PlainHTTP: plain, Insecure: insecure, CAFile: ca}},
		Timeout:          timeout,
		MaxModuleBytes:   maxModule,
		MaxManifestBytes: maxManifest,
		UserAgent:        "wasmesh/" + Version,
	})
}

// clientForRef parses ref and builds the client for its registry.
func clientForRef(cmd *cobra.Command, ref string) (*oci.Client, oci.Reference, error) {
	r, err := oci.ParseReference(ref)
	if err != nil {
		return nil, oci.Reference{}, err
	}
	c, err := registryClient(cmd, r.Registry)
	return c, r, err
}

// addOutputFlag defines --output text|json.
func addOutputFlag(cmd *cobra.Command, out *string) {
	cmd.Flags().StringVar(out, "output", "text", "output format: text or json")
}

func checkOutput(out string) error {
	if out != "text" && out != "json" {
		return fmt.Errorf("--output %q: use text or json", out)
	}
	return nil
}
