// Package request is the pure-Go view of one request that the filters' decision functions read: the header map
// (HTTP headers, or Dubbo attachments under the team's header convention), the path and query, and the client IP.
//
// The proxy-wasm adapter builds it once per stream from the header map and the `source.address` property; the
// decision code and its benchmarks never touch the host.
//
//	r := request.New(headers, "10.0.0.7:41234")
//	if r.Dubbo { fmt.Println(r.Service, r.DubboMethod) }
//	key, ok := r.Header("x-api-key")
package request

import (
	"net/netip"
	"net/url"
	"strings"
)

// Dubbo header names: the data plane turns a Dubbo invocation into these pseudo and x-dubbo-* headers, and every
// other header is a string attachment.
const (
	HeaderDubboService  = "x-dubbo-service"
	HeaderDubboMethod   = "x-dubbo-method"
	HeaderDubboVersion  = "x-dubbo-version"
	HeaderDubboGroup    = "x-dubbo-group"
	HeaderDubboProtocol = "x-dubbo-protocol-version"
	MethodDubbo         = "DUBBO"
)

// Request is one request as the filters see it. Headers keep the host's order and lowercase names.
type Request struct {
	Headers [][2]string

	Method    string // :method; "DUBBO" for Dubbo invocations
	Authority string // :authority without port, lowercased
	Path      string // :path without the query
	RawQuery  string // the part of :path after '?'

	// ClientIP is the address from `source.address`; invalid when absent or unparsable.
	ClientIP netip.Addr

	Dubbo       bool
	Service     string // Dubbo interface, from x-dubbo-service or the first :path segment
	DubboMethod string // from x-dubbo-method or the second :path segment
	Version     string
	Group       string
}

// New builds a Request from the lowercase header pairs and the `source.address` property (ip:port or ip).
func New(headers [][2]string, sourceAddress string) Request {
	r := Request{Headers: headers}
	for _, h := range headers {
		// Only pseudo headers, host and x-dubbo-* matter here. Checking the first byte first skips the string
		// switch for every other header, which is worth it in Wasm where each string comparison is a call.
		if k := h[0]; len(k) == 0 || (k[0] != ':' && k[0] != 'x' && k[0] != 'h') {
			continue
		}
		switch h[0] {
		case ":method":
			r.Method = h[1]
		case ":authority", "host":
			if r.Authority == "" {
				r.Authority = hostOnly(h[1])
			}
		case ":path":
			r.Path, r.RawQuery, _ = strings.Cut(h[1], "?")
		case HeaderDubboService:
			r.Service = h[1]
		case HeaderDubboMethod:
			r.DubboMethod = h[1]
		case HeaderDubboVersion:
			r.Version = h[1]
		case HeaderDubboGroup:
			r.Group = h[1]
		}
	}
	r.Dubbo = r.Method == MethodDubbo
	if r.Dubbo && (r.Service == "" || r.DubboMethod == "") {
		// Fall back to :path = /<service>/<method> when the x-dubbo-* headers are missing.
		svc, m, _ := strings.Cut(strings.TrimPrefix(r.Path, "/"), "/")
		if r.Service == "" {
			r.Service = svc
		}
		if r.DubboMethod == "" {
			r.DubboMethod = m
		}
	}
	if sourceAddress != "" { // most filters pass none; in Wasm even a call that returns at once costs
		r.ClientIP = ParseSourceAddress(sourceAddress)
	}
	return r
}

// ParseSourceAddress parses `ip:port`, `[v6]:port` or a bare IP; it returns the invalid Addr on failure.
func ParseSourceAddress(s string) netip.Addr {
	if s == "" {
		return netip.Addr{}
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap()
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap()
	}
	return netip.Addr{}
}

// hostOnly strips the port from an authority and lowercases it, in one pass over the bytes: in Wasm each scan of
// the string (for ':' from either end, for upper case) costs about as much as the rest of New.
func hostOnly(authority string) string {
	if strings.HasPrefix(authority, "[") {
		if i := strings.IndexByte(authority, ']'); i > 0 {
			return strings.ToLower(authority[1:i])
		}
		return strings.ToLower(authority)
	}
	colon, colons, upper := -1, 0, false
	for i := 0; i < len(authority); i++ {
		switch c := authority[i]; {
		case c == ':':
			colon, colons = i, colons+1
		case c >= 'A' && c <= 'Z' || c >= 0x80:
			upper = true
		}
	}
	host := authority
	if colons == 1 { // more than one: a bare IPv6 address, which has no port
		host = authority[:colon]
	}
	if upper {
		return strings.ToLower(host)
	}
	return host
}

// Header returns the first value of the lowercase header name.
func (r *Request) Header(name string) (string, bool) {
	for _, h := range r.Headers {
		if h[0] == name {
			return h[1], true
		}
	}
	return "", false
}

// Query returns the first value of query parameter name, unescaped. It scans the raw query without building a map.
func (r *Request) Query(name string) (string, bool) {
	q := r.RawQuery
	for q != "" {
		var part string
		part, q, _ = strings.Cut(q, "&")
		k, v, _ := strings.Cut(part, "=")
		if k != name {
			if !strings.ContainsAny(k, "%+") {
				continue
			}
			uk, err := url.QueryUnescape(k)
			if err != nil || uk != name {
				continue
			}
		}
		if !strings.ContainsAny(v, "%+") {
			return v, true
		}
		uv, err := url.QueryUnescape(v)
		if err != nil {
			return "", false
		}
		return uv, true
	}
	return "", false
}

// Cookie returns the value of cookie name from the Cookie headers.
func (r *Request) Cookie(name string) (string, bool) {
	for _, h := range r.Headers {
		if h[0] != "cookie" {
			continue
		}
		rest := h[1]
		for rest != "" {
			var part string
			part, rest, _ = strings.Cut(rest, ";")
			k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
			if ok && k == name {
				return strings.Trim(v, `"`), true
			}
		}
	}
	return "", false
}

// IsReservedDubboHeader reports whether name carries invocation metadata rather than an attachment; filters must not
// add, rename or remove those as if they were attachments.
func IsReservedDubboHeader(name string) bool {
	return strings.HasPrefix(name, ":") || strings.HasPrefix(name, "x-dubbo-")
}
