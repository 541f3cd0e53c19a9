package cluster

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strconv"

	"github.com/wasmesh/wasmesh/host/proxy/internal/httpfield"
)

// respHead parses the common shape of an upstream's response head itself, which costs a fraction of
// http.ReadResponse (a textproto reader, a string per field, a map insert per field through canonicalisation):
// an HTTP/1.1 final response whose whole head is already buffered, framed by Content-Length or without a body.
// Anything else (1xx, chunked or close-delimited bodies, HTTP/1.0, obsolete line folding, a Trailer field,
// duplicate or malformed framing fields, a head not yet fully read) is left unread for http.ReadResponse, so its
// rules stay the only ones for what is unusual.
type respHead struct {
	names httpfield.Names
	body  clBody
}

// read returns the response at the head of br, or ok false with nothing consumed.
func (h *respHead) read(br *bufio.Reader, req *http.Request) (resp *http.Response, ok bool) {
	buf, _ := br.Peek(br.Buffered())
	end := bytes.Index(buf, crlfcrlf)
	if end < 0 {
		return nil, false
	}
	blockBytes := buf[:end+2] // each line with its CRLF
	line, rest, _ := bytes.Cut(blockBytes, crlf)
	code, status, ok := statusLine(line)
	if !ok {
		return nil, false
	}
	// The field values share one string with the head; names are interned.
	n := bytes.Count(rest, crlf)
	hdr := make(http.Header, n)
	vals := make([]string, 0, n)
	block := string(rest)
	length, hasLength, closing := int64(-1), false, false
	for off := 0; off < len(block); {
		eol := off + bytes.Index(rest[off:], crlf)
		f := rest[off:eol]
		name, v, ok := httpfield.Split(f) // no folding, no bare CR or LF: those are not well formed
		if !ok {
			return nil, false
		}
		vo := cap(rest) - cap(v) // v's offset in rest, and so in block
		value := block[vo : vo+len(v)]
		key := h.names.Canonical(name)
		switch key {
		case "Content-Length":
			if hasLength {
				return nil, false
			}
			l, err := strconv.ParseUint(value, 10, 63) // digits only, as net/http reads it
			if err != nil {
				return nil, false
			}
			length, hasLength = int64(l), true
		case "Transfer-Encoding", "Trailer":
			return nil, false
		case "Connection":
			closing = closing || httpfield.HasToken(value, "close")
		}
		vals = append(vals, value)
		if old, ok := hdr[key]; ok {
			hdr[key] = append(old, value)
		} else {
			hdr[key] = vals[len(vals)-1 : len(vals) : len(vals)] // one backing array for the head's values
		}
		off = eol + 2
	}
	head, noBody := req.Method == http.MethodHead, code == http.StatusNoContent || code == http.StatusNotModified
	if !hasLength && !head && !noBody {
		return nil, false // read to the close: rare between proxies, left to net/http
	}
	if closing {
		delete(hdr, "Connection") // as net/http does once it has taken the close
	}
	if _, err := br.Discard(end + 4); err != nil {
		return nil, false
	}
	resp = &http.Response{
		Status: status, StatusCode: code, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: hdr, ContentLength: length, Close: closing, Request: req,
	}
	switch {
	case head: // the length, if any, describes what a GET would have returned; -1 if none
		resp.Body = http.NoBody
	case noBody:
		resp.ContentLength, resp.Body = 0, http.NoBody
	case length == 0:
		resp.Body = http.NoBody
	default:
		h.body = clBody{br: br, left: length}
		resp.Body = &h.body
	}
	return resp, true
}

var crlf, crlfcrlf = []byte("\r\n"), []byte("\r\n\r\n")

// statusLine parses "HTTP/1.1 200 OK": a three-digit final status and any reason.
func statusLine(line []byte) (code int, status string, ok bool) {
	const proto = "HTTP/1.1 "
	if len(line) < len(proto)+3 || string(line[:len(proto)]) != proto {
		return 0, "", false
	}
	d := line[len(proto) : len(proto)+3]
	for _, c := range d {
		if c < '0' || c > '9' {
			return 0, "", false
		}
	}
	code = int(d[0]-'0')*100 + int(d[1]-'0')*10 + int(d[2]-'0')
	if code < 200 {
		return 0, "", false // 1xx come before the final response; 0xx are not statuses
	}
	if reason := line[len(proto)+3:]; len(reason) > 0 && (reason[0] != ' ' || !httpfield.ValidValue(reason)) {
		return 0, "", false // a reason is separated by a space and holds no control bytes
	}
	// net/http's Status is all after the version; the usual one comes from the table.
	all := line[len(proto):]
	if code < len(statusLines) && statusLines[code] != "" && string(all) == statusLines[code] {
		return code, statusLines[code], true
	}
	return code, string(all), true
}

// statusLines are net/http's Status strings ("200 OK") for the statuses it names, built once.
var statusLines = func() (t [600]string) {
	for c := range t {
		if txt := http.StatusText(c); txt != "" {
			t[c] = strconv.Itoa(c) + " " + txt
		}
	}
	return t
}()

// clBody reads a Content-Length body from the connection's reader. A body that ends early is
// io.ErrUnexpectedEOF, as net/http reports it.
type clBody struct {
	br   *bufio.Reader
	left int64
}

func (b *clBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.br.Read(p)
	b.left -= int64(n)
	if err == io.EOF {
		if b.left > 0 {
			return n, io.ErrUnexpectedEOF
		}
		err = nil
	}
	if b.left == 0 && err == nil {
		return n, io.EOF
	}
	return n, err
}

func (b *clBody) Close() error { return nil }
