package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/host/engine"
	"github.com/wasmesh/wasmesh/host/proxy/filter"
	"github.com/wasmesh/wasmesh/host/proxy/filter/native/header"
	"github.com/wasmesh/wasmesh/host/proxy/filter/wasm"
	"github.com/wasmesh/wasmesh/host/proxy/filter/wasm/wasmtest"
	"github.com/wasmesh/wasmesh/host/proxy/module"
)

func echoServer(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	return ln.Addr().String()
}

const tcpConfig = `
listeners:
- name: tcp
  address: 127.0.0.1:0
  protocol: tcp
  filters: %s
  routes: [{name: echo, cluster: echo}]
clusters:
- {name: echo, protocol: tcp, endpoints: [{address: "%s"}]}
`

// A tcp listener proxies bytes both ways through an L4 Wasm filter (the engine's tcp fixture, built by the
// wasmesh builder): it prefixes client data with "hello " and upper-cases what comes back.
func TestTCPListenerWithWasmFilter(t *testing.T) {
	path := wasmtest.Build(t, "../engine/testdata/tcp")
	eng, err := engine.New(engine.Config{CacheDir: wasmtest.CompileCache(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(context.Background())
	reg, _ := filter.NewRegistry(header.Kind(), wasm.Kind(eng, module.Default(nil)))
	echo := echoServer(t)

	h := startProxy(t, reg, fmt.Sprintf(tcpConfig, "[]", echo))
	if got := tcpRoundTrip(t, h.srv.Addr("tcp").String(), "abc\n"); got != "abc\n" {
		t.Fatalf("without filters: %q", got)
	}
	h.write(fmt.Sprintf(tcpConfig, fmt.Sprintf(`[{name: l4, kind: wasm, module: {url: "file://%s"}}]`, path), echo))
	if err := h.srv.Reload(context.Background(), "test"); err != nil {
		t.Fatal(err)
	}
	if got := tcpRoundTrip(t, h.srv.Addr("tcp").String(), "abc\n"); got != "HELLO ABC\n" {
		t.Fatalf("through the wasm filter: %q", got)
	}

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte(fmt.Sprintf(tcpConfig, `[{name: h, kind: header, config: {request_set: {a: b}}}]`, echo)), 0o644)
	if _, err := New(context.Background(), Options{ConfigPath: bad, Registry: reg}); err == nil ||
		!strings.Contains(err.Error(), "cannot run on a tcp listener") {
		t.Fatalf("http filter on a tcp listener: %v", err)
	}
}

func tcpRoundTrip(t *testing.T, addr, msg string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("read: %v (got %q)", err, line)
	}
	return line
}
