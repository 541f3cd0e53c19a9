package httpproxy

import (
	"net/http"
	"strconv"
	"sync/atomic"

	"github.com/wasmesh/wasmesh/host/proxy/h1server"
)

// HeaderLimits bound what a client may send in a request head on a listener (config: listeners[].
// max_request_headers_kb and max_headers_count). Zero fields take h1server's defaults (1 MiB, 100 fields).
type HeaderLimits struct {
	Bytes  int // the request line and the header fields together, counted as HTTP/1.1 would send them
	Fields int // header fields, each value of a repeated name counting once
}

// maxHeaderBytesCeiling is what net/http's servers are told: the configured limit, which a reload may raise up to
// the largest value the configuration accepts, is enforced per request by limitHeaders instead, since a running
// http.Server's MaxHeaderBytes cannot change.
const maxHeaderBytesCeiling = 8192 << 10

// headerLimits holds a listener's current limits; a reload replaces them without restarting the listener.
type headerLimits struct {
	cur atomic.Pointer[h1server.Limits]
	h1  atomic.Pointer[h1server.Server] // the listener's own HTTP/1.1 server, when it runs one
}

func (hl *headerLimits) set(l HeaderLimits) {
	lim := h1server.Limits{MaxHeaderBytes: l.Bytes, MaxHeaders: l.Fields}.WithDefaults()
	hl.cur.Store(&lim)
	if s := hl.h1.Load(); s != nil {
		s.SetLimits(lim)
	}
}

func (hl *headerLimits) now() h1server.Limits {
	if l := hl.cur.Load(); l != nil {
		return *l
	}
	return h1server.Limits{}.WithDefaults()
}

// limitHeaders answers 431 to a request whose head is over the listener's limits, for the requests net/http's
// servers parse (TLS, HTTP/2, http_server: net/http); h1server enforces them while it reads a head.
func (hl *headerLimits) limitHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lim := hl.now()
		size := len(r.Method) + len(r.RequestURI) + len(r.Proto) + 4 // "GET /x HTTP/1.1\r\n"
		fields := 0
		for k, vs := range r.Header {
			fields += len(vs)
			for _, v := range vs {
				size += len(k) + len(v) + 4 // "k: v\r\n"
			}
		}
		if r.Host != "" && r.Header.Get("Host") == "" { // net/http moves Host (and h2's :authority) out of the map
			fields++
			size += len("Host") + len(r.Host) + 4
		}
		var reason string
		switch {
		case fields > lim.MaxHeaders:
			reason = strconv.Itoa(fields) + " header fields, over the listener's max_headers_count of " + strconv.Itoa(lim.MaxHeaders)
		case size > lim.MaxHeaderBytes:
			reason = "request head of " + strconv.Itoa(size) + " bytes, over the listener's max_request_headers_kb (" + strconv.Itoa(lim.MaxHeaderBytes) + " bytes)"
		default:
			next.ServeHTTP(w, r)
			return
		}
		if r.ProtoMajor == 1 {
			w.Header().Set("Connection", "close")
		}
		http.Error(w, "431 Request Header Fields Too Large: "+reason, http.StatusRequestHeaderFieldsTooLarge)
	})
}
