package httpproxy

import (
	"bytes"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
)

// processCPU is the user and system CPU time the process used so far, in nanoseconds.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkServer runs keep-alive GETs through a Listener on loopback, with the handler and an in-memory upstream
// (a fixed response), under each HTTP/1.1 server: what a request costs in the server and the handler together.
// The client is a raw connection writing one request and reading its response at a time, allocating nothing,
// so allocs/op are the server's and the handler's. ns/op is the wall time of a round trip, which on a shared
// machine mostly measures waiting for a core; cpu-ns/op is the process's CPU time (getrusage) per request,
// client included (the same work under both servers).
func BenchmarkServer(b *testing.B) {
	for _, server := range []string{ServerWasmesh, ServerNetHTTP} {
		b.Run(strings.ReplaceAll(server, "/", "-"), func(b *testing.B) {
			up := &fixedUpstream{resp: http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"text/plain"}}, ContentLength: 5}}
			px := serveListener(b, server, newTestHandler(b, up))
			c, err := net.Dial("tcp", strings.TrimPrefix(px.URL, "http://"))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			req := []byte("GET /bench HTTP/1.1\r\nHost: svc\r\nUser-Agent: bench\r\nX-Api-Key: k1\r\nAccept: */*\r\n\r\n")
			end := []byte("\r\n\r\nhello")
			buf := make([]byte, 4096)
			roundTrip := func() {
				if _, err := c.Write(req); err != nil {
					b.Fatal(err)
				}
				n := 0
				for !bytes.HasSuffix(buf[:n], end) {
					k, err := c.Read(buf[n:])
					if err != nil {
						b.Fatal(err)
					}
					n += k
				}
				if !bytes.HasPrefix(buf, []byte("HTTP/1.1 200 ")) {
					b.Fatalf("response %q", buf[:n])
				}
			}
			for range 100 {
				roundTrip() // warm the pools and the connection's caches
			}
			b.ReportAllocs()
			cpu0 := processCPU()
			b.ResetTimer()
			for range b.N {
				roundTrip()
			}
			b.StopTimer()
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}
