package controller_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"
	"github.com/opencontainers/go-digest"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"k8s.io/apimachinery/pkg/api/meta"
	"oras.land/oras-go/v2/registry/remote/auth"
	"sigs.k8s.io/yaml"

	"github.com/wasmesh/wasmesh/internal/atomicfile"
	"github.com/wasmesh/wasmesh/oci"
	"github.com/wasmesh/wasmesh/oci/registry"
	"github.com/wasmesh/wasmesh/oci/registrytest"
	"github.com/wasmesh/wasmesh/operator"
	"github.com/wasmesh/wasmesh/operator/modules"
	"github.com/wasmesh/wasmesh/operator/store"
	"github.com/wasmesh/wasmesh/xdsapi"
)

// startRegistry runs the embedded registry on loopback for the test.
func startRegistry(t testing.TB) string {
	t.Helper()
	srv, err := registry.New(registry.Options{Addr: "127.0.0.1:0", Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = srv.Start(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case addr := <-srv.Ready():
		return addr
	case <-time.After(20 * time.Second):
		t.Fatal("registry did not start")
	}
	return ""
}

var anonymous = func(context.Context, string) (auth.Credential, error) { return auth.EmptyCredential, nil }

// push pushes wasm to ref over plain HTTP and returns the manifest digest.
func push(t testing.TB, ref string, wasm []byte, cred auth.CredentialFunc) digest.Digest {
	t.Helper()
	if cred == nil {
		cred = anonymous
	}
	c, err := oci.NewClient(oci.Options{Default: oci.RegistryOptions{PlainHTTP: true}, Credential: cred})
	if err != nil {
		t.Fatal(err)
	}
	desc, err := c.Push(context.Background(), ref, wasm, oci.PushOptions{Created: time.Unix(1700000000, 0)})
	if err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	return desc.Digest
}

// startOperator runs the operator in directory mode on loopback.
func startOperator(t testing.TB, dir string) *operator.Operator {
	t.Helper()
	return runOperator(t, operator.Options{Dir: dir, DirInterval: 50 * time.Millisecond})
}

// runOperator starts the operator with its servers on loopback and a fresh cache, and stops it after the test.
func runOperator(t testing.TB, opts operator.Options) *operator.Operator {
	t.Helper()
	opts.XDSAddr, opts.ModulesAddr = "127.0.0.1:0", "127.0.0.1:0"
	opts.Puller = modules.PullerOptions{CacheDir: t.TempDir(), OCI: oci.Options{Default: oci.RegistryOptions{PlainHTTP: true}}}
	op, err := operator.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(logr.NewContext(context.Background(), testr.NewWithInterface(t, testr.Options{Verbosity: 0})))
	done := make(chan error, 1)
	go func() { done <- op.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("operator: %v", err)
		}
	})
	select {
	case <-op.Ready():
	case err := <-done:
		t.Fatalf("operator stopped: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("operator not ready")
	}
	return op
}

func xdsAddr(t testing.TB, op *operator.Operator) string {
	t.Helper()
	select {
	case a := <-op.XDS.Ready():
		return a
	case <-time.After(10 * time.Second):
		t.Fatal("xDS server not ready")
	}
	return ""
}

// writeYAML writes a file of the directory atomically, as an editor would.
func writeYAML(t testing.TB, dir, name, content string) {
	t.Helper()
	if err := atomicfile.Write(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// waitStatus polls the status file of ns/name until ok accepts it.
func waitStatus(t testing.TB, dir, ns, name string, timeout time.Duration, ok func(store.StatusFile) bool) store.StatusFile {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last store.StatusFile
	for time.Now().Before(deadline) {
		data, err := os.ReadFile(filepath.Join(dir, ns+"."+name+store.StatusSuffix))
		if err == nil {
			var sf store.StatusFile
			if yaml.Unmarshal(data, &sf) == nil {
				last = sf
				if ok(sf) {
					return sf
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	b, _ := yaml.Marshal(last)
	t.Fatalf("status of %s/%s never matched; last:\n%s", ns, name, b)
	return last
}

func condIs(sf store.StatusFile, typ, status, reason string) bool {
	c := meta.FindStatusCondition(sf.Status.Conditions, typ)
	return c != nil && string(c.Status) == status && (reason == "" || c.Reason == reason)
}

func hasEvent(sf store.StatusFile, typ, reason string) bool {
	for _, e := range sf.Events {
		if e.Type == typ && e.Reason == reason {
			return true
		}
	}
	return false
}

// proxy is a test xDS client: a real ADS stream over gRPC that ACKs, or NACKs what reject says to.
type proxy struct {
	node xdsapi.Node
	conn *grpc.ClientConn // its ADS stream's; load reports go on it too

	mu      sync.Mutex
	reject  func(digest string) string // non-empty: NACK with this message
	filters map[string]string          // deployment -> module digest currently applied
	urls    map[string]string
	version string
	updates chan struct{}
}

func connect(t testing.TB, addr string, node xdsapi.Node, reject func(string) string) *proxy {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := discovery.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{node: node, conn: conn, reject: reject, filters: map[string]string{}, urls: map[string]string{}, updates: make(chan struct{}, 1)}
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done; conn.Close() })
	if err := stream.Send(&discovery.DiscoveryRequest{Node: node.Proto(), TypeUrl: resource.ExtensionConfigType}); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(done)
		for {
			resp, err := stream.Recv()
			if err != nil {
				return
			}
			req := p.apply(resp)
			if err := stream.Send(req); err != nil {
				return
			}
		}
	}()
	return p
}

// apply decodes a response as a wasmesh proxy would and returns the ACK or NACK.
func (p *proxy) apply(resp *discovery.DiscoveryResponse) *discovery.DiscoveryRequest {
	filters, urls := map[string]string{}, map[string]string{}
	var problem string
	for _, a := range resp.GetResources() {
		var tec core.TypedExtensionConfig
		if err := a.UnmarshalTo(&tec); err != nil {
			problem = err.Error()
			break
		}
		if tec.GetName() == xdsapi.ChainName {
			if _, err := xdsapi.DecodeChain(&tec); err != nil {
				problem = err.Error()
			}
			continue
		}
		pc, err := xdsapi.DecodeFilter(&tec)
		if err != nil {
			problem = err.Error()
			break
		}
		d := "sha256:" + pc.GetVmConfig().GetCode().GetRemote().GetSha256()
		if p.reject != nil && problem == "" {
			problem = p.reject(d)
		}
		filters[pc.GetName()] = d
		urls[pc.GetName()] = pc.GetVmConfig().GetCode().GetRemote().GetHttpUri().GetUri()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	req := &discovery.DiscoveryRequest{TypeUrl: resource.ExtensionConfigType, ResponseNonce: resp.GetNonce()}
	if problem != "" {
		req.VersionInfo = p.version
		req.ErrorDetail = &status.Status{Code: 3, Message: problem}
	} else {
		p.filters, p.urls, p.version = filters, urls, resp.GetVersionInfo()
		req.VersionInfo = p.version
	}
	select {
	case p.updates <- struct{}{}:
	default:
	}
	return req
}

func (p *proxy) digest(deployment string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.filters[deployment]
}

func (p *proxy) url(deployment string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.urls[deployment]
}

func waitFor(t testing.TB, timeout time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if ok() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func deploymentYAML(name, ns, url, extra string) string {
	return fmt.Sprintf(`apiVersion: wasmesh.io/v1alpha1
kind: WasmDeployment
metadata:
  name: %s
  namespace: %s
spec:
  url: %s
  pluginConfig: {"greeting": "hello"}
  selector:
    matchLabels: {app: web}
%s`, name, ns, url, extra)
}

var _ = registrytest.Module

type (
	contextT = context.Context
	authCred = auth.Credential
)

func removeFile(dir, name string) error { return os.Remove(filepath.Join(dir, name)) }

// gauge reads one unlabelled metric of the operator's directory-mode registry.
func gauge(t testing.TB, op *operator.Operator, name string) float64 {
	t.Helper()
	mfs, err := op.Metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			m := mf.GetMetric()[0]
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("metric %s not found", name)
	return 0
}
