// Package httpproxy is the HTTP data plane: a listener (HTTP/1.1, h2c, TLS with ALPN h2/http/1.1) and the
// handler that runs each request through its route's filter chain and forwards it to a cluster, streaming bodies
// (through the body filters chunk by chunk when some filter wants them), passing trailers and upgrades
// (WebSocket) through, with retries and timeouts.
//
// The handler reads its configuration through an atomic pointer; Swap installs a new one, and each request holds
// a reference on the configuration it started with until it is done, so a reload never drops a request.
//
//	h := httpproxy.NewHandler(cfg)        // cfg built by the proxy package
//	l := httpproxy.NewListener("http", "127.0.0.1:8080", nil, h, logger)
//	go l.Start(ctx)
//	old := h.Swap(newCfg); old.Ref.Retire() // old drains
package httpproxy

import (
	"log/slog"
	"sync/atomic"

	"github.com/wasmesh/wasmesh/host/proxy/cluster"
	"github.com/wasmesh/wasmesh/host/proxy/drain"
	"github.com/wasmesh/wasmesh/host/proxy/metrics"
	"github.com/wasmesh/wasmesh/host/proxy/route"
)

// Config is one listener's part of a configuration generation. It is immutable once handed to a Handler.
type Config struct {
	Listener string
	Address  string // the listener address, shown to filters as the stream's destination
	Table    *route.Table
	Routes   []route.Bound // indexed by route.Route.Index
	NoRoute  *metrics.RouteStats
	Clusters map[string]*Upstream
	// MaxBuffer bounds the body bytes each filter may hold (proxy-wasm StopIterationAndBuffer): beyond it a
	// request is answered 413 and a response 500 (or reset, when its head is already sent).
	MaxBuffer int
	AccessLog bool
	Log       *slog.Logger
	// Ref counts the streams running on this configuration (shared by every listener of a generation).
	Ref *drain.Ref
}

// Upstream is a cluster with its metrics and retry accounting.
type Upstream struct {
	*cluster.Cluster
	Metrics *metrics.ClusterStats
	retries atomic.Int64 // retries in flight, for the retry budget
}
