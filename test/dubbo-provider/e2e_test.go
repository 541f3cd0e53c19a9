//go:build e2e

package main

import (
	"bufio"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/host/dubbo/dubbotest"
)

// TestBinary builds the command, runs it as the demo does, calls it and stops it with SIGTERM.
func TestBinary(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "dubbo-provider")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.CommandContext(ctx, bin, "-listen", "127.0.0.1:0", "-label", "v2")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("no listening line: %v", err)
	}
	rest, ok := strings.CutPrefix(line, "dubbo-provider listening on ")
	if !ok {
		t.Fatalf("first line %q", line)
	}
	c, err := dubbotest.Dial(ctx, strings.Fields(rest)[0])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	res, err := c.Call(ctx, dubbotest.Invocation{Service: dubbotest.ExampleGreetingService, Method: "sayGoodbye", Args: []any{"Alice"}})
	if err != nil || res.Value != "goodbye Alice from v2" {
		t.Fatalf("sayGoodbye = %+v, %v", res, err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
}
