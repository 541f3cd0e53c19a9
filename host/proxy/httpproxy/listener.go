package httpproxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/wasmesh/wasmesh/host/proxy/drain"
	"github.com/wasmesh/wasmesh/host/proxy/h1server"
)

// Listener accepts HTTP/1.1 and HTTP/2 (h2c with prior knowledge on cleartext, ALPN h2 on TLS) and hands every
// request to its Handler.
type Listener struct {
	Name    string
	Address string
	handler *Handler
	tls     *tls.Config
	log     *slog.Logger
	// DrainTimeout bounds graceful shutdown: in-flight requests get this long to finish when Start's context ends.
	DrainTimeout drain.Timeout
	// Server picks the HTTP/1.1 server of a cleartext listener: ServerWasmesh (the default, h1server) or
	// ServerNetHTTP. TLS listeners always use net/http. Set before Serve.
	Server string

	limits headerLimits
	ready  chan net.Addr
}

// SetHeaderLimits sets the request-head limits; a running listener holds every request read from now on to them.
func (l *Listener) SetHeaderLimits(lim HeaderLimits) { l.limits.set(lim) }

// NewListener returns a listener; tlsCfg nil means cleartext.
func NewListener(name, address string, tlsCfg *tls.Config, h *Handler, log *slog.Logger) *Listener {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l := &Listener{Name: name, Address: address, handler: h, tls: tlsCfg, log: log.With("listener", name),
		ready: make(chan net.Addr, 1)}
	l.DrainTimeout.Set(30 * time.Second)
	return l
}

// The HTTP/1.1 servers a cleartext listener can use (config: listeners[].http_server).
const (
	ServerWasmesh = "wasmesh"
	ServerNetHTTP = "net/http"
)

// Handler returns the listener's handler (for swapping configurations).
func (l *Listener) Handler() *Handler { return l.handler }

// Ready delivers the bound address once the listener accepts connections (useful with port 0).
func (l *Listener) Ready() <-chan net.Addr { return l.ready }

// Start binds the address and serves until ctx ends, then shuts down gracefully within DrainTimeout.
func (l *Listener) Start(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", l.Address)
	if err != nil {
		return fmt.Errorf("listener %s: %w", l.Name, err)
	}
	return l.Serve(ctx, ln)
}

const (
	readHeaderTimeout = 30 * time.Second
	idleTimeout       = 5 * time.Minute
)

// server is what Serve needs of net/http's server and h1server's.
type server interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
	Close() error
}

// Serve serves on an already bound socket (used to keep a socket across reloads).
func (l *Listener) Serve(ctx context.Context, ln net.Listener) error {
	var p http.Protocols
	p.SetHTTP1(true)
	if l.tls != nil {
		p.SetHTTP2(true)
	} else {
		p.SetUnencryptedHTTP2(true)
	}
	base := context.WithoutCancel(ctx)
	std := &http.Server{
		Handler:           l.limits.limitHeaders(l.handler),
		MaxHeaderBytes:    maxHeaderBytesCeiling,
		Protocols:         &p,
		TLSConfig:         l.tls,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(l.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return base },
	}
	var srv server = std
	kind := ServerNetHTTP
	if l.tls == nil && l.Server != ServerNetHTTP {
		// HTTP/1.x on h1server; h2c with prior knowledge reaches net/http's HTTP/2 server through it.
		h1 := &h1server.Server{Handler: l.handler, H2C: std, ReadHeaderTimeout: readHeaderTimeout,
			IdleTimeout: idleTimeout, BaseContext: base, Log: l.log}
		l.limits.h1.Store(h1)
		h1.SetLimits(l.limits.now()) // after the Store, so a SetHeaderLimits racing with it is not lost
		srv, kind = h1, ServerWasmesh
	}
	if l.tls != nil {
		ln = tls.NewListener(ln, l.tls)
	}
	l.ready <- ln.Addr()
	l.log.Info("listening", "address", ln.Addr().String(), "tls", l.tls != nil, "http_server", kind)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("listener %s: %w", l.Name, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), l.DrainTimeout.Get())
	defer cancel()
	err := srv.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		l.log.Warn("drain deadline reached; closing remaining connections", "deadline", l.DrainTimeout.Get())
		srv.Close()
	}
	<-errc
	return nil
}

// TLSConfig loads a certificate for a listener and offers h2 and http/1.1 by ALPN.
func TLSConfig(certFile, keyFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load TLS key pair (cert_file %s, key_file %s): %w", certFile, keyFile, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"},
		MinVersion: tls.VersionTLS12}, nil
}
