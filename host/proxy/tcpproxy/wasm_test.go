package tcpproxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/host/engine"
	"github.com/wasmesh/wasmesh/host/proxy/filter"
	"github.com/wasmesh/wasmesh/host/proxy/filter/wasm"
	"github.com/wasmesh/wasmesh/host/proxy/filter/wasm/wasmtest"
	"github.com/wasmesh/wasmesh/host/proxy/module"
)

// greeter is a server that speaks first after delay, noting whether the client sent anything before, then
// records the rest.
func greeter(t *testing.T, delay time.Duration) (addr string, got func() string) {
	var mu sync.Mutex
	var rec strings.Builder
	addr = serveTCP(t, func(c net.Conn) {
		buf := make([]byte, 1024)
		c.SetReadDeadline(time.Now().Add(delay))
		if n, _ := c.Read(buf); n > 0 {
			mu.Lock()
			fmt.Fprintf(&rec, "EARLY %q;", buf[:n])
			mu.Unlock()
		}
		c.SetReadDeadline(time.Time{})
		io.WriteString(c, "220 ready\n")
		for {
			n, err := c.Read(buf)
			mu.Lock()
			rec.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	})
	return addr, func() string { mu.Lock(); defer mu.Unlock(); return rec.String() }
}

// A Wasm L4 filter holds the client's bytes until the server's greeting passed (PAUSE, then
// proxy_continue_stream from on_upstream_data), then holds partial lines until a later chunk completes them.
func TestWasmFilterPausesAndResumes(t *testing.T) {
	path := wasmtest.Build(t, "testdata/serverfirst")
	eng, err := engine.New(engine.Config{CacheDir: wasmtest.CompileCache(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(context.Background())
	kind := wasm.Kind(eng, module.Default(nil))
	f, err := kind.New(context.Background(), filter.Spec{Name: "serverfirst", Kind: "wasm",
		Module: filter.ModuleRef{URL: "file://" + path}})
	if err != nil {
		t.Fatal(err)
	}
	defer f.(filter.Closer).Close(context.Background())

	for _, tt := range []struct {
		name      string
		filters   []filter.NetworkFilter
		mid, want string
	}{
		{"without the filter the client's bytes arrive early", nil, `EARLY "hel";lo\nwor`, `EARLY "hel";lo\nworld\n`},
		// "hel" goes on with the resume after the greeting; "lo\nwor" ends inside a line and is held until "ld\n".
		{"the filter holds them until the greeting, then whole lines", []filter.NetworkFilter{f.(filter.NetworkFilter)},
			"hel", "hello\nworld\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			addr, got := greeter(t, 150*time.Millisecond)
			c := dial(t, startProxy(t, addr, 0, tt.filters...))
			io.WriteString(c, "hel")
			greeting, err := bufio.NewReader(c).ReadString('\n')
			if err != nil || greeting != "220 ready\n" {
				t.Fatalf("greeting %q, %v", greeting, err)
			}
			time.Sleep(30 * time.Millisecond)
			io.WriteString(c, "lo\nwor")
			time.Sleep(50 * time.Millisecond)
			if mid := strings.ReplaceAll(tt.mid, `\n`, "\n"); got() != mid {
				t.Fatalf("before the end of the line the server got %q, want %q", got(), mid)
			}
			io.WriteString(c, "ld\n")
			want := strings.ReplaceAll(tt.want, `\n`, "\n")
			eventually(t, func() bool { return got() == want })
		})
	}
}
