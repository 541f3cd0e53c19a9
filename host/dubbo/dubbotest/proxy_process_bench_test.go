package dubbotest_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/host/proxy/filter/wasm/wasmtest"
)

// BenchmarkProxyProcess is BenchmarkProxy with the proxy in a process of its own (`wasmesh proxy`, built from
// this checkout), so the proxy's CPU per call is read from /proc/<pid>/stat (proxy-cpu-ns/op) instead of being
// inferred, and the load generator and provider (this process) do not share its garbage collector. Use a large
// -benchtime (e.g. 30000x): /proc counts CPU in 10 ms ticks.
func BenchmarkProxyProcess(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bin := buildWasmesh(b)
	bs := newBenchSetup(b, ctx)
	for _, v := range []struct{ name, filters string }{
		{"direct", ""},
		{"wasmesh-nofilter", "[]"},
		{"wasmesh-wasm-auth", "[" + bs.auth + "]"},
		{"wasmesh-wasm-dubbo-routing", "[" + bs.route + "]"},
	} {
		b.Run(v.name, func(b *testing.B) {
			addr, pid := bs.v1, 0
			if v.filters != "" {
				addr, pid = startProxyProcess(b, bin, fmt.Sprintf(proxyBenchConfig, v.filters, bs.v1, bs.v2))
			}
			c := loadClient(b, ctx, addr, bs.req)
			b.SetParallelism(16)
			b.ReportAllocs()
			before := processCPU(b, pid)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					call(b, c, bs.req)
				}
			})
			b.StopTimer()
			if pid != 0 {
				b.ReportMetric(float64(processCPU(b, pid)-before)/float64(b.N), "proxy-cpu-ns/op")
			}
		})
	}
}

// buildWasmesh builds the wasmesh command of this checkout into the test's temporary directory.
func buildWasmesh(b *testing.B) string {
	out := filepath.Join(b.TempDir(), "wasmesh")
	cmd := exec.Command("go", "build", "-o", out, "./cli/wasmesh")
	cmd.Dir = "../../.."
	if o, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build ./cli/wasmesh: %v\n%s", err, o)
	}
	return out
}

// startProxyProcess runs `wasmesh proxy` on cfg (its dubbo listener moved to a free port) until the benchmark
// ends, and returns the listener's address and the process id.
func startProxyProcess(b *testing.B, bin, cfg string) (string, int) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dir := b.TempDir()
	path := filepath.Join(dir, "proxy.yaml")
	if err := os.WriteFile(path, []byte(strings.Replace(cfg, "address: 127.0.0.1:0", "address: "+addr, 1)), 0o644); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, "proxy", "-c", path, "--log-level", "warn", "--watch-interval", "0",
		"--wasm-cache-dir", wasmtest.CompileCache(b))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return addr, cmd.Process.Pid
		}
		if time.Now().After(deadline) {
			b.Fatalf("wasmesh proxy did not listen on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// processCPU is the user and system CPU time of process pid in nanoseconds (10 ms resolution), 0 for pid 0.
func processCPU(b *testing.B, pid int) int64 {
	if pid == 0 {
		return 0
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatalf("proxy CPU: %v (needs Linux /proc)", err)
	}
	// Fields after the command name, which is in parentheses and may hold spaces: utime and stime are the 12th
	// and 13th of them.
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return (ut + st) * int64(time.Second/100) // USER_HZ is 100 on Linux
}
