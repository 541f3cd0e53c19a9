package operator

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"
	extensionsv1alpha1 "istio.io/client-go/pkg/apis/extensions/v1alpha1"
	networkingv1alpha3 "istio.io/client-go/pkg/apis/networking/v1alpha3"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/wasmesh/wasmesh/operator/api/v1alpha1"
	opcontroller "github.com/wasmesh/wasmesh/operator/controller"
	"github.com/wasmesh/wasmesh/operator/modules"
	"github.com/wasmesh/wasmesh/operator/store"
	"github.com/wasmesh/wasmesh/operator/xds"
)

// Options configure the operator. Exactly one of Dir and Kube selects the mode.
type Options struct {
	// Dir runs against a directory of WasmDeployment YAML files; DirInterval is its polling period.
	Dir         string
	DirInterval time.Duration
	// Kube runs against a cluster with controller-runtime's manager.
	Kube *rest.Config

	// XDSAddr and ModulesAddr are the listen addresses of the ADS server and the module server.
	XDSAddr, ModulesAddr string
	// ModulesURL is the module server's base URL as proxies reach it; "" is http://<the address served>.
	ModulesURL string
	// Puller configures the module cache and registries.
	Puller modules.PullerOptions
	// MaxConcurrentReconciles; 0 means 4.
	MaxConcurrentReconciles int
	// LoadReportInterval is how often proxies report their filters' calls and failures, which
	// abort.maxErrorRatePercent reads; 0 is xds.DefaultLoadReportInterval.
	LoadReportInterval time.Duration
	// ResolveInterval is how often imagePullPolicy Always deployments resolve their tag again; 0 is
	// controller.DefaultResolveInterval.
	ResolveInterval time.Duration

	// Kubernetes mode only.
	MetricsAddr, ProbeAddr  string
	LeaderElection          bool
	LeaderElectionNamespace string
}

// Operator is the assembled operator: a set of long-lived parts started together by Start.
type Operator struct {
	opts       Options
	Puller     *modules.Puller
	Modules    *modules.Server
	XDS        *xds.Server
	Reconciler *opcontroller.Reconciler
	// Dir is the directory store in directory mode, nil otherwise.
	Dir *store.Dir
	// Metrics holds the operator's metrics in directory mode (served on MetricsAddr); Kubernetes mode registers
	// them with controller-runtime's registry instead, served by the manager.
	Metrics *prometheus.Registry

	changes *changeQueue
	ready   chan struct{}
}

// New builds the operator's parts without starting anything.
func New(opts Options) (*Operator, error) {
	if (opts.Dir == "") == (opts.Kube == nil) {
		return nil, errors.New("operator: set exactly one of a directory (--dir) or a Kubernetes config")
	}
	if opts.MaxConcurrentReconciles <= 0 {
		opts.MaxConcurrentReconciles = 4
	}
	p, err := modules.NewPuller(opts.Puller)
	if err != nil {
		return nil, err
	}
	o := &Operator{opts: opts, Puller: p, changes: newChangeQueue(), ready: make(chan struct{}), Metrics: prometheus.NewRegistry()}
	o.XDS = xds.New(xds.Options{Addr: opts.XDSAddr, OnChange: o.changes.add, LoadReportInterval: opts.LoadReportInterval})
	o.Modules = modules.NewServer(modules.ServerOptions{Addr: opts.ModulesAddr}, p.Catalog())
	o.Reconciler = &opcontroller.Reconciler{Puller: p, Delivery: o.XDS, ModulesURL: opts.ModulesURL, ResolveInterval: opts.ResolveInterval}
	if opts.Dir != "" {
		o.Dir = store.NewDir(store.DirOptions{Dir: opts.Dir, Interval: opts.DirInterval})
		o.Reconciler.Store = o.Dir
		o.Reconciler.Metrics = opcontroller.NewMetrics(o.Metrics)
		registerStats(o.Metrics, o)
	}
	return o, nil
}

// Ready is closed once the servers listen and the controller runs.
func (o *Operator) Ready() <-chan struct{} { return o.ready }

// Start runs the operator until ctx ends.
func (o *Operator) Start(ctx context.Context) error {
	if o.opts.Dir != "" {
		return o.startDir(ctx)
	}
	return o.startKube(ctx)
}

// modulesURL waits for the module server to listen, then fixes the URL proxies fetch modules from.
func (o *Operator) modulesURL(ctx context.Context) error {
	select {
	case addr := <-o.Modules.Ready():
		if o.Reconciler.ModulesURL == "" {
			o.Reconciler.ModulesURL = "http://" + addr
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (o *Operator) startDir(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	if a := o.opts.MetricsAddr; a != "" && a != "0" {
		g.Go(func() error { return serveMetrics(ctx, a, o.Metrics) })
	}
	g.Go(func() error { return o.Modules.Start(ctx) })
	g.Go(func() error { return o.XDS.Start(ctx) })
	g.Go(func() error {
		if err := o.modulesURL(ctx); err != nil {
			return nil
		}
		c, err := controller.NewTypedUnmanaged("wasmdeployment", controller.TypedOptions[reconcile.Request]{
			Reconciler:              o.Reconciler,
			MaxConcurrentReconciles: o.opts.MaxConcurrentReconciles,
			SkipNameValidation:      ptr.To(true),
			Logger:                  logr.FromContextOrDiscard(ctx),
		})
		if err != nil {
			return err
		}
		if err := c.Watch(source.Channel(o.Dir.Changes(), &handler.EnqueueRequestForObject{})); err != nil {
			return err
		}
		if err := c.Watch(source.Channel(o.changes.out, &handler.EnqueueRequestForObject{})); err != nil {
			return err
		}
		g.Go(func() error { return o.changes.Start(ctx) })
		g.Go(func() error { return o.Dir.Start(ctx) })
		close(o.ready)
		return c.Start(ctx)
	})
	return g.Wait()
}

func (o *Operator) startKube(ctx context.Context) error {
	scheme, err := Scheme()
	if err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(o.opts.Kube, manager.Options{
		Scheme:                  scheme,
		Metrics:                 metricsserver.Options{BindAddress: o.opts.MetricsAddr},
		HealthProbeBindAddress:  o.opts.ProbeAddr,
		LeaderElection:          o.opts.LeaderElection,
		LeaderElectionID:        "wasmesh-operator.wasmesh.io",
		LeaderElectionNamespace: o.opts.LeaderElectionNamespace,
		Logger:                  logr.FromContextOrDiscard(ctx),
	})
	if err != nil {
		return fmt.Errorf("operator: building the manager: %w", err)
	}
	o.Reconciler.Istio = opcontroller.IstioObjects{Client: mgr.GetClient()}
	//lint:ignore SA1019 core/v1 events (record.EventRecorder) are what `kubectl describe` and the tests read
	o.Reconciler.Store = &store.Kube{Client: mgr.GetClient(), SecretReader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorderFor("wasmesh-operator")}
	o.Reconciler.Metrics = opcontroller.NewMetrics(crmetrics.Registry)
	registerStats(crmetrics.Registry, o)
	// The servers need the leader: only the leader reconciles, so only its plans mean anything. Standby
	// replicas are not ready, and a Service in front sends proxies to the leader.
	for _, r := range []manager.Runnable{o.Modules, o.XDS, o.changes} {
		if err := mgr.Add(r); err != nil {
			return err
		}
	}
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		if err := o.modulesURL(ctx); err == nil {
			close(o.ready)
		}
		<-ctx.Done()
		return nil
	})); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("serving", func(*http.Request) error {
		select {
		case <-o.ready:
			return nil
		default:
			return errors.New("xDS and module servers not serving yet (not the leader?)")
		}
	}); err != nil {
		return err
	}
	err = ctrl.NewControllerManagedBy(mgr).
		Named("wasmdeployment").
		For(&v1alpha1.WasmDeployment{}).
		WatchesRawSource(source.Channel(o.changes.out, &handler.EnqueueRequestForObject{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: o.opts.MaxConcurrentReconciles, SkipNameValidation: ptr.To(true)}).
		Complete(reconcile.Func(func(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
			// The module server's URL is known once it listens (port 0 in tests): reconciles wait for it, and the
			// channel close orders the write of ModulesURL before every read.
			select {
			case <-o.ready:
			case <-ctx.Done():
				return reconcile.Result{}, ctx.Err()
			}
			return o.Reconciler.Reconcile(ctx, req)
		}))
	if err != nil {
		return fmt.Errorf("operator: building the controller: %w", err)
	}
	return mgr.Start(ctx)
}

func registerStats(reg prometheus.Registerer, o *Operator) {
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	counter := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f)
	}
	reg.MustRegister(
		gauge("wasmesh_operator_cache_entries", "Modules verified and served by the module server.", func() float64 { return float64(o.Puller.Catalog().Len()) }),
		counter("wasmesh_operator_registry_fetches_total", "Module downloads from registries (one per digest).", func() float64 { return float64(o.Puller.Stats().Fetches) }),
		gauge("wasmesh_operator_xds_connected_proxies", "Proxies connected to the ADS server.", func() float64 { return float64(o.XDS.Stats().Connected) }),
		counter("wasmesh_operator_xds_delivered_total", "xDS responses sent to proxies.", func() float64 { return float64(o.XDS.Stats().Delivered) }),
		counter("wasmesh_operator_xds_acked_total", "xDS responses proxies acknowledged.", func() float64 { return float64(o.XDS.Stats().Acked) }),
		counter("wasmesh_operator_xds_nacked_total", "xDS responses proxies rejected.", func() float64 { return float64(o.XDS.Stats().Nacked) }),
	)
}

// serveMetrics serves reg on addr until ctx ends (directory mode; the manager does it in Kubernetes mode).
func serveMetrics(ctx context.Context, addr string, reg *prometheus.Registry) error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics server on %s: %w (choose another --metrics-addr, or 0)", addr, err)
	}
	return nil
}

// Scheme registers the types the operator reads.
func Scheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, err
	}
	for _, add := range []func(*runtime.Scheme) error{v1alpha1.AddToScheme, extensionsv1alpha1.AddToScheme, networkingv1alpha3.AddToScheme} {
		if err := add(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// changeQueue turns the xDS server's change notices (which must not block a stream) into reconcile events: a
// set of pending keys drained by one goroutine, so a burst of ACKs from a thousand proxies is one event per
// deployment.
type changeQueue struct {
	mu      sync.Mutex
	pending map[string]struct{}
	signal  chan struct{}
	out     chan event.GenericEvent
}

func newChangeQueue() *changeQueue {
	return &changeQueue{pending: map[string]struct{}{}, signal: make(chan struct{}, 1), out: make(chan event.GenericEvent, 256)}
}

func (q *changeQueue) add(keys []string) {
	q.mu.Lock()
	for _, k := range keys {
		q.pending[k] = struct{}{}
	}
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

// Start forwards pending keys until ctx ends.
func (q *changeQueue) Start(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-q.signal:
		}
		q.mu.Lock()
		keys := make([]string, 0, len(q.pending))
		for k := range q.pending {
			keys = append(keys, k)
		}
		clear(q.pending)
		q.mu.Unlock()
		for _, k := range keys {
			ns, name, _ := strings.Cut(k, "/")
			obj := &v1alpha1.WasmDeployment{}
			obj.Namespace, obj.Name = ns, name
			select {
			case q.out <- event.GenericEvent{Object: obj}:
			case <-ctx.Done():
				return nil
			}
		}
	}
}

var _ manager.Runnable = (*changeQueue)(nil)
