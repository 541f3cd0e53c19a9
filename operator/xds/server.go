package xds

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoverygrpc "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	ecdsgrpc "github.com/envoyproxy/go-control-plane/envoy/service/extension/v3"
	lrs "github.com/envoyproxy/go-control-plane/envoy/service/load_stats/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"github.com/go-logr/logr"

	"github.com/wasmesh/wasmesh/xdsapi"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// Options configure a Server.
type Options struct {
	// Addr is the gRPC listen address, e.g. ":18000" or "127.0.0.1:0".
	Addr string
	// OnChange is told which deployments' delivery changed: a proxy connected or left (every deployment may
	// select it), acknowledged or rejected a version. It runs on a stream's goroutine and must not block.
	OnChange func(deployments []string)
	// LoadReportInterval is how often proxies report their filters' calls and failures (LRS); default
	// DefaultLoadReportInterval.
	LoadReportInterval time.Duration
}

// Plan is what one deployment delivers: the filter each node runs, by node ID. Nodes absent from the map do not
// run the deployment's filter. Filters are shared between nodes: build each variant once.
type Plan map[string]*xdsapi.Built

// Progress is one node's state for one deployment.
type Progress struct {
	// Acked is the hash of the filter the node runs (acknowledged), "" for none.
	Acked string
	// Nacked is the hash of a filter the node rejected after its last acknowledgement, with its message.
	Nacked  string
	Message string
	Time    time.Time
}

// Stats count the server's traffic since it started.
type Stats struct {
	Connected                int
	Delivered, Acked, Nacked int64
}

// Server is the ADS (and ECDS) server: one snapshot per node in go-control-plane's snapshot cache, holding the
// node's filters and its chain, and the ACK/NACK bookkeeping that turns into WasmDeployment status.
type Server struct {
	opts  Options
	cache cachev3.SnapshotCache
	ready chan string
	once  sync.Once

	publish sync.Mutex // serialises SetSnapshot so a node never gets an older snapshot after a newer one
	mu      sync.Mutex
	plans   map[string]Plan
	digests map[string]map[string]bool // deployment -> module digests its plan delivers (load reports accepted)
	nodes   map[string]*nodeState
	streams map[int64]string
	loads   map[loadKey][]loadSample

	delivered, acked, nacked atomic.Int64
}

type nodeState struct {
	node     xdsapi.Node
	streams  int
	current  string                       // version of the snapshot set last
	versions map[string]map[string]string // version -> deployment -> filter hash (current, acked, nacked only)
	sent     map[string]string            // response nonce -> version
	acked    string
	nacked   string
	nackMsg  string
	nackTime time.Time
}

// New returns a Server.
func New(opts Options) *Server {
	return &Server{
		opts:    opts,
		cache:   cachev3.NewSnapshotCache(true, cachev3.IDHash{}, nil),
		ready:   make(chan string, 1),
		plans:   map[string]Plan{},
		nodes:   map[string]*nodeState{},
		streams: map[int64]string{},
		loads:   map[loadKey][]loadSample{},
		digests: map[string]map[string]bool{},
	}
}

// Ready delivers the listen address once serving.
func (s *Server) Ready() <-chan string { return s.ready }

// Start serves ADS and ECDS over gRPC until ctx ends.
func (s *Server) Start(ctx context.Context) error {
	log := logr.FromContextOrDiscard(ctx).WithName("xds")
	xs := serverv3.NewServer(ctx, s.cache, s.callbacks(log))
	gs := grpc.NewServer(
		// Proxies keep one long stream each: detect dead peers without the kernel's two-hour default, and let
		// proxies ping as often as every 10s without being cut off.
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.MaxConcurrentStreams(1000),
	)
	discoverygrpc.RegisterAggregatedDiscoveryServiceServer(gs, xs)
	ecdsgrpc.RegisterExtensionConfigDiscoveryServiceServer(gs, xs)
	interval := s.opts.LoadReportInterval
	if interval <= 0 {
		interval = DefaultLoadReportInterval
	}
	lrs.RegisterLoadReportingServiceServer(gs, loadServer{s: s, interval: interval, log: log})
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("xDS server: listen %s: %w (choose another --xds-addr)", s.opts.Addr, err)
	}
	s.once.Do(func() { s.ready <- ln.Addr().String() })
	log.Info("xDS server listening", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- gs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("xDS server on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	stopped := make(chan struct{})
	go func() { gs.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		gs.Stop() // streams never end on their own: cut them
	}
	return nil
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	n := len(s.nodes)
	s.mu.Unlock()
	return Stats{Connected: n, Delivered: s.delivered.Load(), Acked: s.acked.Load(), Nacked: s.nacked.Load()}
}

// Nodes returns the connected proxies, sorted by ID.
func (s *Server) Nodes() []xdsapi.Node {
	s.mu.Lock()
	out := make([]xdsapi.Node, 0, len(s.nodes))
	for _, n := range s.nodes {
		out = append(out, n.node)
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Progress returns, for each connected node, its state for deployment.
func (s *Server) Progress(deployment string) map[string]Progress {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]Progress, len(s.nodes))
	for id, n := range s.nodes {
		var p Progress
		acked := n.versions[n.acked][deployment]
		p.Acked = acked
		if n.nacked != "" {
			if h := n.versions[n.nacked][deployment]; h != acked {
				p.Nacked, p.Message, p.Time = h, n.nackMsg, n.nackTime
			}
		}
		out[id] = p
	}
	return out
}

// SetPlan replaces deployment's plan and pushes new snapshots to the nodes whose filter changed.
func (s *Server) SetPlan(deployment string, p Plan) error {
	s.publish.Lock()
	defer s.publish.Unlock()
	s.mu.Lock()
	old := s.plans[deployment]
	if p == nil {
		delete(s.plans, deployment)
		delete(s.digests, deployment)
		s.forgetLoadLocked(deployment)
	} else {
		s.plans[deployment] = p
		ds := map[string]bool{}
		for _, b := range p {
			if b != nil {
				ds[b.Entry.Digest] = true
			}
		}
		s.digests[deployment] = ds
	}
	var changed []string
	for id := range s.nodes {
		if hashOf(old[id]) != hashOf(p[id]) {
			changed = append(changed, id)
		}
	}
	snaps, err := s.snapshotsLocked(changed)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	return s.setSnapshots(snaps)
}

// DeletePlan withdraws deployment from every node.
func (s *Server) DeletePlan(deployment string) error { return s.SetPlan(deployment, nil) }

func hashOf(b *xdsapi.Built) string {
	if b == nil {
		return ""
	}
	return b.Hash
}

type nodeSnapshot struct {
	id   string
	snap *cachev3.Snapshot
}

// snapshotsLocked builds the snapshots of nodes from the plans and records their versions.
func (s *Server) snapshotsLocked(ids []string) ([]nodeSnapshot, error) {
	out := make([]nodeSnapshot, 0, len(ids))
	for _, id := range ids {
		n := s.nodes[id]
		var filters []*xdsapi.Built
		hashes := map[string]string{}
		for dep, p := range s.plans {
			if b := p[id]; b != nil {
				filters = append(filters, b)
				hashes[dep] = b.Hash
			}
		}
		sort.Slice(filters, func(i, j int) bool { return filters[i].Entry.Name < filters[j].Entry.Name })
		chain, err := xdsapi.BuildChain(filters)
		if err != nil {
			return nil, err
		}
		h := sha256.New()
		res := make([]types.Resource, 0, len(filters)+1)
		for _, f := range filters {
			h.Write([]byte(f.Entry.Name + "=" + f.Hash + ";"))
			res = append(res, f.Resource)
		}
		res = append(res, chain)
		version := hex.EncodeToString(h.Sum(nil))[:16]
		snap, err := cachev3.NewSnapshot(version, map[resource.Type][]types.Resource{resource.ExtensionConfigType: res})
		if err != nil {
			return nil, err
		}
		n.current = version
		n.versions[version] = hashes
		n.prune()
		out = append(out, nodeSnapshot{id, snap})
	}
	return out, nil
}

func (s *Server) setSnapshots(snaps []nodeSnapshot) error {
	var errs []error
	for _, ns := range snaps {
		if err := s.cache.SetSnapshot(context.Background(), ns.id, ns.snap); err != nil {
			errs = append(errs, fmt.Errorf("snapshot for node %s: %w", ns.id, err))
		}
	}
	return errors.Join(errs...)
}

// prune keeps the versions still referenced.
func (n *nodeState) prune() {
	for v := range n.versions {
		if v != n.current && v != n.acked && v != n.nacked {
			delete(n.versions, v)
		}
	}
}

func (s *Server) callbacks(log logr.Logger) serverv3.Callbacks {
	return serverv3.CallbackFuncs{
		StreamRequestFunc: func(id int64, req *discoverygrpcReq) error {
			rejected, err := s.onRequest(log, request{stream: id, typeURL: req.GetTypeUrl(), node: req.GetNode(),
				nonce: req.GetResponseNonce(), version: req.GetVersionInfo(), nack: req.GetErrorDetail()})
			if rejected != "" {
				// A NACK carries the last accepted version, which differs from the snapshot's, so the cache would
				// answer at once with the same rejected snapshot, and again after every NACK: a hot loop. Telling
				// the cache the proxy is at the rejected version makes it wait for the next snapshot instead.
				req.VersionInfo = rejected
			}
			return err
		},
		StreamResponseFunc: func(_ context.Context, id int64, _ *discoverygrpcReq, resp *discoverygrpcResp) {
			s.onResponse(id, resp.GetNonce(), resp.GetVersionInfo())
		},
		StreamClosedFunc: func(id int64, _ *core.Node) { s.onClosed(log, id) },
		// Delta (incremental) streams: the cache sends only what changed, and the bookkeeping is the same once
		// each response nonce is tied to its snapshot version (system_version_info). Their stream ids are
		// negated: the SotW and delta servers number their streams separately.
		StreamDeltaRequestFunc: func(id int64, req *discoverygrpc.DeltaDiscoveryRequest) error {
			_, err := s.onRequest(log, request{stream: -id, typeURL: req.GetTypeUrl(), node: req.GetNode(),
				nonce: req.GetResponseNonce(), nack: req.GetErrorDetail(), delta: true})
			return err
		},
		StreamDeltaResponseFunc: func(id int64, _ *discoverygrpc.DeltaDiscoveryRequest, resp *discoverygrpc.DeltaDiscoveryResponse) {
			s.onResponse(-id, resp.GetNonce(), resp.GetSystemVersionInfo())
		},
		DeltaStreamClosedFunc: func(id int64, _ *core.Node) { s.onClosed(log, -id) },
	}
}

type (
	discoverygrpcReq  = discoverygrpc.DiscoveryRequest
	discoverygrpcResp = discoverygrpc.DiscoveryResponse
)

// request is what the bookkeeping reads from a state-of-the-world or a delta request.
type request struct {
	stream  int64 // negative for delta streams
	typeURL string
	node    *core.Node
	nonce   string
	version string // SotW only: the version the proxy runs
	nack    *rpcstatus.Status
	delta   bool
}

// onRequest registers the node on its first request, and reads ACKs and NACKs: a request answering a response
// (response_nonce set) without error_detail acknowledges the version (SotW: version_info; delta: the version
// sent with that nonce); with error_detail it rejects the version sent with that nonce. It returns the rejected
// version of a NACK.
func (s *Server) onRequest(log logr.Logger, req request) (string, error) {
	if req.typeURL != resource.ExtensionConfigType {
		return "", nil // wasmesh serves filters only; other types get no snapshot and simply wait
	}
	s.mu.Lock()
	id, known := s.streams[req.stream]
	if !known {
		node := xdsapi.NodeFromProto(req.node)
		if node.ID == "" {
			s.mu.Unlock()
			return "", errors.New("xDS: the node has no id: set node.id (and namespace, pod, labels in its metadata)")
		}
		id = node.ID
		s.streams[req.stream] = id
		n, ok := s.nodes[id]
		if !ok {
			n = &nodeState{versions: map[string]map[string]string{}, sent: map[string]string{}}
			s.nodes[id] = n
		}
		n.node = node
		n.streams++
		// The node gets its snapshot before the cache sees its watch, so a reconnecting proxy receives the
		// current state in its first response.
		snaps, err := s.snapshotsLocked([]string{id})
		all := s.planKeysLocked()
		s.mu.Unlock()
		if err != nil {
			return "", err
		}
		s.publish.Lock()
		err = s.setSnapshots(snaps)
		s.publish.Unlock()
		log.V(1).Info("proxy connected", "node", id, "namespace", node.Namespace, "pod", node.Pod, "delta", req.delta)
		s.changed(all)
		return "", err
	}
	n := s.nodes[id]
	nonce := req.nonce
	if n == nil || nonce == "" {
		s.mu.Unlock()
		return "", nil
	}
	var deps []string
	rejected := ""
	v := req.version
	if req.delta {
		v = n.sent[nonce]
	}
	if req.nack != nil {
		if r, ok := n.sent[nonce]; ok {
			rejected = r
			n.nacked, n.nackMsg, n.nackTime = rejected, req.nack.GetMessage(), time.Now()
			deps = diff(n.versions[rejected], n.versions[n.acked])
			s.nacked.Add(1)
		}
	} else if v != "" {
		if v != n.acked {
			deps = diff(n.versions[v], n.versions[n.acked])
		}
		n.acked = v
		if n.nacked != "" && n.nacked != v {
			deps = append(deps, diff(n.versions[n.nacked], n.versions[v])...)
		}
		n.nacked, n.nackMsg = "", ""
		s.acked.Add(1)
	}
	delete(n.sent, nonce)
	n.prune()
	s.mu.Unlock()
	if req.nack != nil {
		log.Info("proxy rejected a version", "node", id, "message", req.nack.GetMessage())
	}
	s.changed(deps)
	return rejected, nil
}

// diff returns the deployments whose filter differs between two versions.
func diff(a, b map[string]string) []string {
	var out []string
	for k, v := range a {
		if b[k] != v {
			out = append(out, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	return out
}

func (s *Server) onResponse(streamID int64, nonce, version string) {
	s.delivered.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.nodes[s.streams[streamID]]; n != nil {
		if len(n.sent) > 64 { // a proxy that never answers: forget the oldest guesses rather than grow
			clear(n.sent)
		}
		n.sent[nonce] = version
	}
}

func (s *Server) onClosed(log logr.Logger, streamID int64) {
	s.mu.Lock()
	id, ok := s.streams[streamID]
	delete(s.streams, streamID)
	var all []string
	if ok {
		if n := s.nodes[id]; n != nil {
			n.streams--
			if n.streams <= 0 {
				delete(s.nodes, id)
				s.cache.ClearSnapshot(id)
				all = s.planKeysLocked()
				log.V(1).Info("proxy disconnected", "node", id)
			}
		}
	}
	s.mu.Unlock()
	s.changed(all)
}

func (s *Server) planKeysLocked() []string {
	keys := make([]string, 0, len(s.plans))
	for k := range s.plans {
		keys = append(keys, k)
	}
	return keys
}

func (s *Server) changed(deps []string) {
	if len(deps) > 0 && s.opts.OnChange != nil {
		s.opts.OnChange(deps)
	}
}
