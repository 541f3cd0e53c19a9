package filter

import (
	"net/textproto"
	"strings"
	"sync"
	"sync/atomic"
)

// Header names cross between two spellings on every request: net/http keeps them canonical ("User-Agent") and
// proxy-wasm guests see and write them in lower case ("user-agent"). Converting allocates a string each time, so
// both directions go through a cache. Each cache stops growing at maxCachedNames entries, so clients sending
// random names cannot grow it without bound (names past the limit are converted, and allocate, every time).
const maxCachedNames = 4096

type nameCache struct {
	m sync.Map // string -> string
	n atomic.Int64
}

func (c *nameCache) get(k string, convert func(string) string) string {
	if v, ok := c.m.Load(k); ok {
		return v.(string)
	}
	v := convert(k)
	if c.n.Add(1) <= maxCachedNames {
		c.m.Store(strings.Clone(k), v)
	}
	return v
}

var lowerNames, canonicalNames nameCache

// commonLower and commonCanonical map the header names most requests and responses carry between their two
// spellings. They are built once and only read, so a lookup is a plain map access, cheaper than the sync.Map of the
// caches above (which hashes through an interface); names not listed still go through those.
var commonLower, commonCanonical = func() (lower, canonical map[string]string) {
	names := []string{"Accept", "Accept-Encoding", "Accept-Language", "Authorization", "Cache-Control",
		"Connection", "Content-Encoding", "Content-Length", "Content-Type", "Cookie", "Date", "Etag", "Expires",
		"Forwarded", "Host", "If-Modified-Since", "If-None-Match", "Last-Modified", "Location", "Origin", "Pragma",
		"Range", "Referer", "Server", "Set-Cookie", "Te", "Trailer", "Transfer-Encoding", "Upgrade", "User-Agent",
		"Vary", "Via", "Www-Authenticate", "X-Api-Key", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto",
		"X-Real-Ip", "X-Request-Id", "X-Wasmesh-Consumer", "Traceparent", "Tracestate", "Retry-After",
		"X-Ratelimit-Limit", "X-Ratelimit-Remaining", "X-Ratelimit-Reset", "Grpc-Status", "Grpc-Message"}
	lower, canonical = make(map[string]string, len(names)), make(map[string]string, len(names))
	for _, n := range names {
		l := asciiLower(n)
		lower[n], canonical[l] = l, n
	}
	return lower, canonical
}()

// LowerName returns name with its ASCII letters in lower case (header names are ASCII tokens; other bytes are
// kept as they are, where strings.ToLower would rewrite invalid UTF-8), without allocating for names seen before.
func LowerName(name string) string {
	if !hasUpper(name) {
		return name
	}
	if l, ok := commonLower[name]; ok {
		return l
	}
	return lowerNames.get(name, asciiLower)
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// CanonicalName returns the net/http spelling of a header name ("x-user" -> "X-User"), without allocating for
// names already canonical or seen before. Native filters convert their configured names once at build time.
func CanonicalName(name string) string {
	if isCanonical(name) {
		return name
	}
	if c, ok := commonCanonical[name]; ok {
		return c
	}
	return canonicalNames.get(name, textproto.CanonicalMIMEHeaderKey)
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			return true
		}
	}
	return false
}

// isCanonical reports whether textproto.CanonicalMIMEHeaderKey would return s unchanged: letters upper case at
// the start and after each '-', lower case elsewhere. Names with other bytes (spaces, non-token bytes) are left
// to textproto, which keeps them as they are.
func isCanonical(s string) bool {
	upper := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case upper && 'a' <= c && c <= 'z', !upper && 'A' <= c && c <= 'Z':
			return false
		case c == ' ' || c >= 0x80:
			return false
		}
		upper = c == '-'
	}
	return true
}
