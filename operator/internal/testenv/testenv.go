// Package testenv runs the operator's tests against a real kube-apiserver and etcd (controller-runtime's
// envtest) with the WasmDeployment CRD and Istio's own CRDs installed.
//
// The binaries come from scripts/install-envtest.sh, which builds kube-apiserver and kubectl from
// k8s.io/kubernetes and takes etcd from Debian, into a cache directory outside the repository.
// KUBEBUILDER_ASSETS, when set, wins; otherwise that cache directory is used. Missing binaries are
// an error that says to run the script, never a silent skip.
//
//	func TestMain(m *testing.M) {
//		env, err := testenv.Start()
//		if err != nil {
//			fmt.Fprintln(os.Stderr, err)
//			os.Exit(1)
//		}
//		code := m.Run()
//		env.Stop()
//		os.Exit(code)
//	}
package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	extensionsv1alpha1 "istio.io/client-go/pkg/apis/extensions/v1alpha1"
	networkingv1alpha3 "istio.io/client-go/pkg/apis/networking/v1alpha3"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/wasmesh/wasmesh/operator/api/v1alpha1"
)

// KubeVersion is the version of kube-apiserver and kubectl the tests run, kept in step with the
// k8s.io/* modules (v0.37.1) and scripts/install-envtest.sh.
const KubeVersion = "1.37.1"

// ErrAssetsMissing: the control-plane binaries are not installed.
var ErrAssetsMissing = errors.New("envtest binaries missing: run scripts/install-envtest.sh")

// AssetsDir returns the directory holding kube-apiserver, etcd and kubectl: $KUBEBUILDER_ASSETS
// if set, else ${XDG_CACHE_HOME:-$HOME/.cache}/wasmesh/envtest/v<KubeVersion>.
func AssetsDir() (string, error) {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		cache := os.Getenv("XDG_CACHE_HOME")
		if cache == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return "", fmt.Errorf("finding the envtest cache: %w", err)
			}
			cache = filepath.Join(home, ".cache")
		}
		dir = filepath.Join(cache, "wasmesh", "envtest", "v"+KubeVersion)
	}
	for _, bin := range []string{"kube-apiserver", "etcd", "kubectl"} {
		p := filepath.Join(dir, bin)
		if st, err := os.Stat(p); err != nil || st.Mode()&0o111 == 0 {
			return "", fmt.Errorf("%w (looked for %s)", ErrAssetsMissing, p)
		}
	}
	return dir, nil
}

// Env is a running control plane with a client for the wasmesh and Istio types.
type Env struct {
	Config *rest.Config
	Client client.Client
	Scheme *runtime.Scheme
	// Kubectl is the path of the kubectl binary matching the API server.
	Kubectl string
	// RepoRoot is the wasmesh repository's root directory.
	RepoRoot string

	env        *envtest.Environment
	kubeconfig string
}

// Start starts etcd and kube-apiserver on loopback and installs the CRDs of config/crd/bases and
// Istio's CRDs (from the istio.io/api module in use). The ports are picked free by envtest rather
// than pinned, so test packages can run in parallel without colliding. Call Stop when done, even
// after a failed test, so no etcd or kube-apiserver process outlives the test binary.
func Start() (*Env, error) {
	assets, err := AssetsDir()
	if err != nil {
		return nil, err
	}
	dirs, err := moduleDirs("github.com/wasmesh/wasmesh", "istio.io/api")
	if err != nil {
		return nil, err
	}
	root, istioAPI := dirs[0], dirs[1]
	scheme, err := NewScheme()
	if err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		Scheme:                scheme,
		CRDDirectoryPaths: []string{
			filepath.Join(root, "config", "crd", "bases"),
			filepath.Join(istioAPI, "kubernetes", "customresourcedefinitions.gen.yaml"),
		},
		ErrorIfCRDPathMissing:    true,
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  30 * time.Second,
	}
	cfg, err := env.Start()
	if err != nil {
		_ = env.Stop()
		return nil, fmt.Errorf("starting envtest with binaries from %s: %w", assets, err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		_ = env.Stop()
		return nil, fmt.Errorf("envtest client: %w", err)
	}
	e := &Env{Config: cfg, Client: c, Scheme: scheme, Kubectl: filepath.Join(assets, "kubectl"), RepoRoot: root, env: env}
	if e.kubeconfig, err = writeKubeconfig(env.KubeConfig); err != nil {
		_ = env.Stop()
		return nil, err
	}
	return e, nil
}

// Stop stops kube-apiserver and etcd and removes their data.
func (e *Env) Stop() error {
	_ = os.Remove(e.kubeconfig)
	return e.env.Stop()
}

// NewScheme registers the types the operator reads and writes.
func NewScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		clientgoscheme.AddToScheme,
		apiextensionsv1.AddToScheme,
		v1alpha1.AddToScheme,
		extensionsv1alpha1.AddToScheme,
		networkingv1alpha3.AddToScheme,
	} {
		if err := add(s); err != nil {
			return nil, fmt.Errorf("building the scheme: %w", err)
		}
	}
	return s, nil
}

// Namespace creates a namespace for one test and deletes it when the test ends. (envtest runs no
// namespace controller, so the namespace stays Terminating; its name is unique all the same.)
func (e *Env) Namespace(t testing.TB) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "wasmesh-test-"}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.Client.Create(ctx, ns); err != nil {
		t.Fatalf("creating a test namespace: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = e.Client.Delete(ctx, ns)
	})
	return ns.Name
}

// RunKubectl runs kubectl against the test API server and returns its standard output.
func (e *Env) RunKubectl(ctx context.Context, stdin []byte, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, e.Kubectl, append([]string{"--kubeconfig", e.kubeconfig}, args...)...)
	cmd.Dir = e.RepoRoot
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

func writeKubeconfig(b []byte) (string, error) {
	f, err := os.CreateTemp("", "wasmesh-envtest-kubeconfig-*")
	if err != nil {
		return "", fmt.Errorf("writing the envtest kubeconfig: %w", err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		return "", fmt.Errorf("writing the envtest kubeconfig: %w", err)
	}
	return f.Name(), nil
}

// moduleDirs asks the go command where the given modules' sources are: the main module's root,
// and dependencies in the module cache (so the Istio CRDs are those of the istio.io/api version
// in go.mod).
func moduleDirs(paths ...string) ([]string, error) {
	cmd := exec.Command("go", append([]string{"list", "-m", "-json"}, paths...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list -m %s: %w: %s", strings.Join(paths, " "), err, stderr.String())
	}
	dirs := map[string]string{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var m struct{ Path, Dir string }
		if err := dec.Decode(&m); err != nil {
			return nil, fmt.Errorf("go list -m: %w", err)
		}
		dirs[m.Path] = m.Dir
	}
	var res []string
	for _, p := range paths {
		if dirs[p] == "" {
			return nil, fmt.Errorf("go list -m: no directory for %s: run go mod download %s", p, p)
		}
		res = append(res, dirs[p])
	}
	return res, nil
}
