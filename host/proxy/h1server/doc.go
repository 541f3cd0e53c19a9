// Package h1server is the data plane's HTTP/1.1 server for cleartext listeners: it reads requests with its own
// parser into a request reused per connection, writes responses through pooled buffers without net/http's
// per-request goroutine, header clone and sort, and hands connections that open with the HTTP/2 preface to a
// net/http server (h2c with prior knowledge).
//
// It serves an http.Handler, so the proxy's handler runs unchanged under it or under net/http (the listener
// option http_server: net/http). It supports keep-alive and pipelining (responses in request order),
// Content-Length and chunked request bodies streamed to the handler, chunked responses with trailers
// (http.TrailerPrefix), Expect: 100-continue, Connection: close, HTTP/1.0, limits on the head (431 or 400 with a
// log line), read-header and idle timeouts, graceful shutdown, and Hijack for upgrades.
//
// What it does differently from net/http: it watches the connection for a client that goes away only once a
// bodyless request has run for a second or two (watch.go), not with a goroutine per request; it does not sniff a missing Content-Type (a proxy passes the upstream's headers as they are); the request handed to
// the handler, its Header map and the ResponseWriter are reused for the connection's next request, so a handler
// must not keep them after it returns (the proxy's handler joins its goroutines before returning).
//
//	srv := &h1server.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 5 * time.Minute}
//	go srv.Serve(ln)
//	...
//	srv.Shutdown(ctx)
package h1server
