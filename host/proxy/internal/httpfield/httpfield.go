// Package httpfield holds what the proxy's two HTTP/1.1 head parsers share, the server's for requests
// (host/proxy/h1server) and the upstream client's for responses (host/proxy/cluster): field-name tokens, the
// optional whitespace around values, and header names spelled as net/http spells them and interned, so that the
// names a connection sees on every message cost no allocation.
package httpfield

import (
	"bytes"
	"net/textproto"
)

// IsToken reports whether c may appear in a token (RFC 9110 5.6.2): methods and field names.
func IsToken(c byte) bool { return c < 128 && tokenTable[c] }

var tokenTable = func() (t [128]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// TrimOWS drops the optional whitespace (spaces and tabs) around a field value.
func TrimOWS[T string | []byte](b T) T {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// Split parses a field line (without its line ending) into its name and its value without the whitespace around
// it, and reports whether the line is well formed (RFC 9112 5): a token name right before the colon, and a value
// without control bytes. A line starting with whitespace (obsolete folding) or with the colon is not.
func Split(line []byte) (name, value []byte, ok bool) {
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 {
		return nil, nil, false
	}
	name = line[:colon]
	for _, c := range name {
		if !IsToken(c) {
			return nil, nil, false // whitespace before the colon included (RFC 9112 5.1)
		}
	}
	value = TrimOWS(line[colon+1:])
	if !ValidValue(value) {
		return nil, nil, false
	}
	return name, value, true
}

// ValidValue reports whether a field value holds no control bytes other than tab (RFC 9110 5.5).
func ValidValue(v []byte) bool {
	for _, c := range v {
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// Names spells header names as net/http does (textproto's canonical form) and interns them: the common names
// from a fixed table, others from a small cache of its own. One Names serves one connection; it is not safe for
// concurrent use.
type Names struct {
	canon []byte
	seen  map[string]string // names seen on this connection that are not in common
}

// maxSeen bounds a connection's cache, so a peer sending random names cannot grow it.
const maxSeen = 64

// Canonical returns the canonical form of a field name made of tokens, interned.
func (n *Names) Canonical(name []byte) string {
	n.canon = append(n.canon[:0], name...)
	upper := true
	for i, c := range n.canon {
		if upper && 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		} else if !upper && 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		n.canon[i] = c
		upper = c == '-'
	}
	if s, ok := common[string(n.canon)]; ok {
		return s
	}
	if s, ok := n.seen[string(n.canon)]; ok {
		return s
	}
	s := string(n.canon)
	if n.seen == nil || len(n.seen) >= maxSeen {
		n.seen = make(map[string]string, maxSeen)
	}
	n.seen[s] = s
	return s
}

var common = func() map[string]string {
	m := map[string]string{}
	for _, n := range []string{"Accept", "Accept-Charset", "Accept-Encoding", "Accept-Language", "Accept-Ranges",
		"Age", "Authorization", "Cache-Control", "Connection", "Content-Disposition", "Content-Encoding",
		"Content-Language", "Content-Length", "Content-Location", "Content-Range", "Content-Type", "Cookie",
		"Date", "Etag", "Expect", "Expires", "Forwarded", "From", "Host", "If-Match", "If-Modified-Since",
		"If-None-Match", "If-Range", "If-Unmodified-Since", "Keep-Alive", "Last-Modified", "Location", "Origin",
		"Pragma", "Proxy-Authorization", "Proxy-Connection", "Range", "Referer", "Retry-After",
		"Sec-Websocket-Extensions", "Sec-Websocket-Key", "Sec-Websocket-Protocol", "Sec-Websocket-Version", "Server",
		"Set-Cookie", "Te", "Trailer", "Transfer-Encoding", "Upgrade", "User-Agent", "Vary", "Via",
		"Www-Authenticate", "X-Api-Key", "X-Content-Type-Options", "X-Forwarded-For", "X-Forwarded-Host",
		"X-Forwarded-Proto", "X-Real-Ip", "X-Request-Id", "Traceparent", "Tracestate"} {
		if textproto.CanonicalMIMEHeaderKey(n) != n {
			panic("httpfield: non-canonical common header " + n)
		}
		m[n] = n
	}
	return m
}()

// EachToken calls fn with each non-empty element of a comma-separated field value (Connection, Upgrade),
// trimmed of spaces.
func EachToken(v string, fn func(token string)) {
	for len(v) > 0 {
		i := 0
		for i < len(v) && v[i] != ',' {
			i++
		}
		if t := TrimOWS(v[:i]); t != "" {
			fn(t)
		}
		if i == len(v) {
			return
		}
		v = v[i+1:]
	}
}

// HasToken reports whether the comma-separated field value v lists token, ignoring case.
func HasToken(v, token string) bool {
	for len(v) > 0 {
		i := 0
		for i < len(v) && v[i] != ',' {
			i++
		}
		if EqualFold(TrimOWS(v[:i]), token) {
			return true
		}
		if i == len(v) {
			return false
		}
		v = v[i+1:]
	}
	return false
}

// EqualFold compares ASCII case-insensitively, as field names and tokens compare.
func EqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
