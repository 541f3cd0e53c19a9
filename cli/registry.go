package cli

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/wasmesh/wasmesh/oci/registry"
)

func newRegistryCommand(s Streams) *cobra.Command {
	var addr, root string
	cmd := &cobra.Command{
		Use:   "registry",
		Short: "Run an OCI registry on this machine for development, the demo and tests",
		Long: `Run the CNCF distribution registry, embedded, serving plain HTTP and storing blobs under --root.
It has no authentication: keep it on loopback. Stop it with Ctrl-C.`,
		Example: `  wasmesh registry --addr 127.0.0.1:5000 --root /tmp/registry &
  wasmesh push auth.wasm 127.0.0.1:5000/filters/auth:v1 --plain-http`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if root == "" {
				base, err := os.UserCacheDir()
				if err != nil {
					return fmt.Errorf("no default --root: %w", err)
				}
				root = filepath.Join(base, "wasmesh", "registry")
			}
			srv, err := registry.New(registry.Options{Addr: addr, Root: root})
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			errc := make(chan error, 1)
			go func() { errc <- srv.Start(ctx) }()
			select {
			case a := <-srv.Ready():
				fmt.Fprintf(s.Out, "serving OCI registry on http://%s (storage %s)\n", a, root)
			case err := <-errc:
				return err
			}
			return <-errc
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:5000", "listen address (port 0 picks a free port and prints it)")
	cmd.Flags().StringVar(&root, "root", "", "storage directory (default ${XDG_CACHE_HOME:-~/.cache}/wasmesh/registry)")
	return cmd
}
