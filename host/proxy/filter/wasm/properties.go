package wasm

import (
	"encoding/binary"
	"unsafe"

	"github.com/wasmesh/wasmesh/host/proxy/filter"
)

// properties answers the proxy-wasm properties a stream knows, with Envoy's names and encodings (strings as
// bytes, integers as 8-byte little endian).
type properties filter.Stream

func (p *properties) GetProperty(path string) ([]byte, bool) {
	s := (*filter.Stream)(p)
	switch path {
	case "request.path":
		return str(s.RequestHeaders.Get(":path"))
	case "request.url_path":
		if h, ok := s.RequestHeaders.(*filter.HTTPRequestHeaders); ok && h.R.URL.Opaque == "" {
			if p := h.R.URL.EscapedPath(); p != "" { // without building the whole request URI
				return str(p)
			}
			return str("/")
		}
		path := s.RequestHeaders.Get(":path")
		for i := 0; i < len(path); i++ {
			if path[i] == '?' {
				path = path[:i]
				break
			}
		}
		return str(path)
	case "request.method":
		return str(s.RequestHeaders.Get(":method"))
	case "request.host":
		return str(s.RequestHeaders.Get(":authority"))
	case "request.scheme":
		return str(s.RequestHeaders.Get(":scheme"))
	}
	return infoProperty(&s.Info, path)
}

// connProperties answers the properties of an L4 connection.
type connProperties filter.Conn

func (p *connProperties) GetProperty(path string) ([]byte, bool) {
	return infoProperty(&(*filter.Conn)(p).Info, path)
}

// str returns v's bytes without copying them: the engine only copies a property's value into guest memory and
// never changes or keeps it, so a copy here would be an allocation per lookup for nothing.
func str(v string) ([]byte, bool) { return unsafe.Slice(unsafe.StringData(v), len(v)), v != "" }

// infoProperty answers the properties that come from stream info, for HTTP streams and connections alike.
func infoProperty(info *filter.Info, path string) ([]byte, bool) {
	switch path {
	case "source.address":
		return str(info.Source)
	case "destination.address":
		return str(info.Destination)
	case "request.protocol":
		return str(info.Protocol)
	case "route_name":
		return str(info.Route)
	case "cluster_name":
		return str(info.Cluster)
	case "upstream_cluster":
		return str(info.UpstreamCluster)
	case "listener_name", "xds.listener_name":
		return str(info.Listener)
	case "connection.mtls":
		mtls := info.TLS != nil && len(info.TLS.PeerCertificates) > 0
		return []byte{boolByte(mtls)}, true
	case "connection.tls_version":
		if info.TLS == nil {
			return nil, false
		}
		return str(tlsVersion(info.TLS.Version))
	case "response.code":
		if info.ResponseCode == 0 {
			return nil, false
		}
		return binary.LittleEndian.AppendUint64(nil, uint64(info.ResponseCode)), true
	}
	return nil, false
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}

func tlsVersion(v uint16) string {
	switch v {
	case 0x0301:
		return "TLSv1"
	case 0x0302:
		return "TLSv1.1"
	case 0x0303:
		return "TLSv1.2"
	case 0x0304:
		return "TLSv1.3"
	}
	return ""
}
