package cli

import (
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/wasmesh/wasmesh/demo"
)

func newDemoCommand(s Streams) *cobra.Command {
	opts := demo.Options{Filters: "bin/filters", FilterSources: "filters", Samples: "samples"}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the wasmesh story on this machine: registry, operator, proxies over xDS, HTTP and Dubbo, a canary",
		Long: `Run the wasmesh story with embedded defaults (no cluster, no external registry): start the embedded
registry and push the filters to it, start an HTTP echo service and a Dubbo provider in versions v1 and v2,
start "wasmesh operator --dir" and two proxies connected to it over xDS, apply the WasmDeployment samples,
drive requests that show authentication, authorization and rate limiting, Dubbo calls routed by method and
attachment to v1 or v2, and roll a new auth version out as a canary under load. Every answer is checked; the
command fails if one is not what a user should see. Ctrl-C stops everything it started.

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
			if opts.DubboProvider == "" {
				opts.DubboProvider = filepath.Join(filepath.Dir(opts.Binary), "dubbo-provider")
			}
			opts.Out = s.Out
			return demo.Run(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&opts.Keep, "keep", false, "keep everything running after the story, until Ctrl-C, and print commands to try")
	f.StringVar(&opts.Filters, "filters", opts.Filters, "directory holding auth.wasm, ratelimit.wasm and dubbo-routing.wasm")
	f.StringVar(&opts.FilterSources, "filter-sources", opts.FilterSources, "the filters source tree (the demo builds auth's next version from it)")
	f.StringVar(&opts.Samples, "samples", opts.Samples, "the samples directory (WasmDeployments, filter configs, demo JWT key)")
	f.StringVar(&opts.WorkDir, "work-dir", "", "where to keep registry storage, the operator's directory, configs and logs (default: a temporary directory)")
	f.StringVar(&opts.Binary, "binary", "", "the wasmesh binary to start as registry, operator and proxies (default: this one)")
	f.StringVar(&opts.DubboProvider, "dubbo-provider", "", "the sample Dubbo provider binary (default: dubbo-provider beside the wasmesh binary)")
	return cmd
}
