package h1server

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/wasmesh/wasmesh/host/proxy/internal/httpfield"
)

// Limits bound what a client may send in a request head. Zero fields take the defaults.
type Limits struct {
	// MaxHeaderBytes bounds the request line and header fields together (and, separately, a chunked body's
	// trailer section). Default 1 MiB, as net/http's.
	MaxHeaderBytes int
	// MaxHeaders bounds the number of header fields (and trailer fields). Default 100, as Envoy's.
	MaxHeaders int
}

const (
	defaultMaxHeaderBytes = 1 << 20
	defaultMaxHeaders     = 100
)

// WithDefaults returns l with its zero fields set to the defaults.
func (l Limits) WithDefaults() Limits {
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = defaultMaxHeaderBytes
	}
	if l.MaxHeaders <= 0 {
		l.MaxHeaders = defaultMaxHeaders
	}
	return l
}

// requestError is a request the server refuses before the handler sees it: status is what the client gets.
type requestError struct {
	status int
	reason string
}

func (e *requestError) Error() string { return strconv.Itoa(e.status) + " " + e.reason }

func badRequest(reason string) error { return &requestError{http.StatusBadRequest, reason} }

var (
	errLineTooLong   = &requestError{http.StatusRequestURITooLong, "request line too long"}
	errHeadTooLarge  = &requestError{http.StatusRequestHeaderFieldsTooLarge, "header fields too large"}
	errTooMany       = &requestError{http.StatusRequestHeaderFieldsTooLarge, "too many header fields"}
	errVersion       = &requestError{http.StatusHTTPVersionNotSupported, "unsupported HTTP version"}
	errTE            = &requestError{http.StatusNotImplemented, "unsupported transfer encoding"}
	errExpectation   = &requestError{http.StatusExpectationFailed, "unsupported expectation"}
	errMissingHost   = badRequest("missing required Host header")
	errBadHost       = badRequest("malformed Host header")
	errBadLength     = badRequest("bad Content-Length")
	errSmuggle       = badRequest("both Transfer-Encoding and Content-Length")
	errBadLine       = badRequest("malformed request line")
	errBadField      = badRequest("malformed header field")
	errBadTarget     = badRequest("malformed request target")
	errTE10          = badRequest("Transfer-Encoding in an HTTP/1.0 request")
	errUnexpectedEOF = errors.New("connection closed inside a request head")
)

// parser turns request heads into http.Requests. One parser serves one connection; the strings it hands out
// are fresh or interned (never views of its buffers), while the Header map and the value slices' backing array
// are reused from one request to the next, which is safe because a request's life ends before the next one is
// read (the handler joins its goroutines before returning).
type parser struct {
	limits Limits
	line   []byte // a line longer than the read buffer, assembled
	names  httpfield.Names
	values map[string]string // short header values seen on this connection (Host, User-Agent, Accept, ...)
	vals   []string
	url    url.URL
	target string // the last request target, reused when the next one is the same
	used   int    // head bytes read so far for the current request
}

const (
	maxInternedValue  = 256
	maxInternedValues = 64
)

func newParser(l Limits) *parser {
	return &parser{limits: l.WithDefaults(), values: map[string]string{}}
}

// head is what the server needs from a request head beyond the http.Request.
type head struct {
	chunked   bool
	expect100 bool
	keepAlive bool // HTTP/1.0 "Connection: keep-alive"
}

// readLine returns the next line without its line ending (CRLF or a bare LF, which RFC 9112 2.2 lets a
// recipient accept). The slice is valid until the next read. limit bounds the line and counts against the head.
func (p *parser) readLine(br *bufio.Reader, tooLong error) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		p.line = append(p.line[:0], line...)
		for err == bufio.ErrBufferFull {
			if p.used+len(p.line) > p.limits.MaxHeaderBytes {
				return nil, tooLong
			}
			line, err = br.ReadSlice('\n')
			p.line = append(p.line, line...)
		}
		line = p.line
	}
	p.used += len(line)
	if p.used > p.limits.MaxHeaderBytes {
		return nil, tooLong
	}
	if err != nil {
		if err == io.EOF && len(line) > 0 {
			return nil, errUnexpectedEOF
		}
		return nil, err // io.EOF between requests; a timeout or reset
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// readRequest reads one request head into req (whose Header must be empty). The caller sets Body.
func (p *parser) readRequest(br *bufio.Reader, req *http.Request, h *head) error {
	*h = head{}
	p.used = 0
	line, err := p.readLine(br, errLineTooLong)
	// RFC 9112 2.2: a server should ignore at least one empty line received before the request line.
	if err == nil && len(line) == 0 {
		line, err = p.readLine(br, errLineTooLong)
	}
	if err != nil {
		return err
	}
	if err := p.requestLine(line, req); err != nil {
		return err
	}
	if err := p.fields(br, req.Header, true, req); err != nil {
		return err
	}
	return p.semantics(req, h)
}

func (p *parser) requestLine(line []byte, req *http.Request) error {
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return errBadLine
	}
	sp2 := bytes.LastIndexByte(line, ' ')
	if sp2 <= sp1+1 {
		return errBadLine
	}
	method, target, proto := line[:sp1], line[sp1+1:sp2], line[sp2+1:]
	for _, c := range method {
		if !httpfield.IsToken(c) {
			return errBadLine
		}
	}
	for _, c := range target {
		if c <= ' ' || c == 0x7f {
			return errBadTarget
		}
	}
	switch string(proto) {
	case "HTTP/1.1":
		req.Proto, req.ProtoMajor, req.ProtoMinor = "HTTP/1.1", 1, 1
	case "HTTP/1.0":
		req.Proto, req.ProtoMajor, req.ProtoMinor = "HTTP/1.0", 1, 0
	default:
		if len(proto) < 5 || string(proto[:5]) != "HTTP/" {
			return errBadLine
		}
		return errVersion
	}
	req.Method = internMethod(method)
	if string(target) != p.target {
		p.target = string(target)
	}
	req.RequestURI = p.target
	return p.parseTarget(req)
}

func internMethod(m []byte) string {
	switch string(m) {
	case "GET":
		return http.MethodGet
	case "HEAD":
		return http.MethodHead
	case "POST":
		return http.MethodPost
	case "PUT":
		return http.MethodPut
	case "DELETE":
		return http.MethodDelete
	case "OPTIONS":
		return http.MethodOptions
	case "PATCH":
		return http.MethodPatch
	case "CONNECT":
		return http.MethodConnect
	case "TRACE":
		return http.MethodTrace
	}
	return string(m)
}

// parseTarget fills req.URL. The common origin form without escapes is split without url.Parse (which allocates);
// everything else goes through net/url as net/http does.
func (p *parser) parseTarget(req *http.Request) error {
	t := p.target
	if t[0] == '/' {
		// A path of bytes net/url would write back unchanged needs no RawPath: the URL is built by slicing.
		path, query, hasQuery := t, "", false
		plain := true
		for i := 0; i < len(t); i++ {
			c := t[i]
			if c == '?' {
				path, query, hasQuery = t[:i], t[i+1:], true
				break
			}
			if !plainPathByte(c) {
				plain = false
				break
			}
		}
		if plain {
			p.url = url.URL{Path: path, RawQuery: query, ForceQuery: hasQuery && query == ""}
			req.URL = &p.url
			return nil
		}
	}
	if t == "*" {
		p.url = url.URL{Path: "*"}
		req.URL = &p.url
		return nil
	}
	raw := t
	if req.Method == http.MethodConnect && t[0] != '/' {
		raw = "http://" + t // authority form, as net/http reads it
	}
	u, err := url.ParseRequestURI(raw)
	if err != nil {
		return errBadTarget
	}
	if raw != t {
		u.Scheme = ""
	}
	p.url = *u
	req.URL = &p.url
	return nil
}

// plainPathByte reports whether net/url leaves c as it is in a path (its shouldEscape for encodePath).
func plainPathByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || hasByte("-_.~$&+,/:;=@", c)
}

func hasByte(s string, c byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return true
		}
	}
	return false
}

// fields reads header (or trailer) fields up to the empty line into h. For a request head, req gets Host.
func (p *parser) fields(br *bufio.Reader, h http.Header, isHead bool, req *http.Request) error {
	tooLarge := errHeadTooLarge
	n := 0
	if isHead {
		p.vals = p.vals[:0]
	} else {
		p.used = 0
	}
	for {
		line, err := p.readLine(br, tooLarge)
		if err != nil {
			return err
		}
		if len(line) == 0 {
			return nil
		}
		if n++; n > p.limits.MaxHeaders {
			return errTooMany
		}
		name, v, ok := httpfield.Split(line)
		if !ok {
			return errBadField
		}
		key := p.names.Canonical(name)
		if isHead && key == "Host" {
			if req.Host != "" || hostSeen(req) {
				return badRequest("more than one Host header")
			}
			req.Host = p.value(v)
			if req.Host == "" {
				req.Host = emptyHostMarker
			}
			continue
		}
		var vv []string
		if isHead {
			p.vals = append(p.vals, p.value(v))
			vv = p.vals[len(p.vals)-1 : len(p.vals) : len(p.vals)]
		} else {
			vv = []string{p.value(v)} // trailers arrive while the head's values are in use
		}
		if old, ok := h[key]; ok {
			h[key] = append(old, vv[0])
		} else {
			h[key] = vv
		}
	}
}

// emptyHostMarker stands for a Host header with an empty value while the head is read (an empty Host is legal
// for some request targets and must still count as present); semantics turns it back into "".
const emptyHostMarker = "\x00"

func hostSeen(req *http.Request) bool { return req.Host == emptyHostMarker }

// value returns v as a string, interned on the connection when short: clients repeat most values (Host,
// User-Agent, Accept) on every request of a connection.
func (p *parser) value(v []byte) string {
	if len(v) == 0 {
		return ""
	}
	if len(v) > maxInternedValue {
		return string(v)
	}
	if s, ok := p.values[string(v)]; ok {
		return s
	}
	s := string(v)
	if len(p.values) >= maxInternedValues {
		clear(p.values)
	}
	p.values[s] = s
	return s
}

// semantics applies the head's framing and connection rules (RFC 9112 6, 9.3) once all fields are read.
func (p *parser) semantics(req *http.Request, h *head) error {
	hd := req.Header
	if hostSeen(req) {
		req.Host = ""
	} else if req.Host == "" && req.ProtoMinor == 1 {
		return errMissingHost
	}
	if req.Host != "" && !validHost(req.Host) {
		return errBadHost
	}
	if req.URL.Host != "" {
		req.Host = req.URL.Host // absolute form wins over Host (RFC 9112 3.2.2)
	}
	for _, v := range hd["Connection"] {
		httpfield.EachToken(v, func(t string) {
			switch {
			case httpfield.EqualFold(t, "close"):
				req.Close = true
			case httpfield.EqualFold(t, "keep-alive"):
				h.keepAlive = true
			}
		})
	}
	if req.ProtoMinor == 0 && !h.keepAlive {
		req.Close = true
	}

	te, hasTE := hd["Transfer-Encoding"]
	cl, hasCL := hd["Content-Length"]
	switch {
	case hasTE && req.ProtoMinor == 0:
		return errTE10
	case hasTE && hasCL:
		return errSmuggle
	case hasTE:
		if len(te) != 1 || !httpfield.EqualFold(te[0], "chunked") {
			return errTE
		}
		delete(hd, "Transfer-Encoding")
		h.chunked = true
		req.ContentLength = -1
		req.TransferEncoding = chunkedTE
		if err := p.declareTrailers(req); err != nil {
			return err
		}
	case hasCL:
		n, ok := parseLength(cl[0])
		if !ok {
			return errBadLength
		}
		for _, v := range cl[1:] {
			if v != cl[0] {
				return errBadLength
			}
		}
		req.ContentLength = n
	default:
		req.ContentLength = 0
	}
	if ex, ok := hd["Expect"]; ok && req.ProtoMinor == 1 {
		if len(ex) != 1 || !httpfield.EqualFold(ex[0], "100-continue") {
			return errExpectation
		}
		h.expect100 = req.ContentLength != 0
	}
	return nil
}

// declareTrailers turns a chunked request's Trailer field into the keys of req.Trailer (values come after the
// body), as net/http does.
func (p *parser) declareTrailers(req *http.Request) error {
	decl, ok := req.Header["Trailer"]
	if !ok {
		return nil
	}
	delete(req.Header, "Trailer")
	t := http.Header{}
	for _, v := range decl {
		bad := false
		httpfield.EachToken(v, func(name string) {
			for i := 0; i < len(name); i++ {
				if !httpfield.IsToken(name[i]) {
					bad = true
					return
				}
			}
			key := p.names.Canonical([]byte(name))
			switch key {
			case "Transfer-Encoding", "Trailer", "Content-Length", "Host":
				bad = true
			}
			t[key] = nil
		})
		if bad {
			return badRequest("bad Trailer declaration")
		}
	}
	if len(t) > 0 {
		req.Trailer = t
	}
	return nil
}

var chunkedTE = []string{"chunked"}[:1:1]

func parseLength(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// validHost accepts the characters of a URI host and port (RFC 3986 3.2.2, with IP literals in brackets).
func validHost(h string) bool {
	for i := 0; i < len(h); i++ {
		c := h[i]
		if c < 128 && (httpfield.IsToken(c) && c != '#' && c != '^' && c != '`' && c != '|' || c == ':' || c == '[' ||
			c == ']' || c == '(' || c == ')' || c == ',' || c == ';' || c == '=' || c == '@') {
			continue
		}
		return false
	}
	return true
}
