package xds

import (
	"errors"
	"time"

	lrs "github.com/envoyproxy/go-control-plane/envoy/service/load_stats/v3"
	"github.com/go-logr/logr"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/wasmesh/wasmesh/xdsapi"
)

// DefaultLoadReportInterval is how often proxies report their filters' calls and failures when
// Options.LoadReportInterval is unset: often enough for a canary pause of a minute to see a dozen reports.
const DefaultLoadReportInterval = 5 * time.Second

// Load history: reports are summed into one-second buckets per deployment and module digest, whatever the
// number of proxies reporting, and kept for an hour (the longest sensible abort window): at most 3,600 buckets
// per deployment and digest.
const (
	loadBucket = time.Second
	maxLoadAge = time.Hour
)

type loadKey struct{ deployment, digest string }

type loadSample struct {
	at              time.Time
	calls, failures uint64
}

// Load sums the calls and failures that proxies reported since the given time (to the second) for deployment's
// filter running the module digest (sha256:<hex>), over every proxy that ran it.
func (s *Server) Load(deployment, digest string, since time.Time) (calls, failures uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	since = since.Truncate(loadBucket)
	for _, l := range s.loads[loadKey{deployment, digest}] {
		if !l.at.Before(since) {
			calls += l.calls
			failures += l.failures
		}
	}
	return calls, failures
}

// recordLoad keeps one report and tells the reconciler when it holds failures, so an abort rule is checked
// while a canary pauses rather than at the end of the pause.
func (s *Server) recordLoad(l xdsapi.FilterLoad, now time.Time) {
	if l.Calls == 0 {
		return
	}
	k := loadKey{l.Deployment, l.Digest}
	s.mu.Lock()
	if !s.digests[l.Deployment][l.Digest] {
		s.mu.Unlock()
		return // not a module the operator delivers for it now: reports cannot grow the history at will
	}
	at := now.Truncate(loadBucket)
	samples := s.loads[k]
	if n := len(samples); n > 0 && samples[n-1].at.Equal(at) {
		samples[n-1].calls += l.Calls
		samples[n-1].failures += l.Failures
	} else {
		drop := 0
		for drop < len(samples) && now.Sub(samples[drop].at) > maxLoadAge {
			drop++
		}
		s.loads[k] = append(samples[drop:], loadSample{at: at, calls: l.Calls, failures: l.Failures})
	}
	s.mu.Unlock()
	if l.Failures > 0 {
		s.changed([]string{l.Deployment})
	}
}

// forgetLoadLocked drops the history of a deployment that is no longer delivered.
func (s *Server) forgetLoadLocked(deployment string) {
	for k := range s.loads {
		if k.deployment == deployment {
			delete(s.loads, k)
		}
	}
}

// loadServer is the LRS service: it reads proxies' filter load reports.
type loadServer struct {
	lrs.UnimplementedLoadReportingServiceServer
	s        *Server
	interval time.Duration
	log      logr.Logger
}

func (ls loadServer) StreamLoadStats(stream lrs.LoadReportingService_StreamLoadStatsServer) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	node := first.GetNode().GetId()
	if node == "" {
		return errors.New("load reports: the node has no id: send node.id in the first LoadStatsRequest")
	}
	if err := stream.Send(&lrs.LoadStatsResponse{SendAllClusters: true, LoadReportingInterval: durationpb.New(ls.interval)}); err != nil {
		return err
	}
	ls.log.V(1).Info("proxy reports load", "node", node, "interval", ls.interval)
	req := first
	for {
		now := time.Now()
		for _, cs := range req.GetClusterStats() {
			if l, ok := xdsapi.LoadFromProto(cs); ok {
				ls.s.recordLoad(l, now)
			}
		}
		if req, err = stream.Recv(); err != nil {
			return nil // the proxy went away; its reports so far stay
		}
	}
}
