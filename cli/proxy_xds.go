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
}

// runProxyXDS runs the proxy on a generated configuration: the --config file plus the operator's filters,
// rewritten and reloaded by the xDS client on every update. The file stays when the operator is unreachable,
// so the proxy keeps serving what it has. Edits of the --config file apply with the next operator update.
func runProxyXDS(ctx context.Context, configPath, cacheDir string, watch time.Duration, log *slog.Logger, o proxyxds.Options) error {
	dir, err := os.MkdirTemp("", "wasmesh-proxy-xds-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	o.Base, o.Out, o.Logger = configPath, filepath.Join(dir, "proxy.yaml"), log.With("component", "xds")
	c := proxyxds.New(o)
	if err := c.Merge(); err != nil {
		return fmt.Errorf("--xds: %w", err)
	}
	return runProxy(ctx, o.Out, cacheDir, watch, log, func(srv *proxy.Server) {
		cc := proxyxds.New(withReload(o, srv))
		go func() { _ = cc.Start(ctx) }()
	})
}

func withReload(o proxyxds.Options, srv *proxy.Server) proxyxds.Options {
	o.Reload = func(ctx context.Context) error { return srv.Reload(ctx, "xds") }
	return o
}
