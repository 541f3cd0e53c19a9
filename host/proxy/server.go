package proxy

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wasmesh/wasmesh/host/proxy/admin"
	"github.com/wasmesh/wasmesh/host/proxy/config"
	"github.com/wasmesh/wasmesh/host/proxy/dubboproxy"
	"github.com/wasmesh/wasmesh/host/proxy/filter"
	"github.com/wasmesh/wasmesh/host/proxy/httpproxy"
	"github.com/wasmesh/wasmesh/host/proxy/metrics"
	"github.com/wasmesh/wasmesh/host/proxy/tcpproxy"
)

// Options configure a Server.
type Options struct {
	// ConfigPath is proxy.yaml. It is read again on every reload.
	ConfigPath string
	// Registry holds the filter kinds this program links in.
	Registry *filter.Registry
	// Metrics is shared with other parts of the process (the engine's collectors); nil creates one.
	Metrics *metrics.Metrics
	// WatchInterval is how often the config file's mtime, size and hash are checked; 0 means 2s, negative
	// disables watching (reload with SIGHUP or the admin API instead).
	WatchInterval time.Duration
	Logger        *slog.Logger
	// Callouts, when set, sends the calls Wasm modules make (proxy_http_call, gRPC) to this server's clusters:
	// create it first, give it to engine.New as the Caller, then to New here.
	Callouts *Callouts
}

// Server runs the data plane.
type Server struct {
	opts    Options
	log     *slog.Logger
	metrics *metrics.Metrics

	reloadMu sync.Mutex // one reload at a time
	gen      atomic.Pointer[generation]
	// building is the generation being built once its clusters exist, until it is swapped in or dropped: calls
	// modules make while they start (on_vm_start, on_configure) find their own configuration's clusters.
	building atomic.Pointer[generation]
	nextID   atomic.Int64

	mu         sync.Mutex
	listeners  map[string]*runningListener
	lastReload ReloadStatus
	runCtx     context.Context // set by Start; listeners started by reloads live under it
	draining   sync.WaitGroup

	ready     atomic.Bool
	addrs     sync.Map // listener name -> bound net.Addr
	adminAddr atomic.Value
}

type runningListener struct {
	cfg    config.Listener
	http   *httpproxy.Listener // one of http, dubbo and tcp is set, by cfg.Protocol
	dubbo  *dubboproxy.Listener
	tcp    *tcpproxy.Listener
	cancel context.CancelFunc
	done   chan struct{}
}

// ReloadStatus is the outcome of the last reload, for the admin API.
type ReloadStatus struct {
	Trigger    string    `json:"trigger,omitempty"`
	At         time.Time `json:"at,omitzero"`
	OK         bool      `json:"ok"`
	Error      string    `json:"error,omitempty"`
	Generation int64     `json:"generation"`
}

// New loads and builds the configuration; an invalid configuration is an error and nothing is started.
func New(ctx context.Context, opts Options) (*Server, error) {
	if opts.Registry == nil {
		return nil, errors.New("proxy: Options.Registry is required (the filter kinds this program knows)")
	}
	s := &Server{opts: opts, log: opts.Logger, metrics: opts.Metrics, listeners: map[string]*runningListener{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.metrics == nil {
		s.metrics = metrics.New()
	}
	if opts.Callouts != nil {
		if err := opts.Callouts.bind(s); err != nil {
			return nil, err
		}
	}
	g, err := s.load(ctx, nil, false)
	if err != nil {
		return nil, err
	}
	s.gen.Store(g)
	s.building.Store(nil)
	if err := s.metrics.Register(newFilterCollector(s)); err != nil {
		g.close(ctx)
		return nil, fmt.Errorf("proxy: register filter metrics: %w", err)
	}
	s.metrics.ConfigGen.Set(float64(g.id))
	s.lastReload = ReloadStatus{Trigger: "start", At: time.Now(), OK: true, Generation: g.id}
	return s, nil
}

// Metrics returns the registry the server reports to.
func (s *Server) Metrics() *metrics.Metrics { return s.metrics }

// load reads the file and builds a generation, reusing prev's unchanged filters (prev may be nil); with
// skipSame set, a file whose hash equals prev's is skipped (returns nil, nil).
func (s *Server) load(ctx context.Context, prev *generation, skipSame bool) (*generation, error) {
	b, err := os.ReadFile(s.opts.ConfigPath)
	if err != nil {
		return nil, fmt.Errorf("read proxy config: %w", err)
	}
	sum := sha256.Sum256(b)
	hash := hex.EncodeToString(sum[:])
	if skipSame && prev != nil && prev.hash == hash {
		return nil, nil
	}
	f, err := config.Parse(s.opts.ConfigPath, b, s.opts.Registry.Names())
	if err != nil {
		return nil, err
	}
	g, err := build(ctx, s.nextID.Add(1), f, hash, prev, s.opts.Registry, s.metrics, s.log, s.building.Store)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.opts.ConfigPath, err)
	}
	return g, nil
}

// Start serves until ctx ends, then drains the listeners within drain_timeout and closes the configuration.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	s.runCtx = ctx
	g := s.gen.Load()
	err := s.syncListeners(g)
	s.mu.Unlock()
	if err != nil {
		s.stopAll()
		return err
	}
	if addr := g.file.Admin.Address; addr != "" {
		a := admin.New(addr, s, s.metrics.Handler(), s.log)
		errc := make(chan error, 1)
		go func() { errc <- a.Start(ctx) }()
		select {
		case bound := <-a.Ready():
			s.adminAddr.Store(bound)
		case err := <-errc:
			s.stopAll()
			return err
		}
	}
	s.ready.Store(true)
	if s.opts.WatchInterval >= 0 {
		go s.watch(ctx)
	}
	<-ctx.Done()
	s.ready.Store(false)
	s.stopAll()
	s.draining.Wait()
	cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.gen.Load().close(cctx)
}

func (s *Server) stopAll() {
	s.mu.Lock()
	var done []chan struct{}
	for name, rl := range s.listeners {
		rl.cancel()
		done = append(done, rl.done)
		delete(s.listeners, name)
	}
	s.mu.Unlock()
	for _, d := range done {
		<-d
	}
}

// syncListeners makes the running listeners match g in two steps. First every socket g needs and the server
// does not have is bound; if one fails, the new sockets are closed and nothing changed. Then kept listeners are
// pointed at g, new ones start serving, and removed or changed ones drain. Call with s.mu held.
func (s *Server) syncListeners(g *generation) error {
	drain := g.file.DrainTimeout.D(30 * time.Second)
	type bound struct {
		lc  config.Listener
		ln  net.Listener
		tls *tls.Config
	}
	var fresh []bound
	fail := func(err error) error {
		for _, b := range fresh {
			b.ln.Close()
		}
		return err
	}
	for _, lc := range g.file.Listeners {
		rl, ok := s.listeners[lc.Name]
		if ok && sameSocket(rl.cfg, lc) {
			continue
		}
		tlsCfg, err := listenerTLS(lc)
		if err != nil {
			return fail(err)
		}
		var ln net.Listener
		if ok && rl.cfg.Address == lc.Address {
			// Same address, new TLS settings or protocol: the old socket must close before the new one binds.
			rl.cancel()
			<-rl.done
			delete(s.listeners, lc.Name)
		}
		if ln, err = net.Listen("tcp", lc.Address); err != nil {
			return fail(fmt.Errorf("listener %s: %w", lc.Name, err))
		}
		fresh = append(fresh, bound{lc, ln, tlsCfg})
	}
	for _, lc := range g.file.Listeners {
		if rl, ok := s.listeners[lc.Name]; ok && sameSocket(rl.cfg, lc) {
			switch {
			case rl.http != nil:
				rl.http.Handler().Swap(g.listeners[lc.Name])
				rl.http.DrainTimeout.Set(drain)
				rl.http.SetHeaderLimits(headerLimits(lc))
			case rl.dubbo != nil:
				rl.dubbo.Handler().Swap(g.dubbo[lc.Name])
				rl.dubbo.DrainTimeout.Set(drain)
			default:
				rl.tcp.Handler().Swap(g.tcp[lc.Name])
				rl.tcp.DrainTimeout.Set(drain)
			}
			rl.cfg = lc
		}
	}
	want := map[string]config.Listener{}
	for _, lc := range g.file.Listeners {
		want[lc.Name] = lc
	}
	for name, rl := range s.listeners {
		if lc, ok := want[name]; !ok || !sameSocket(rl.cfg, lc) {
			rl.cancel()
			<-rl.done
			delete(s.listeners, name)
			s.addrs.Delete(name)
		}
	}
	for _, b := range fresh {
		s.listeners[b.lc.Name] = s.serve(b.lc, b.ln, b.tls, g, drain)
	}
	return nil
}

// sameSocket reports whether a running listener can keep its socket and just switch configuration.
func sameSocket(a, b config.Listener) bool {
	return a.Address == b.Address && a.Protocol == b.Protocol && sameTLS(a.TLS, b.TLS) && a.HTTPServer == b.HTTPServer
}

func sameTLS(a, b *config.TLS) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func (s *Server) serve(lc config.Listener, ln net.Listener, tlsCfg *tls.Config, g *generation, drain time.Duration) *runningListener {
	ctx, cancel := context.WithCancel(s.runCtx)
	rl := &runningListener{cfg: lc, cancel: cancel, done: make(chan struct{})}
	var serve func() error
	var ready <-chan net.Addr
	switch lc.Protocol {
	case "tcp":
		l := tcpproxy.NewListener(lc.Name, lc.Address, tcpproxy.NewHandler(g.tcp[lc.Name]), s.log)
		l.DrainTimeout.Set(drain)
		rl.tcp, ready = l, l.Ready()
		serve = func() error { return l.Serve(ctx, ln) }
	case "dubbo":
		l := dubboproxy.NewListener(lc.Name, lc.Address, dubboproxy.NewHandler(g.dubbo[lc.Name]), s.log)
		l.DrainTimeout.Set(drain)
		rl.dubbo, ready = l, l.Ready()
		serve = func() error { return l.Serve(ctx, ln) }
	default:
		l := httpproxy.NewListener(lc.Name, lc.Address, tlsCfg, httpproxy.NewHandler(g.listeners[lc.Name]), s.log)
		l.DrainTimeout.Set(drain)
		l.Server = lc.HTTPServer
		l.SetHeaderLimits(headerLimits(lc))
		rl.http, ready = l, l.Ready()
		serve = func() error { return l.Serve(ctx, ln) }
	}
	go func() {
		defer close(rl.done)
		if err := serve(); err != nil {
			s.log.Error("listener stopped", "listener", lc.Name, "err", err)
		}
	}()
	s.addrs.Store(lc.Name, <-ready)
	return rl
}

func listenerTLS(lc config.Listener) (*tls.Config, error) {
	if lc.TLS == nil {
		return nil, nil
	}
	c, err := httpproxy.TLSConfig(lc.TLS.CertFile, lc.TLS.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("listener %s: tls: %w", lc.Name, err)
	}
	return c, nil
}

// Addr returns a listener's bound address (with the real port when the config said :0), or nil.
func (s *Server) Addr(listener string) net.Addr {
	if a, ok := s.addrs.Load(listener); ok {
		return a.(net.Addr)
	}
	return nil
}

// AdminAddr returns the admin server's bound address, or nil. The admin address is read at start only; a
// reload does not move it.
func (s *Server) AdminAddr() net.Addr {
	a, _ := s.adminAddr.Load().(net.Addr)
	return a
}

// Ready reports whether the listeners are serving.
func (s *Server) Ready() bool { return s.ready.Load() }

// Reload reads the configuration again and, if it changed and builds, swaps it in. trigger names the cause for
// logs and metrics ("file", "sighup", "admin"). On error the running configuration is untouched.
func (s *Server) Reload(ctx context.Context, trigger string) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	defer s.building.Store(nil) // after the swap, or when the new generation failed
	old := s.gen.Load()
	g, err := s.load(ctx, old, trigger == "file")
	if err == nil && g == nil {
		return nil // file touched, content unchanged
	}
	if err == nil {
		s.mu.Lock()
		if s.runCtx != nil {
			err = s.syncListeners(g)
		}
		if err != nil {
			g.close(context.Background()) // no listener ever saw g
		}
		s.mu.Unlock()
	}
	if err != nil {
		s.metrics.Reloads.WithLabelValues(trigger, "error").Inc()
		s.setStatus(ReloadStatus{Trigger: trigger, At: time.Now(), Error: err.Error(), Generation: old.id})
		s.log.Error("reload failed; keeping the running configuration", "trigger", trigger, "generation", old.id, "err", err)
		return err
	}
	s.gen.Store(g)
	s.metrics.ConfigGen.Set(float64(g.id))
	s.metrics.Reloads.WithLabelValues(trigger, "ok").Inc()
	s.setStatus(ReloadStatus{Trigger: trigger, At: time.Now(), OK: true, Generation: g.id})
	s.log.Info("configuration reloaded", "trigger", trigger, "generation", g.id, "previous", old.id)
	s.retire(old)
	return nil
}

// retire closes old after its last stream, or after drain_timeout if streams are stuck.
func (s *Server) retire(old *generation) {
	old.ref.Retire()
	s.metrics.Draining.Inc()
	s.draining.Add(1)
	go func() {
		defer s.draining.Done()
		defer s.metrics.Draining.Dec()
		t := time.NewTimer(old.file.DrainTimeout.D(30 * time.Second))
		defer t.Stop()
		select {
		case <-old.ref.Done():
		case <-t.C:
			s.log.Warn("old configuration still has streams after drain_timeout; closing it", "generation", old.id, "streams", old.ref.InUse())
		}
		if err := old.close(context.Background()); err != nil {
			s.log.Warn("closing old configuration", "generation", old.id, "err", err)
		}
	}()
}

func (s *Server) setStatus(st ReloadStatus) {
	s.mu.Lock()
	s.lastReload = st
	s.mu.Unlock()
}

// LastReload returns the outcome of the last reload.
func (s *Server) LastReload() ReloadStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastReload
}

// watch polls the config file: a changed mtime or size triggers a reload, which skips files whose hash did not
// change. Polling (not inotify) also sees files replaced by rename, as Kubernetes ConfigMap updates are.
func (s *Server) watch(ctx context.Context) {
	every := s.opts.WatchInterval
	if every == 0 {
		every = 2 * time.Second
	}
	stat := func() (time.Time, int64) {
		fi, err := os.Stat(s.opts.ConfigPath)
		if err != nil {
			return time.Time{}, -1
		}
		return fi.ModTime(), fi.Size()
	}
	mtime, size := stat()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		m, sz := stat()
		if sz < 0 || (m.Equal(mtime) && sz == size) {
			continue
		}
		mtime, size = m, sz
		_ = s.Reload(ctx, "file") // logged and counted by Reload
	}
}

func headerLimits(lc config.Listener) httpproxy.HeaderLimits {
	return httpproxy.HeaderLimits{Bytes: lc.MaxRequestHeadersKB << 10, Fields: lc.MaxHeadersCount}
}
