package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// freeAddr reserves a loopback port for a config that must name it (the admin address is read from the file).
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// `wasmesh proxy` reloads on SIGHUP and refuses to start on an invalid file.
func TestProxyCommandSIGHUP(t *testing.T) {
	admin := freeAddr(t)
	path := filepath.Join(t.TempDir(), "proxy.yaml")
	cfg := func(tag string) string {
		return fmt.Sprintf(`admin: {address: %s}
listeners:
- name: http
  address: 127.0.0.1:0
  filters: [{name: tag, kind: header, config: {request_set: {x-tag: %s}}}]
  routes: [{name: all, cluster: up}]
clusters: [{name: up, endpoints: [{address: "127.0.0.1:1"}]}]
`, admin, tag)
	}
	os.WriteFile(path, []byte(cfg("one")), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runProxy(ctx, path, proxyRuntime{}, 0, slog.New(slog.DiscardHandler)) }()
	generation := func() int {
		resp, err := http.Get("http://" + admin + "/config_dump")
		if err != nil {
			return 0
		}
		defer resp.Body.Close()
		var d struct{ Generation int }
		json.NewDecoder(resp.Body).Decode(&d)
		return d.Generation
	}
	waitUntil(t, func() bool { return generation() == 1 })
	os.WriteFile(path, []byte(cfg("two")), 0o644)
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitUntil(t, func() bool { return generation() == 2 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("proxy stopped with %v", err)
	}

	os.WriteFile(path, []byte(strings.Replace(cfg("x"), "cluster: up", "cluster: upp", 1)), 0o644)
	err := runProxy(context.Background(), path, proxyRuntime{}, 0, slog.New(slog.DiscardHandler))
	var ee *ExitError
	if err == nil || !strings.Contains(err.Error(), `unknown cluster "upp"`) || !errors.As(err, &ee) || ee.Code != 2 {
		t.Fatalf("invalid config: %v", err)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	// A minute: a proxy compiling a Go-built module with a cold cache on a loaded 2-core machine took over 10s.
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in a minute")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
