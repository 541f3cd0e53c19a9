package h1server_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/wasmesh/wasmesh/host/proxy/h1server"
)

// Serve an http.Handler on a cleartext listener, then drain it. A small body gets an exact Content-Length.
func Example() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	srv := &h1server.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "%s %s over %s", r.Method, r.URL.Path, r.Proto)
		}),
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       5 * time.Minute,
	}
	go srv.Serve(ln)

	resp, err := http.Get("http://" + ln.Addr().String() + "/hello")
	if err != nil {
		panic(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, string(b), resp.ContentLength)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	http.DefaultClient.CloseIdleConnections()
	fmt.Println(srv.Shutdown(ctx))
	// Output:
	// 200 GET /hello over HTTP/1.1 24
	// <nil>
}
