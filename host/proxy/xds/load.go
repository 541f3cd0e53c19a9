package xds

import (
	"context"
	"strings"
	"time"

	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	lrs "github.com/envoyproxy/go-control-plane/envoy/service/load_stats/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/wasmesh/wasmesh/host/proxy"
	"github.com/wasmesh/wasmesh/xdsapi"
)

// FilterStats is one filter instance's counters as the proxy's /filters shows them.
type FilterStats struct {
	// Name is the proxy.yaml filter name: the operator's filters are FilterNamePrefix + "<namespace>/<name>".
	Name string
	// Instance tells builds apart: every reload builds new instances, whose counters start at zero.
	Instance uint64
	// Digest is the module's sha256:<hex>.
	Digest          string
	Calls, Failures uint64
}

// StatsOf reads the counters of the operator's filters from a proxy's /filters view: Options.Stats for a
// proxy.Server.
func StatsOf(srv *proxy.Server) func() []FilterStats {
	return func() []FilterStats {
		infos, _ := srv.FilterStatus().([]proxy.FilterInfo)
		var out []FilterStats
		for _, fi := range infos {
			if strings.HasPrefix(fi.Name, FilterNamePrefix) {
				out = append(out, FilterStats{Name: fi.Name, Instance: fi.Instance, Digest: fi.ModuleDigest, Calls: fi.Calls, Failures: fi.Failures})
			}
		}
		return out
	}
}

// FilterNamePrefix starts the proxy.yaml name of every filter the operator delivers.
const FilterNamePrefix = "xds/"

// minReportInterval bounds how often a proxy reports, whatever the operator asks.
const minReportInterval = 100 * time.Millisecond

// report sends the operator's filters' calls and failures over LRS on conn every interval the operator asks for,
// until ctx ends or the operator does not serve LRS. Each report holds what happened since the previous one, so
// a reconnecting proxy neither loses nor repeats counts.
func (c *Client) report(ctx context.Context, conn *grpc.ClientConn) {
	if c.opts.Stats == nil {
		return
	}
	s, err := lrs.NewLoadReportingServiceClient(conn).StreamLoadStats(ctx)
	if err != nil {
		return
	}
	if err := s.Send(&lrs.LoadStatsRequest{Node: c.opts.Node.Proto()}); err != nil {
		return
	}
	resp, err := s.Recv()
	if err != nil {
		if status.Code(err) == codes.Unimplemented {
			c.log.Info("the operator takes no load reports: filter error rates are not reported", "server", c.opts.Server)
		}
		return
	}
	interval := max(resp.GetLoadReportingInterval().AsDuration(), minReportInterval)
	go func() { // later answers are not used; read them so the stream's window never fills
		for {
			if _, err := s.Recv(); err != nil {
				return
			}
		}
	}()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if stats := c.loadSince(interval); len(stats) > 0 {
			if err := s.Send(&lrs.LoadStatsRequest{Node: c.opts.Node.Proto(), ClusterStats: stats}); err != nil {
				return
			}
		}
	}
}

// loadSince reads the counters and returns, per operator filter and module digest, the calls and failures
// since the last call.
func (c *Client) loadSince(interval time.Duration) []*endpoint.ClusterStats {
	type key struct{ deployment, digest string }
	sums := map[key]*xdsapi.FilterLoad{}
	seen := map[instanceKey]FilterStats{}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range c.opts.Stats() {
		dep, ok := strings.CutPrefix(f.Name, FilterNamePrefix)
		if !ok || f.Digest == "" {
			continue
		}
		ik := instanceKey{f.Name, f.Instance}
		if _, dup := seen[ik]; dup {
			continue // one instance listed twice: count it once
		}
		seen[ik] = f
		prev := c.counted[ik] // zero for a new instance: all its counts are new
		k := key{dep, f.Digest}
		l := sums[k]
		if l == nil {
			l = &xdsapi.FilterLoad{Deployment: dep, Digest: f.Digest}
			sums[k] = l
		}
		if f.Calls >= prev.Calls {
			l.Calls += f.Calls - prev.Calls
		}
		if f.Failures >= prev.Failures {
			l.Failures += f.Failures - prev.Failures
		}
	}
	c.counted = seen // instances that are gone are forgotten
	d := durationpb.New(interval)
	var out []*endpoint.ClusterStats
	for _, l := range sums {
		if l.Calls > 0 {
			out = append(out, l.Proto(d))
		}
	}
	return out
}

type instanceKey struct {
	name     string
	instance uint64
}
