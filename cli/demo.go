package cli

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/wasmesh/wasmesh/demo"
)

func newDemoCommand(s Streams) *cobra.Command {
	opts := demo.Options{Filters: "bin/filters", Samples: "samples"}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the wasmesh story on this machine: registry, filters, proxy, traffic, hot reload",
		Long: `Run the wasmesh story with embedded defaults (no cluster, no external registry): start the embedded
registry, push and pull the auth and ratelimit filters, start an echo service and a wasmesh proxy with the
filters in its chain, drive requests that show authentication, authorization and rate limiting, and reload the
proxy under load. Every answer is checked; the command fails if one is not what a user should see.

Run it from the repository root after "make build filters" (make demo does both).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Binary == "" {
				exe, err := os.Executable()
				if err != nil {
					return err
				}
				opts.Binary = exe
			}
			opts.Out = s.Out
			return demo.Run(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&opts.Keep, "keep", false, "keep everything running after the story, until Ctrl-C")
	f.StringVar(&opts.Filters, "filters", opts.Filters, "directory holding auth.wasm and ratelimit.wasm")
	f.StringVar(&opts.Samples, "samples", opts.Samples, "the samples directory (filter configs, demo JWT key)")
	f.StringVar(&opts.WorkDir, "work-dir", "", "where to keep registry storage, modules, proxy.yaml and logs (default: a temporary directory)")
	f.StringVar(&opts.Binary, "binary", "", "the wasmesh binary to start as registry and proxy (default: this one)")
	return cmd
}
