package dubbo

import (
	"strconv"

	"github.com/wasmesh/wasmesh/host/dubbo/hessian"
)

// Attachment is one string-valued entry of a request's attachment map.
type Attachment struct {
	Key, Value string
}

// Request is a decoded Dubbo request body. The leading strings and the string attachments are decoded; the
// arguments are kept as their encoded bytes and written back verbatim, as are attachments whose key or value is
// not a string.
//
// A Request is meant to be reused: DecodeRequest keeps its slices' memory. Args points into the body passed to
// DecodeRequest, so that body must not be changed while the Request is used; the strings are copies and are safe
// to keep.
type Request struct {
	DubboVersion string // protocol version written by the client, e.g. 2.0.2
	Service      string // service path (the interface name)
	Version      string // service version, often empty
	Method       string
	ParamTypes   string // JVM descriptors of the parameters, e.g. Ljava/lang/String;I
	Args         []byte // the encoded arguments, verbatim
	Attachments  []Attachment

	path  string // /Service/Method, built at decode time so headers cost nothing
	group string // the group attachment at decode time, to tell whether a filter changed x-dubbo-group

	dubbox    []byte // the int some clients write between method and parameter types, verbatim
	hasMap    bool
	nullMap   bool      // the client wrote null for the map; written back as null while there are no attachments
	mapPrefix []byte    // 'H', or 'M' and its type, as received: keeps the stream's type table intact
	others    []rawPair // entries that are not string to string, verbatim
	tail      []byte    // bytes after the attachment map, verbatim

	sc      hessian.Scanner
	text    []byte // scratch: all decoded strings back to back, turned into one string
	spans   []span
	scratch []byte // owns mapPrefix, others and tail bytes
}

type rawPair struct {
	key  string // "" when the key itself is not a string
	kind int8   // 0: key not a string; 1: string key
	off  int    // into scratch
	n    int
}

type span struct{ k0, k1, v0, v1 int }

// Reserved attachment keys the codec reads. Java Dubbo copies the service, version and group into the
// attachment map as well, and the provider trusts the map, so a routing change must update both.
const (
	attachmentPath      = "path"
	attachmentInterface = "interface"
	attachmentVersion   = "version"
	attachmentGroup     = "group"
)

// Attachment returns the value of a string attachment and whether it is there.
func (r *Request) Attachment(key string) (string, bool) {
	for i := range r.Attachments {
		if r.Attachments[i].Key == key {
			return r.Attachments[i].Value, true
		}
	}
	return "", false
}

// SetAttachment sets a string attachment, replacing an existing one.
func (r *Request) SetAttachment(key, value string) {
	for i := range r.Attachments {
		if r.Attachments[i].Key == key {
			r.Attachments[i].Value = value
			return
		}
	}
	r.Attachments = append(r.Attachments, Attachment{Key: key, Value: value})
}

// DeleteAttachment removes a string attachment.
func (r *Request) DeleteAttachment(key string) {
	out := r.Attachments[:0]
	for _, a := range r.Attachments {
		if a.Key != key {
			out = append(out, a)
		}
	}
	r.Attachments = out
}

// Path returns /Service/Method, the :path the request shows to filters.
func (r *Request) Path() string { return r.path }

// DecodeRequest decodes a hessian2 request body (the bytes after the frame header) into r, reusing r's memory.
// Arguments are skipped by the Hessian grammar, never built. Errors are *ProtocolError of KindMalformedBody.
func DecodeRequest(body []byte, r *Request) error {
	r.reset()
	var fields [5][]byte
	off := 0
	for i := range fields {
		if i == 4 && off < len(body) && !hessian.IsString(body, off) && body[off] != hessian.TagNull {
			// dubbo2.js with isSupportedDubbox writes an int (-1) before the parameter types: keep it as is.
			if _, next, err := hessian.Int(body, off); err == nil {
				r.dubbox = r.keep(body[off:next])
				off = next
			}
		}
		if off < len(body) && body[off] == hessian.TagNull { // a null service version is legal
			off++
			continue
		}
		v, next, err := hessian.String(body, off)
		if err != nil {
			return protocolError(KindMalformedBody, "reading "+leadingNames[i], err)
		}
		fields[i], off = v, next
	}
	n, ok := countParams(fields[4])
	if !ok {
		return protocolError(KindMalformedBody, "parameter types are not JVM descriptors", nil)
	}
	argStart := off
	for i := 0; i < n; i++ {
		next, err := r.sc.Skip(body, off)
		if err != nil {
			return protocolError(KindMalformedBody, "skipping argument "+strconv.Itoa(i), err)
		}
		off = next
	}
	r.Args = body[argStart:off]
	if off < len(body) {
		next, err := r.decodeAttachments(body, off)
		if err != nil {
			return err
		}
		off = next
		if off < len(body) {
			r.tail = r.keep(body[off:])
		}
	}
	r.buildText(fields)
	return nil
}

var leadingNames = [5]string{"dubbo version", "service path", "service version", "method name", "parameter types"}

// reset clears r field by field: assigning a whole new struct would copy the embedded scanner and cost a bulk
// write barrier on every request.
func (r *Request) reset() {
	r.DubboVersion, r.Service, r.Version, r.Method, r.ParamTypes = "", "", "", "", ""
	r.Args = nil
	r.Attachments = r.Attachments[:0]
	r.path, r.group = "", ""
	r.hasMap, r.nullMap = false, false
	r.mapPrefix, r.tail, r.dubbox = nil, nil, nil
	r.others = r.others[:0]
	r.text = r.text[:0]
	r.spans = r.spans[:0]
	r.scratch = r.scratch[:0]
	r.sc.Reset()
}

// keep copies b into scratch so the Request does not depend on the body for the parts it re-encodes. Slices
// handed out before a later keep grew scratch stay valid: they point into the old array, which is not reused.
func (r *Request) keep(b []byte) []byte {
	start := len(r.scratch)
	r.scratch = append(r.scratch, b...)
	return r.scratch[start:len(r.scratch):len(r.scratch)]
}

// decodeAttachments reads the attachment map at body[off]: string pairs go to spans, anything else is kept
// verbatim.
func (r *Request) decodeAttachments(body []byte, off int) (int, error) {
	start := off
	next, err := hessian.MapStart(body, off)
	if err != nil {
		if off < len(body) && body[off] == hessian.TagNull { // a null map: no attachments
			r.nullMap = true
			return off + 1, nil
		}
		return off, protocolError(KindMalformedBody, "reading the attachment map", err)
	}
	r.hasMap = true
	r.mapPrefix = r.keep(body[start:next])
	off = next
	for {
		if off >= len(body) {
			return off, protocolError(KindMalformedBody, "attachment map has no end", nil)
		}
		if body[off] == hessian.TagEnd {
			return off + 1, nil
		}
		var p pair
		if p, off, err = readPair(body, off, &r.sc); err != nil {
			return off, err
		}
		if p.keyStr && p.valStr && !isReservedName(p.key) {
			r.spans = append(r.spans, r.textSpan(p.key, p.val))
			continue
		}
		// Kept verbatim; its key is remembered so a header of the same name replaces it.
		raw := rawPair{off: len(r.scratch), n: off - p.start}
		r.scratch = append(r.scratch, body[p.start:off]...)
		if p.keyStr {
			raw.kind = 1
			raw.key = string(p.key) // rare path: non-string values are unusual in attachments
		}
		r.others = append(r.others, raw)
	}
}

// pair is one map entry: strings are decoded, other values only skipped; body[start:end] is the whole entry.
type pair struct {
	key, val       []byte
	keyStr, valStr bool
	start          int
}

// readPair reads the map entry at body[off] and returns the offset after it.
func readPair(body []byte, off int, sc *hessian.Scanner) (pair, int, error) {
	p := pair{start: off, keyStr: hessian.IsString(body, off)}
	var err error
	if p.keyStr {
		p.key, off, err = hessian.String(body, off)
	} else {
		off, err = sc.Skip(body, off)
	}
	if err != nil {
		return p, off, protocolError(KindMalformedBody, "reading an attachment key", err)
	}
	if p.valStr = hessian.IsString(body, off); p.valStr {
		p.val, off, err = hessian.String(body, off)
	} else {
		off, err = sc.Skip(body, off)
	}
	if err != nil {
		return p, off, protocolError(KindMalformedBody, "reading the value of attachment "+string(p.key), err)
	}
	return p, off, nil
}

// textSpan appends key and value to the text scratch and remembers where they are.
func (r *Request) textSpan(key, val []byte) span {
	s := span{k0: len(r.text)}
	r.text = append(r.text, key...)
	s.k1 = len(r.text)
	s.v0 = s.k1
	r.text = append(r.text, val...)
	s.v1 = len(r.text)
	return s
}

// buildText turns every decoded string into substrings of one allocation.
func (r *Request) buildText(fields [5][]byte) {
	var fs [5]span
	for i, f := range fields {
		fs[i] = r.textSpan(nil, f)
	}
	p0 := len(r.text)
	r.text = append(r.text, '/')
	r.text = append(r.text, fields[1]...)
	r.text = append(r.text, '/')
	r.text = append(r.text, fields[3]...)
	p1 := len(r.text)

	all := string(r.text)
	r.DubboVersion = all[fs[0].v0:fs[0].v1]
	r.Service = all[fs[1].v0:fs[1].v1]
	r.Version = all[fs[2].v0:fs[2].v1]
	r.Method = all[fs[3].v0:fs[3].v1]
	r.ParamTypes = all[fs[4].v0:fs[4].v1]
	r.path = all[p0:p1]
	for _, s := range r.spans {
		a := Attachment{Key: all[s.k0:s.k1], Value: all[s.v0:s.v1]}
		if a.Key == attachmentGroup {
			r.group = a.Value
		}
		r.Attachments = append(r.Attachments, a)
	}
}

// countParams counts the parameters in a JVM method descriptor list such as Ljava/lang/String;[IJ.
func countParams(desc []byte) (int, bool) {
	n := 0
	for i := 0; i < len(desc); {
		for i < len(desc) && desc[i] == '[' {
			i++
		}
		if i >= len(desc) {
			return 0, false
		}
		switch desc[i] {
		case 'Z', 'B', 'C', 'D', 'F', 'I', 'J', 'S', 'V':
			i++
		case 'L':
			j := i + 1
			for j < len(desc) && desc[j] != ';' {
				j++
			}
			if j >= len(desc) || j == i+1 {
				return 0, false
			}
			i = j + 1
		default:
			return 0, false
		}
		n++
	}
	return n, true
}

// AppendBody appends the request body re-encoded from r: the leading strings and the attachment map are written
// from r's fields, the arguments and the non-string attachments are copied verbatim.
func (r *Request) AppendBody(dst []byte) []byte {
	dst = hessian.AppendString(dst, r.DubboVersion)
	dst = hessian.AppendString(dst, r.Service)
	dst = hessian.AppendString(dst, r.Version)
	dst = hessian.AppendString(dst, r.Method)
	dst = append(dst, r.dubbox...)
	dst = hessian.AppendString(dst, r.ParamTypes)
	dst = append(dst, r.Args...)
	if !r.hasMap && len(r.Attachments) == 0 {
		if r.nullMap {
			dst = hessian.AppendNull(dst)
		}
		return append(dst, r.tail...)
	}
	if r.hasMap {
		dst = append(dst, r.mapPrefix...)
	} else {
		dst = hessian.AppendMapStart(dst)
	}
	for _, a := range r.Attachments {
		dst = hessian.AppendString(dst, a.Key)
		dst = hessian.AppendString(dst, a.Value)
	}
	for _, p := range r.others {
		if p.kind == 1 && r.hasString(p.key) {
			continue // a string attachment of the same name replaced it
		}
		dst = append(dst, r.scratch[p.off:p.off+p.n]...)
	}
	dst = hessian.AppendEnd(dst)
	return append(dst, r.tail...)
}

func (r *Request) hasString(key string) bool {
	_, ok := r.Attachment(key)
	return ok
}

// AppendFrame appends a whole request frame: a header with the given id and flags (the serialization id is
// set to hessian2) and the body from AppendBody.
func (r *Request) AppendFrame(dst []byte, id int64, flags byte) []byte {
	start := len(dst)
	dst = AppendHeader(dst, Header{Flags: flags&^serializationMask | SerializationHessian2, ID: id})
	dst = r.AppendBody(dst)
	setBodyLen(dst, start)
	return dst
}
