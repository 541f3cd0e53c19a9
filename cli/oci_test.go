package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wasmesh/wasmesh/oci/registrytest"
)

// ociRun executes the wasmesh command line in-process.
func ociRun(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	code = Run(ctx, args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

// ociGoModule builds a tiny Go program for wasip1: a real module for the inspect path.
func ociGoModule(t *testing.T) []byte {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	if err := os.WriteFile(src, []byte("package main\n\nfunc main() { println(\"hi\") }\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "hello.wasm")
	cmd := exec.Command("go", "build", "-o", out, src)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "GO111MODULE=off")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build wasip1: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLoginPushPullInspectLogout(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Config{TLS: true, Auth: true})
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	dir := t.TempDir()
	wasm := ociGoModule(t)
	file := filepath.Join(dir, "hello.wasm")
	if err := os.WriteFile(file, wasm, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "defaults.json")
	if err := os.WriteFile(cfg, []byte(`{"greeting":"hi"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tls := []string{"--ca-file", reg.CAFile}
	ref := reg.Host + "/cli/hello:v1"

	// Without credentials the push is refused with a hint.
	code, _, stderr := ociRun(t, "", append([]string{"push", file, ref}, tls...)...)
	if code == 0 || !strings.Contains(stderr, "refused credentials") || !strings.Contains(stderr, "wasmesh login") {
		t.Fatalf("push without login: code %d, %s", code, stderr)
	}
	if code, _, stderr := ociRun(t, "wrong\n", append([]string{"login", reg.Host, "-u", reg.User, "--password-stdin"}, tls...)...); code == 0 || !strings.Contains(stderr, "refused credentials") {
		t.Fatalf("login with a wrong password: code %d, %s", code, stderr)
	}
	code, stdout, stderr := ociRun(t, reg.Password+"\n", append([]string{"login", reg.Host, "-u", reg.User, "--password-stdin"}, tls...)...)
	if code != 0 || !strings.Contains(stdout, "succeeded") {
		t.Fatalf("login: code %d, %s %s", code, stdout, stderr)
	}
	if b, err := os.ReadFile(filepath.Join(os.Getenv("DOCKER_CONFIG"), "config.json")); err != nil || !strings.Contains(string(b), reg.Host) {
		t.Fatalf("config.json after login: %s %v", b, err)
	}

	code, stdout, stderr = ociRun(t, "", append([]string{"push", file, ref, "--config", cfg, "--annotation", "org.opencontainers.image.revision=abc123", "--output", "json"}, tls...)...)
	if code != 0 {
		t.Fatalf("push: %s", stderr)
	}
	var pushed struct {
		Digest       digest.Digest `json:"digest"`
		ModuleDigest digest.Digest `json:"moduleDigest"`
	}
	if err := json.Unmarshal([]byte(stdout), &pushed); err != nil || pushed.Digest.Validate() != nil || pushed.ModuleDigest != digest.FromBytes(wasm) {
		t.Fatalf("push --output json: %q %v", stdout, err)
	}
	code, stdout, _ = ociRun(t, "", append([]string{"push", file, reg.Host + "/cli/hello:cncf", "--format", "wasm"}, tls...)...)
	if code != 0 || digest.Digest(strings.TrimSpace(stdout)).Validate() != nil {
		t.Fatalf("push text output should be the digest alone: %q", stdout)
	}

	out := filepath.Join(dir, "pulled.wasm")
	code, _, stderr = ociRun(t, "", append([]string{"pull", ref + "@" + pushed.Digest.String(), "-o", out, "--sha256", pushed.ModuleDigest.Encoded()}, tls...)...)
	if code != 0 {
		t.Fatalf("pull: %s", stderr)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, wasm) {
		t.Fatalf("pulled %d bytes, want %d", len(got), len(wasm))
	}
	bad := filepath.Join(dir, "bad.wasm")
	code, _, stderr = ociRun(t, "", "pull", ref, "-o", bad)
	if code == 0 || !strings.Contains(stderr, "TLS failure") || !strings.Contains(stderr, "--ca-file") {
		t.Fatalf("pull from an unknown CA: code %d, %q", code, stderr)
	}
	if code, _, stderr = ociRun(t, "", "pull", ref, "-o", out, "--insecure"); code != 0 {
		t.Fatalf("pull --insecure: %s", stderr)
	}
	code, _, stderr = ociRun(t, "", append([]string{"pull", ref, "-o", bad, "--sha256", strings.Repeat("0", 64)}, tls...)...)
	if code == 0 || !strings.Contains(stderr, "digest mismatch") || !strings.Contains(stderr, ref) || strings.Count(stderr, "\n") != 1 {
		t.Fatalf("pull with a wrong pin: code %d, %q", code, stderr)
	}
	if _, err := os.Stat(bad); !os.IsNotExist(err) {
		t.Fatalf("a failed pull left %s behind", bad)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 3 {
		t.Errorf("unexpected files after pulls: %v", entries)
	}

	code, stdout, stderr = ociRun(t, "", append([]string{"inspect", ref}, tls...)...)
	if code != 0 {
		t.Fatalf("inspect %s: code %d, %s", ref, code, stderr)
	}
	for _, want := range []string{pushed.Digest.String(), "application/vnd.module.wasm.content.layer.v1+wasm", `plugin config {"greeting":"hi"}`, "runtime-config.json",
		"org.opencontainers.image.revision=abc123", "io.wasmesh.language=Go", "sha256", "language", "hello.wasm"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("inspect output lacks %q:\n%s%s", want, stdout, stderr)
		}
	}
	code, stdout, _ = ociRun(t, "", append([]string{"inspect", "--json", reg.Host + "/cli/hello:cncf"}, tls...)...)
	var inspected map[string]any
	if code != 0 || json.Unmarshal([]byte(stdout), &inspected) != nil || inspected["artifactType"] != "application/vnd.wasm.config.v0+json" || inspected["module"] == nil {
		t.Errorf("inspect --json: code %d %s", code, stdout)
	}

	if code, _, stderr := ociRun(t, "", "logout", reg.Host); code != 0 {
		t.Fatalf("logout: %s", stderr)
	}
	code, _, stderr = ociRun(t, "", append([]string{"pull", ref, "-o", bad}, tls...)...)
	if code == 0 || !strings.Contains(stderr, "refused credentials") {
		t.Fatalf("pull after logout: code %d, %s", code, stderr)
	}
}

func TestPushRejectsNonWasm(t *testing.T) {
	file := filepath.Join(t.TempDir(), "script.wasm")
	if err := os.WriteFile(file, []byte("#!/bin/sh\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := ociRun(t, "", "push", file, "127.0.0.1:1/x:y", "--plain-http")
	if code == 0 || !strings.Contains(stderr, "not a WebAssembly binary") || !strings.Contains(stderr, file) {
		t.Fatalf("code %d, %q", code, stderr)
	}
	code, _, stderr = ociRun(t, "", "push", file, "127.0.0.1:1/x:y", "--format", "docker")
	if code == 0 || !strings.Contains(stderr, "unknown format") {
		t.Fatalf("bad --format: code %d, %q", code, stderr)
	}
}

// ociLockedBuffer lets the test read what the registry command prints while it runs.
type ociLockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *ociLockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *ociLockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestRegistryCommand(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut ociLockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"registry", "--addr", "127.0.0.1:0", "--root", t.TempDir()}, strings.NewReader(""), &out, &errOut)
	}()
	addrRE := regexp.MustCompile(`http://(127\.0\.0\.1:\d+)`)
	var addr string
	for deadline := time.Now().Add(20 * time.Second); addr == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := addrRE.FindStringSubmatch(out.String()); m != nil && !strings.HasSuffix(m[1], ":0") {
			addr = m[1]
		}
	}
	if addr == "" {
		cancel()
		t.Fatalf("registry printed no address: %q %q", out.String(), errOut.String())
	}
	file := filepath.Join(t.TempDir(), "m.wasm")
	wasm := registrytest.Module([]byte("registry command"))
	if err := os.WriteFile(file, wasm, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := ociRun(t, "", "push", file, addr+"/dev/m:v1", "--plain-http"); code != 0 {
		t.Fatalf("push: %s", stderr)
	}
	code, stdout, stderr := ociRun(t, "", "pull", addr+"/dev/m:v1", "--plain-http", "-o", "-")
	if code != 0 || stdout != string(wasm) {
		t.Fatalf("pull: code %d, %d bytes, %s", code, len(stdout), stderr)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("registry exited %d: %s", code, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Error("registry did not stop when its context ended")
	}
}
