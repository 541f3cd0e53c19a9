//go:build e2e

package demo

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDemoCtrlC runs `wasmesh demo --keep` as a user would, interrupts it like Ctrl-C once it says it keeps
// running, and checks that it exits cleanly and that nothing it started still listens: the registry, the
// operator's servers, the proxies' listeners and admin servers, and the Dubbo providers.
func TestDemoCtrlC(t *testing.T) {
	bin, err := filepath.Abs("../bin/wasmesh")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%v: run make build filters (make test-e2e does)", err)
	}
	work := t.TempDir()
	outPath := filepath.Join(work, "demo.out")
	out, err := os.Create(outPath)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command(bin, "demo", "--keep", "--work-dir", filepath.Join(work, "demo"))
	cmd.Dir = ".." // the demo finds bin/, filters/ and samples/ from the repository root
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	}()

	var story string
	deadline := time.Now().Add(3 * time.Minute)
	for !strings.Contains(story, "still running") {
		select {
		case err := <-exited:
			b, _ := os.ReadFile(outPath)
			t.Fatalf("demo exited before keeping things running: %v\n%s", err, b)
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("demo not running after 3 minutes:\n%s", story)
		}
		b, _ := os.ReadFile(outPath)
		story = string(b)
	}
	addrs := map[string]bool{}
	for _, a := range regexp.MustCompile(`127\.0\.0\.1:\d+`).FindAllString(story, -1) {
		addrs[a] = true
	}
	listening := 0
	for a := range addrs {
		if c, err := net.DialTimeout("tcp", a, time.Second); err == nil {
			c.Close()
			listening++
		}
	}
	// registry, echo, 2 Dubbo providers, operator (xDS, modules, metrics), 2 proxies (HTTP, Dubbo, admin)
	if listening < 13 {
		t.Fatalf("only %d of the %d addresses the demo printed listen while it runs:\n%s", listening, len(addrs), story)
	}

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("demo after Ctrl-C: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("demo still running 20s after Ctrl-C")
	}
	for a := range addrs {
		if c, err := net.DialTimeout("tcp", a, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still listens after the demo exited", a)
		}
	}
	t.Logf("%d addresses listened while the demo ran; none after Ctrl-C", listening)
}
