package modules

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/opencontainers/go-digest"
)

// PathPrefix is where modules are served: PathPrefix + "sha256:<hex>".
const PathPrefix = "/modules/"

// ServerOptions configure a Server.
type ServerOptions struct {
	// Addr is the listen address, e.g. ":8081" or "127.0.0.1:0".
	Addr string
	// Served, when set, is called once per request with the outcome ("ok", "not_modified", "not_found").
	Served func(result string)
}

// Server serves a Catalog over HTTP. A digest names immutable content, so responses carry
// "Cache-Control: public, max-age=31536000, immutable" and the digest as ETag; HEAD, If-None-Match and ranges
// are answered by net/http's ServeContent.
type Server struct {
	opts    ServerOptions
	catalog *Catalog
	ready   chan string
	once    sync.Once
}

// NewServer returns a server of catalog.
func NewServer(opts ServerOptions, catalog *Catalog) *Server {
	return &Server{opts: opts, catalog: catalog, ready: make(chan string, 1)}
}

// Ready delivers the address being served once listening (the real port when Addr had port 0).
func (s *Server) Ready() <-chan string { return s.ready }

// Start serves until ctx ends.
func (s *Server) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("module server: listen %s: %w (choose another --modules-addr)", s.opts.Addr, err)
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return ctx }}
	s.once.Do(func() { s.ready <- ln.Addr().String() })
	logr.FromContextOrDiscard(ctx).Info("module server listening", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("module server on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("module server shutdown: %w", err)
	}
	return nil
}

// ServeHTTP answers GET and HEAD /modules/sha256:<hex>.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name, ok := strings.CutPrefix(r.URL.Path, PathPrefix)
	if !ok {
		s.served("not_found")
		http.NotFound(w, r)
		return
	}
	d, err := digest.Parse(name)
	if err != nil || d.Algorithm() != digest.SHA256 {
		s.served("not_found")
		http.Error(w, "want /modules/sha256:<64 hex digits>", http.StatusNotFound)
		return
	}
	path, ok := s.catalog.Lookup(d)
	if !ok {
		s.served("not_found")
		http.Error(w, "unknown module digest "+d.String(), http.StatusNotFound)
		return
	}
	f, err := os.Open(path)
	if err != nil {
		// Evicted from the cache since it was pulled: the next reconcile pulls it again.
		s.served("not_found")
		http.Error(w, "module "+d.String()+" is not in the cache right now; retry", http.StatusNotFound)
		return
	}
	defer f.Close()
	h := w.Header()
	h.Set("Content-Type", "application/wasm")
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("ETag", `"`+d.String()+`"`)
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, d.String()) {
		s.served("not_modified")
	} else {
		s.served("ok")
	}
	// A zero modtime keeps Last-Modified out: the ETag is the validator that means something here.
	http.ServeContent(w, r, "", time.Time{}, f)
}

func (s *Server) served(result string) {
	if s.opts.Served != nil {
		s.opts.Served(result)
	}
}

// URL returns the address of module d on a server reachable at base (e.g. "http://wasmesh-operator:8081").
func URL(base string, d digest.Digest) string {
	return strings.TrimSuffix(base, "/") + PathPrefix + d.String()
}
