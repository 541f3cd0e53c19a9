// Package admin is the proxy's admin server, on its own address: /ready, /stats/prometheus, /config_dump (the
// active configuration with the filter order), /filters (each filter's module digest, ABI, VMs, state and last
// error) and POST /reload.
//
//	a := admin.New("127.0.0.1:9901", server, server.Metrics().Handler(), logger)
//	go a.Start(ctx)
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// Backend is what the admin server shows and drives.
type Backend interface {
	Ready() bool
	ConfigDump() any
	FilterStatus() any
	Reload(ctx context.Context, trigger string) error
}

// Server is the admin HTTP server.
type Server struct {
	addr    string
	backend Backend
	mux     *http.ServeMux
	log     *slog.Logger
	ready   chan net.Addr
}

// New returns an admin server for b; metrics serves /stats/prometheus.
func New(addr string, b Backend, metrics http.Handler, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{addr: addr, backend: b, mux: http.NewServeMux(), log: log, ready: make(chan net.Addr, 1)}
	s.mux.HandleFunc("GET /ready", s.readyz)
	s.mux.Handle("GET /stats/prometheus", metrics)
	s.mux.HandleFunc("GET /config_dump", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, b.ConfigDump()) })
	s.mux.HandleFunc("GET /filters", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, b.FilterStatus()) })
	s.mux.HandleFunc("POST /reload", s.reload)
	// Profiles, for finding where proxy CPU goes under load; the admin address should stay on loopback.
	s.mux.HandleFunc("/debug/pprof/", pprof.Index)
	s.mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	s.mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return s
}

// Handler is the admin API, for tests and for embedding.
func (s *Server) Handler() http.Handler { return s.mux }

// Ready delivers the bound address.
func (s *Server) Ready() <-chan net.Addr { return s.ready }

// Start serves until ctx ends.
func (s *Server) Start(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.addr)
	if err != nil {
		return fmt.Errorf("admin server: %w", err)
	}
	srv := &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second}
	s.ready <- ln.Addr()
	s.log.Info("admin listening", "address", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("admin server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	if !s.backend.Ready() {
		http.Error(w, "not ready\n", http.StatusServiceUnavailable)
		return
	}
	w.Write([]byte("ready\n"))
}

func (s *Server) reload(w http.ResponseWriter, r *http.Request) {
	if err := s.backend.Reload(r.Context(), "admin"); err != nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnprocessableEntity)
		json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": err.Error()})
		return
	}
	writeJSON(w, map[string]any{"ok": true})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
