package cli

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/client/config"

	"github.com/wasmesh/wasmesh/oci"
	"github.com/wasmesh/wasmesh/operator"
	"github.com/wasmesh/wasmesh/operator/modules"
)

func newOperatorCommand(s Streams) *cobra.Command {
	var (
		o                       operator.Options
		kubeconfig, logLevel    string
		plainHTTP               []string
		cacheDir                string
		leaderElectionNamespace string
	)
	cmd := &cobra.Command{
		Use:   "operator [--dir DIR]",
		Short: "Run the operator: WasmDeployments to wasmesh proxies over xDS, from a cluster or a directory",
		Long: `Run the wasmesh operator (see docs/operator.md).

With --dir it reads WasmDeployment (and Secret) YAML files from a directory, watches it, and writes each
status beside them as <namespace>.<name>.status.yaml: no cluster needed. Without --dir it runs in
Kubernetes with controller-runtime's manager (leader election, /healthz and /readyz, Prometheus metrics).

Either way it pulls each module digest once into its cache, serves it to proxies over HTTP
(GET /modules/sha256:<hex>) and delivers filters to proxies over ADS (ECDS resources).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level: expected debug, info, warn or error: %w", err)
			}
			log := logr.FromSlogHandler(slog.NewJSONHandler(s.Err, &slog.HandlerOptions{Level: level}))
			o.Puller = modules.PullerOptions{CacheDir: cacheDir, OCI: oci.Options{Registries: map[string]oci.RegistryOptions{}, UserAgent: "wasmesh-operator/" + Version}}
			for _, h := range plainHTTP {
				o.Puller.OCI.Registries[h] = oci.RegistryOptions{PlainHTTP: true}
			}
			o.LeaderElectionNamespace = leaderElectionNamespace
			if o.Dir != "" {
				// A single machine: the user's own registry logins (wasmesh login / docker login) apply.
				store, err := oci.DockerCredentialStore()
				if err != nil {
					return err
				}
				o.Puller.DefaultCredential = oci.CredentialFunc(store)
			} else {
				cfg, err := kubeConfig(kubeconfig)
				if err != nil {
					return err
				}
				o.Kube = cfg
			}
			op, err := operator.New(o)
			if err != nil {
				return err
			}
			return op.Start(logr.NewContext(cmd.Context(), log))
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Dir, "dir", "", "run against this directory of WasmDeployment YAML files instead of a cluster")
	f.DurationVar(&o.DirInterval, "dir-interval", time.Second, "how often to scan --dir for changes")
	f.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, ~/.kube/config or in-cluster)")
	f.StringVar(&o.XDSAddr, "xds-addr", ":18000", "ADS (gRPC) listen address for proxies")
	f.StringVar(&o.ModulesAddr, "modules-addr", ":8082", "module server listen address")
	f.StringVar(&o.ModulesURL, "modules-url", "", "module server base URL as proxies reach it (default http://<modules-addr>)")
	f.StringVar(&cacheDir, "cache-dir", "", "module cache directory (default ~/.cache/wasmesh/modules)")
	f.StringSliceVar(&plainHTTP, "plain-http-registry", nil, "registry host to reach over plain HTTP (repeatable; local registries)")
	f.StringVar(&o.MetricsAddr, "metrics-addr", ":8080", "Prometheus /metrics address (0 disables)")
	f.StringVar(&o.ProbeAddr, "probe-addr", ":8081", "/healthz and /readyz address (Kubernetes mode; 0 disables)")
	f.BoolVar(&o.LeaderElection, "leader-elect", false, "elect one active replica (Kubernetes mode)")
	f.StringVar(&leaderElectionNamespace, "leader-election-namespace", "", "namespace of the leader election lease (default: the pod's)")
	f.IntVar(&o.MaxConcurrentReconciles, "max-concurrent-reconciles", 4, "WasmDeployments reconciled in parallel")
	f.DurationVar(&o.ResolveInterval, "resolve-interval", 5*time.Minute, "how often WasmDeployments with imagePullPolicy Always look their tag up again")
	f.DurationVar(&o.LoadReportInterval, "load-report-interval", 5*time.Second, "how often proxies report their filters' calls and failures (for rollout.abort.maxErrorRatePercent)")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	return cmd
}

// kubeConfig loads a kubeconfig file, or controller-runtime's defaults ($KUBECONFIG, ~/.kube/config,
// in-cluster).
func kubeConfig(path string) (*rest.Config, error) {
	if path != "" {
		cfg, err := clientcmd.BuildConfigFromFlags("", path)
		if err != nil {
			return nil, fmt.Errorf("--kubeconfig %s: %w", path, err)
		}
		return cfg, nil
	}
	cfg, err := ctrlconfig.GetConfig()
	if err != nil {
		return nil, fmt.Errorf("no cluster found (%v): pass --kubeconfig, or --dir DIR to run without Kubernetes", strings.TrimSpace(err.Error()))
	}
	return cfg, nil
}
