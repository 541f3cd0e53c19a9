// Package registrytest starts real OCI registries for tests: Debian's docker-registry (the CNCF distribution
// registry) on loopback, with htpasswd basic auth and a self-signed TLS certificate, or plain HTTP. It also
// locates the oras CLI and makes small valid Wasm modules.
//
//	reg := registrytest.Start(t, registrytest.Config{TLS: true, Auth: true})
//	// push to reg.Host + "/demo:v1", trusting reg.CAFile with reg.User / reg.Password
package registrytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Config selects the registry's security.
type Config struct {
	TLS  bool // serve HTTPS with a self-signed certificate for 127.0.0.1
	Auth bool // require htpasswd basic auth (bcrypt cost 4)
}

// Registry is a running registry.
type Registry struct {
	Host     string // 127.0.0.1:port
	CAFile   string // PEM of the self-signed certificate when TLS
	CAPool   *x509.CertPool
	User     string
	Password string
	Root     string // storage directory
}

// Binary returns the docker-registry executable or fails the test saying how to install it.
func Binary(t testing.TB) string {
	t.Helper()
	return requireTool(t, "docker-registry", "/usr/bin/docker-registry", "scripts/install-registry.sh")
}

// Oras returns the oras CLI built by scripts/install-oras.sh or fails the test saying to run it.
func Oras(t testing.TB) string {
	t.Helper()
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	p := filepath.Join(cache, "wasmesh", "tools", "oras-v1.3.2", "oras")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("oras CLI not found at %s: run scripts/install-oras.sh", p)
	}
	return p
}

func requireTool(t testing.TB, name, fallback, script string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if _, err := os.Stat(fallback); err == nil {
		return fallback
	}
	t.Fatalf("%s not found: run %s", name, script)
	return ""
}

// Start runs a registry for the duration of the test.
func Start(t testing.TB, cfg Config) *Registry {
	t.Helper()
	bin := Binary(t)
	if cfg.Auth {
		requireTool(t, "htpasswd", "/usr/bin/htpasswd", "scripts/install-registry.sh")
	}
	dir := t.TempDir()
	r := &Registry{Root: filepath.Join(dir, "data")}
	var extra strings.Builder
	if cfg.TLS {
		certFile, keyFile, pool := selfSigned(t, dir)
		r.CAFile, r.CAPool = certFile, pool
		fmt.Fprintf(&extra, "  tls:\n    certificate: %s\n    key: %s\n", certFile, keyFile)
	}
	auth := ""
	if cfg.Auth {
		r.User, r.Password = "wasmesh", "s3cret-"+randHex(4)
		out, err := exec.Command("htpasswd", "-Bbn", "-C", "4", r.User, r.Password).Output()
		if err != nil {
			t.Fatalf("htpasswd: %v", err)
		}
		htpasswd := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(htpasswd, out, 0o600); err != nil {
			t.Fatal(err)
		}
		auth = fmt.Sprintf("auth:\n  htpasswd:\n    realm: wasmesh-test\n    path: %s\n", htpasswd)
	}
	for attempt := 0; attempt < 3; attempt++ {
		port := freePort(t)
		r.Host = fmt.Sprintf("127.0.0.1:%d", port)
		conf := fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
  secret: %s
%s%s`, r.Root, r.Host, randHex(16), extra.String(), auth)
		confFile := filepath.Join(dir, "config.yml")
		if err := os.WriteFile(confFile, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "serve", confFile)
		logf, err := os.Create(filepath.Join(dir, fmt.Sprintf("registry-%d.log", attempt)))
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = logf, logf
		// Pdeathsig: a registry must not outlive a test binary killed by a timeout.
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			t.Fatalf("start %s: %v", bin, err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		stop := func() {
			_ = cmd.Process.Kill()
			<-exited
			logf.Close()
		}
		if r.waitReady(cfg.TLS, exited) {
			t.Cleanup(stop)
			return r
		}
		stop()
		log, _ := os.ReadFile(logf.Name())
		t.Logf("registry on %s did not start (attempt %d): %s", r.Host, attempt+1, log)
	}
	t.Fatalf("docker-registry did not start; see the logs above")
	return nil
}

// URL is the registry's base URL.
func (r *Registry) URL() string {
	if r.CAFile != "" {
		return "https://" + r.Host
	}
	return "http://" + r.Host
}

func (r *Registry) waitReady(tlsOn bool, exited <-chan struct{}) bool {
	client := &http.Client{Timeout: time.Second}
	if tlsOn {
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: r.CAPool}}
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		resp, err := client.Get(r.URL() + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return true
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// selfSigned writes a certificate for 127.0.0.1 that is its own CA.
func selfSigned(t testing.TB, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "wasmesh test registry"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	return certFile, keyFile, pool
}

// Module returns a minimal valid Wasm module: the header plus one custom section carrying payload, so tests can
// make distinct modules of any size.
func Module(payload []byte) []byte {
	name := "wasmesh-test"
	var body []byte
	body = binary.AppendUvarint(body, uint64(len(name)))
	body = append(body, name...)
	body = append(body, payload...)
	out := []byte("\x00asm\x01\x00\x00\x00")
	out = append(out, 0) // custom section id
	out = binary.AppendUvarint(out, uint64(len(body)))
	return append(out, body...)
}
