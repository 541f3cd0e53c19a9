package cluster

import (
	"context"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/wasmesh/wasmesh/host/proxy/config"
)

// Start runs active health checks until ctx ends; without a health_check it just waits. Endpoints start
// healthy, so traffic flows before the first probe.
func (c *Cluster) Start(ctx context.Context) error {
	hc := c.cfg.HealthCheck
	if hc == nil {
		<-ctx.Done()
		return nil
	}
	interval := hc.Interval.D(5 * time.Second)
	timeout := hc.Timeout.D(time.Second)
	up, down := max(hc.HealthyThreshold, 1), max(hc.UnhealthyThreshold, 1)
	ck := c.newChecker(hc, timeout)
	defer ck.close()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		for i, e := range c.endpoints {
			pctx, cancel := context.WithTimeout(ctx, timeout)
			ok := ck.probe(pctx, i, e.Address)
			cancel()
			if ctx.Err() != nil {
				return nil // a probe cut short by shutdown says nothing about the endpoint
			}
			if ok {
				e.hcFail = 0
				e.hcSuccess++
				if !e.healthy.Load() && e.hcSuccess >= up {
					e.healthy.Store(true)
					c.log.Info("endpoint healthy", "endpoint", e.Address, "check", hc.Type)
				}
			} else {
				e.hcSuccess = 0
				e.hcFail++
				if e.healthy.Load() && e.hcFail >= down {
					e.healthy.Store(false)
					c.log.Warn("endpoint unhealthy", "endpoint", e.Address, "check", hc.Type)
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// checker probes one endpoint (by index, for checkers that keep per-endpoint state) within ctx's deadline. Probes
// run one at a time on the health-check goroutine, so checkers need no locking.
type checker interface {
	probe(ctx context.Context, i int, addr string) bool
	close()
}

func (c *Cluster) newChecker(hc *config.HealthCheck, timeout time.Duration) checker {
	switch hc.Type {
	case "tcp":
		return tcpChecker{}
	case "dubbo":
		return &dubboChecker{conns: make([]*heartbeatConn, len(c.endpoints))}
	}
	return &httpChecker{client: &http.Client{Transport: c.transport, Timeout: timeout}, scheme: c.Scheme, path: hc.Path}
}

// tcpChecker passes when a connection opens.
type tcpChecker struct{}

func (tcpChecker) probe(ctx context.Context, _ int, addr string) bool {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

func (tcpChecker) close() {}

// httpChecker passes on a 2xx answer to GET path, through the cluster's own connection pool.
type httpChecker struct {
	client       *http.Client
	scheme, path string
}

func (h *httpChecker) probe(ctx context.Context, _ int, addr string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.scheme+"://"+addr+h.path, nil)
	if err != nil {
		return false
	}
	req.Header.Set("User-Agent", "wasmesh-health-check")
	resp, err := h.client.Do(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode >= 200 && resp.StatusCode < 300
}

func (h *httpChecker) close() { h.client.CloseIdleConnections() }
