package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/wasmesh/wasmesh/host/proxy"
	proxyxds "github.com/wasmesh/wasmesh/host/proxy/xds"
)

// addProxyXDSFlags adds the flags that connect `wasmesh proxy` to the operator.
func addProxyXDSFlags(cmd *cobra.Command, o *proxyxds.Options) {
	host, _ := os.Hostname()
	f := cmd.Flags()
	f.StringVar(&o.Server, "xds", "", "operator ADS address host:port: run the Wasm filters the operator assigns (docs/operator.md)")
	f.StringVar(&o.Node.ID, "node-id", host, "this proxy's unique id for --xds")
	f.StringVar(&o.Node.Namespace, "node-namespace", "default", "namespace WasmDeployment selectors see this proxy in")
	f.StringVar(&o.Node.Pod, "node-pod", host, "pod or host name reported to the operator")
	f.StringToStringVar(&o.Node.Labels, "node-labels", nil, "labels WasmDeployment selectors match, k=v,k2=v2")
	f.StringVar(&o.Out, "xds-state", "", "file keeping --config plus the operator's filters across restarts, their modules kept in --module-cache-dir (default: a temporary file)")
}

// runProxyXDS runs the proxy on a generated configuration: the --config file plus the operator's filters,
// rewritten and reloaded by the xDS client on every update. The file stays when the operator is unreachable,
// so the proxy keeps serving what it has; the modules it names are kept in the module cache by sha256, so a
// restart from the file loads them without the operator's module server. Edits of the --config file apply with
// the next operator update.
func runProxyXDS(ctx context.Context, configPath string, rt proxyRuntime, watch time.Duration, log *slog.Logger, o proxyxds.Options) error {
	keep := o.Out != ""
	if !keep {
		dir, err := os.MkdirTemp("", "wasmesh-proxy-xds-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		o.Out = filepath.Join(dir, "proxy.yaml")
	}
	o.Base, o.Logger = configPath, log.With("component", "xds")
	if _, err := os.Stat(o.Out); keep && err == nil {
		// Restart with the filters last received: the proxy serves them even if the operator is unreachable.
		log.Info("starting from the saved xDS state", "file", o.Out)
	} else if err := proxyxds.New(o).Merge(); err != nil {
		return fmt.Errorf("--xds: %w", err)
	}
	return runProxy(ctx, o.Out, rt, watch, log, func(srv *proxy.Server) {
		cc := proxyxds.New(withReload(o, srv))
		go func() { _ = cc.Start(ctx) }()
	})
}

func withReload(o proxyxds.Options, srv *proxy.Server) proxyxds.Options {
	o.Reload = func(ctx context.Context) error { return srv.Reload(ctx, "xds") }
	o.Stats = proxyxds.StatsOf(srv)
	return o
}
