// Package registry embeds an OCI distribution registry (github.com/distribution/distribution/v3, the CNCF
// registry, with its filesystem storage driver) for local development, the demo and tests on machines without a
// registry. It serves plain HTTP on loopback by default; put it behind TLS and auth for anything else.
//
//	srv, _ := registry.New(registry.Options{Addr: "127.0.0.1:0", Root: dir})
//	go srv.Start(ctx)              // blocks until ctx ends
//	addr := <-srv.Ready()          // "127.0.0.1:41234": push to addr + "/filters/auth:v1" with plain HTTP
package registry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem" // the storage we serve from
	"github.com/sirupsen/logrus"
)

// Options configure a Server.
type Options struct {
	// Addr is the listen address; default 127.0.0.1:5000. Port 0 picks a free port (see Ready).
	Addr string
	// Root is the storage directory; it is created if missing. Required.
	Root string
	// Logger receives the registry's logs (at debug level); nil discards them.
	Logger *slog.Logger
}

// Server is an embedded registry.
type Server struct {
	opts  Options
	log   *slog.Logger
	ready chan string
	once  sync.Once
}

// New validates opts.
func New(opts Options) (*Server, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:5000"
	}
	if opts.Root == "" {
		return nil, errors.New("registry: a storage root directory is required (--root DIR)")
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{opts: opts, log: log, ready: make(chan string, 1)}, nil
}

// Ready delivers the address being served once the listener is open (the real port when Addr had port 0).
func (s *Server) Ready() <-chan string { return s.ready }

// Start listens, serves until ctx ends, then shuts down gracefully (in-flight uploads get 5 seconds).
func (s *Server) Start(ctx context.Context) error {
	if err := os.MkdirAll(s.opts.Root, 0o755); err != nil {
		return fmt.Errorf("registry root %s: %w", s.opts.Root, err)
	}
	app, err := s.newApp(ctx)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("registry listen %s: %w (is another registry running? try --addr 127.0.0.1:0)", s.opts.Addr, err)
	}
	srv := &http.Server{Handler: app, ReadHeaderTimeout: 30 * time.Second}
	s.once.Do(func() { s.ready <- ln.Addr().String() })
	s.log.Info("registry serving", "addr", ln.Addr().String(), "root", s.opts.Root)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("registry on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return fmt.Errorf("registry shutdown: %w", err)
	}
	return nil
}

// newApp builds the distribution handler. distribution panics on bad configuration; that becomes an error here.
func (s *Server) newApp(ctx context.Context) (app http.Handler, err error) {
	secret := make([]byte, 16)
	_, _ = rand.Read(secret)
	cfg := &configuration.Configuration{
		Storage: configuration.Storage{
			"filesystem": configuration.Parameters{"rootdirectory": s.opts.Root},
			"delete":     configuration.Parameters{"enabled": true},
			"cache":      configuration.Parameters{"blobdescriptor": "inmemory"},
			// The purger is a background loop that ignores ctx; a development registry does not need it.
			"maintenance": configuration.Parameters{"uploadpurging": map[any]any{"enabled": false}},
		},
	}
	cfg.HTTP.Addr = s.opts.Addr
	cfg.HTTP.Secret = hex.EncodeToString(secret)
	// distribution logs through logrus' process-wide logger; route it to ours so the CLI output stays clean.
	logrus.SetOutput(slogWriter{s.log})
	logrus.SetFormatter(&logrus.TextFormatter{DisableTimestamp: true})
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("registry configuration (root %s): %v", s.opts.Root, r)
		}
	}()
	return handlers.NewApp(ctx, cfg), nil
}

type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.log.Debug("distribution", "msg", strings.TrimSpace(string(p)))
	return len(p), nil
}

var _ io.Writer = slogWriter{}
