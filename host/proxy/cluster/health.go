package cluster

import (
	"context"
	"io"
	"net"
	"net/http"
	"time"
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
	client := &http.Client{Transport: c.transport, Timeout: timeout}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		for _, e := range c.endpoints {
			ok := c.probe(ctx, client, e, hc.Type, hc.Path, timeout)
			if ok {
				e.hcFail = 0
				e.hcSuccess++
				if !e.healthy.Load() && e.hcSuccess >= up {
					e.healthy.Store(true)
					c.log.Info("endpoint healthy", "endpoint", e.Address)
				}
			} else {
				e.hcSuccess = 0
				e.hcFail++
				if e.healthy.Load() && e.hcFail >= down {
					e.healthy.Store(false)
					c.log.Warn("endpoint unhealthy", "endpoint", e.Address)
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

func (c *Cluster) probe(ctx context.Context, client *http.Client, e *Endpoint, kind, path string, timeout time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if kind == "tcp" {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", e.Address)
		if err != nil {
			return false
		}
		conn.Close()
		return true
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Scheme+"://"+e.Address+path, nil)
	if err != nil {
		return false
	}
	req.Header.Set("User-Agent", "wasmesh-health-check")
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode >= 200 && resp.StatusCode < 300
}
