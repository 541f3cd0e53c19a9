package xdsapi

import (
	"math"
	"strings"

	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Load reports. A proxy tells the operator how its operator filters fare over Envoy's load reporting service
// (LRS, envoy.service.load_stats.v3), on the same gRPC connection as ADS: the operator answers the proxy's
// first LoadStatsRequest with the interval, then the proxy sends, every interval, one ClusterStats per filter
// that ran: cluster_name is the filter's resource name (FilterPrefix + deployment), cluster_service_name the
// module digest, and one locality entry counts the calls (total_issued_requests) and failed calls
// (total_error_requests) of that interval. LRS counts requests to upstream clusters; a filter is not a cluster,
// but the counters mean the same thing and the service already exists on both sides.

// FilterLoad is one filter's calls and failures over one report interval.
type FilterLoad struct {
	Deployment string // <namespace>/<name>
	Digest     string // sha256:<hex> of the module that ran
	Calls      uint64
	Failures   uint64
}

// Proto is the ClusterStats a proxy sends for l over interval.
func (l FilterLoad) Proto(interval *durationpb.Duration) *endpoint.ClusterStats {
	return &endpoint.ClusterStats{
		ClusterName:        FilterPrefix + l.Deployment,
		ClusterServiceName: l.Digest,
		UpstreamLocalityStats: []*endpoint.UpstreamLocalityStats{{
			TotalIssuedRequests:     l.Calls,
			TotalSuccessfulRequests: l.Calls - min(l.Failures, l.Calls),
			TotalErrorRequests:      l.Failures,
		}},
		LoadReportInterval: interval,
	}
}

// LoadFromProto reads a ClusterStats a proxy sent (untrusted): false for a cluster that is not a wasmesh
// filter. Counters are summed over localities without overflowing, and failures never exceed calls.
func LoadFromProto(cs *endpoint.ClusterStats) (FilterLoad, bool) {
	dep, ok := strings.CutPrefix(cs.GetClusterName(), FilterPrefix)
	if !ok || dep == "" || !strings.HasPrefix(cs.GetClusterServiceName(), "sha256:") {
		return FilterLoad{}, false
	}
	l := FilterLoad{Deployment: dep, Digest: cs.GetClusterServiceName()}
	add := func(a, b uint64) uint64 {
		if a > math.MaxUint64-b {
			return math.MaxUint64
		}
		return a + b
	}
	for _, u := range cs.GetUpstreamLocalityStats() {
		l.Calls = add(l.Calls, u.GetTotalIssuedRequests())
		l.Failures = add(l.Failures, u.GetTotalErrorRequests())
	}
	l.Failures = min(l.Failures, l.Calls)
	return l, true
}
