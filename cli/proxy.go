package cli

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/spf13/cobra"

	"github.com/wasmesh/wasmesh/host/engine"
	"github.com/wasmesh/wasmesh/host/proxy"
	"github.com/wasmesh/wasmesh/host/proxy/filter"
	"github.com/wasmesh/wasmesh/host/proxy/filter/native/apikey"
	"github.com/wasmesh/wasmesh/host/proxy/filter/native/header"
	"github.com/wasmesh/wasmesh/host/proxy/filter/wasm"
	proxyxds "github.com/wasmesh/wasmesh/host/proxy/xds"
)

func newProxyCommand(s Streams) *cobra.Command {
	var (
		configPath string
		logLevel   string
		rt         proxyRuntime
		watch      time.Duration
		xdsOpts    proxyxds.Options
	)
	cmd := &cobra.Command{
		Use:   "proxy --config proxy.yaml",
		Short: "Run the data plane: HTTP listeners with Wasm and native filter chains, hot-reloaded",
		Long: `Run the wasmesh data plane described by proxy.yaml (see docs/proxy.md).

The configuration is reloaded without dropping requests when the file changes, on SIGHUP, and on
POST /reload to the admin server. An invalid configuration stops the start, and is refused on reload
while the running one keeps serving.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level: expected debug, info, warn or error: %w", err)
			}
			log := slog.New(slog.NewJSONHandler(s.Err, &slog.HandlerOptions{Level: level}))
			if xdsOpts.Server != "" {
				return runProxyXDS(cmd.Context(), configPath, rt, watch, log, xdsOpts)
			}
			return runProxy(cmd.Context(), configPath, rt, watch, log)
		},
	}
	cmd.Flags().StringVarP(&configPath, "config", "c", "proxy.yaml", "proxy configuration file")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	cmd.Flags().StringVar(&rt.WasmCacheDir, "wasm-cache-dir", defaultWasmCache(), "compiled Wasm modules kept across restarts (empty: memory only)")
	addModuleFlags(cmd, &rt.Modules)
	cmd.Flags().DurationVar(&watch, "watch-interval", 2*time.Second, "how often to check the config file for changes (0 disables)")
	addProxyXDSFlags(cmd, &xdsOpts) // cli/proxy_xds.go
	return cmd
}

func defaultWasmCache() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "wasmesh", "compiled")
}

// defaultGOGC is the proxy's GC target when GOGC is not set: its live heap is small and steady, so Go's default
// of 100 collects every few MiB of request garbage; 400 trades memory for less GC CPU per request. The guests'
// linear memories count as live heap too, so with many VMs the heap may grow to five times their size: in a
// container with a memory limit, setMemoryLimit keeps the GC under it.
const defaultGOGC = 400

// setMemoryLimit sets Go's soft memory limit (GOMEMLIMIT) to 90% of the limit from (the container's cgroup
// limit in the proxy), unless GOMEMLIMIT is set or there is no limit: near it the GC collects more often instead of
// letting GOGC 400 take the proxy past the limit and into an out-of-memory kill. AUTOMEMLIMIT=off disables it,
// AUTOMEMLIMIT=0.8 changes the ratio (github.com/KimMachineGun/automemlimit). It returns the limit in force.
func setMemoryLimit(log *slog.Logger, from memlimit.Provider) int64 {
	limit, err := memlimit.Set(memlimit.WithProvider(from), memlimit.WithRatio(0.9))
	switch {
	case err != nil && os.Getenv("AUTOMEMLIMIT") != "":
		log.Warn("AUTOMEMLIMIT ignored: set it to off or a ratio in (0, 1]", "err", err)
	case err != nil:
		log.Debug("no container memory limit to follow", "err", err)
	case limit != math.MaxInt64:
		log.Info("Go memory limit follows the container's", "GOMEMLIMIT", limit)
	}
	return limit
}

// proxyRuntime is what the proxy needs besides its configuration file: where compiled modules are kept, and
// where oci:// modules come from.
type proxyRuntime struct {
	WasmCacheDir string // compiled machine code (engine cache); "" keeps it in memory
	Modules      moduleOptions
}

func runProxy(ctx context.Context, configPath string, rt proxyRuntime, watch time.Duration, log *slog.Logger, started ...func(*proxy.Server)) error {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGOGC)
	}
	setMemoryLimit(log, memlimit.FromCgroup)
	srcs, _, err := rt.Modules.sources(log)
	if err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	// Modules' proxy_http_call and gRPC calls go to the clusters of the configuration: the engine needs its
	// Caller before the server exists, and the server binds it when it loads the configuration.
	callouts := proxy.NewCallouts(log.With("component", "callouts"))
	defer callouts.Close()
	eng, err := engine.New(engine.Config{CacheDir: rt.WasmCacheDir, Logger: log.With("component", "engine"), Caller: callouts})
	if err != nil {
		return err
	}
	defer eng.Close(context.Background())
	// Filter kinds are listed here, once: adding a native filter is one more line, never a change to the proxy.
	reg, err := filter.NewRegistry(wasm.Kind(eng, srcs), header.Kind(), apikey.Kind())
	if err != nil {
		return err
	}
	if watch == 0 {
		watch = -1
	}
	srv, err := proxy.New(ctx, proxy.Options{ConfigPath: configPath, Registry: reg, WatchInterval: watch, Logger: log, Callouts: callouts})
	if err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	for _, f := range started {
		f(srv)
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				_ = srv.Reload(ctx, "sighup") // logged and counted by Reload
			}
		}
	}()
	return srv.Start(ctx)
}
