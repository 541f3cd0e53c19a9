package dubbo

import "strings"

// Header names a Dubbo request shows to the filter chain. Filters written for HTTP see a Dubbo call as a request
// with these headers; see the package documentation for the rules.
const (
	HeaderPath            = ":path"   // /<service>/<method>
	HeaderMethod          = ":method" // always MethodDubbo
	HeaderService         = "x-dubbo-service"
	HeaderMethodName      = "x-dubbo-method"
	HeaderVersion         = "x-dubbo-version" // service version
	HeaderGroup           = "x-dubbo-group"   // the group attachment
	HeaderProtocolVersion = "x-dubbo-protocol-version"

	// MethodDubbo is the :method of every Dubbo request.
	MethodDubbo = "DUBBO"
)

// Kinds of header name, from reservedKind.
const (
	notReserved = iota
	pseudoHeader
	reservedService
	reservedMethod
	reservedVersion
	reservedGroup
	reservedProtocolVersion
)

// reservedKind classifies a header or attachment name: a pseudo-header, one of the x-dubbo-* names, or neither.
// Names compare case-insensitively, as the filter chain compares them. It takes bytes or a string, does not
// allocate, and rejects most names on their first byte or length.
func reservedKind[T ~string | ~[]byte](key T) int {
	if len(key) == 0 {
		return notReserved
	}
	if key[0] == ':' {
		return pseudoHeader
	}
	const prefix = "x-dubbo-"
	if len(key) < len(HeaderGroup) || (key[0] != 'x' && key[0] != 'X') || !equalFoldASCII(key[:len(prefix)], prefix) {
		return notReserved
	}
	switch {
	case equalFoldASCII(key, HeaderGroup):
		return reservedGroup
	case equalFoldASCII(key, HeaderMethodName):
		return reservedMethod
	case equalFoldASCII(key, HeaderService):
		return reservedService
	case equalFoldASCII(key, HeaderVersion):
		return reservedVersion
	case equalFoldASCII(key, HeaderProtocolVersion):
		return reservedProtocolVersion
	}
	return notReserved
}

// isReservedName reports whether an attachment key would shadow a synthesized header. Such attachments are not
// shown to filters (a client could otherwise forge x-dubbo-service) and are forwarded untouched.
func isReservedName[T ~string | ~[]byte](key T) bool { return reservedKind(key) != notReserved }

// equalFoldASCII compares a with the lower-case ASCII name lower, ignoring the case of a.
func equalFoldASCII[T ~string | ~[]byte](a T, lower string) bool {
	if len(a) != len(lower) {
		return false
	}
	for i := 0; i < len(lower); i++ {
		c := a[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// AppendHeaders appends the request's header pairs to dst: the synthesized ones first, then one per string
// attachment under its own key. With a dst of enough capacity it allocates nothing: every string is already
// held by r.
func (r *Request) AppendHeaders(dst [][2]string) [][2]string {
	dst = append(dst,
		[2]string{HeaderPath, r.path},
		[2]string{HeaderMethod, MethodDubbo},
		[2]string{HeaderService, r.Service},
		[2]string{HeaderMethodName, r.Method},
		[2]string{HeaderVersion, r.Version},
	)
	if g, ok := r.Attachment(attachmentGroup); ok {
		dst = append(dst, [2]string{HeaderGroup, g})
	}
	dst = append(dst, [2]string{HeaderProtocolVersion, r.DubboVersion})
	for _, a := range r.Attachments {
		dst = append(dst, [2]string{a.Key, a.Value})
	}
	return dst
}

// ApplyHeaders brings the request in line with header pairs that came back from the filter chain:
//
//   - every pair whose name is not reserved is a string attachment, so the attachments become exactly those
//     pairs (added, replaced and removed headers add, replace and remove attachments); non-string attachments
//     stay unless a header of the same name replaces them;
//   - x-dubbo-service, x-dubbo-method and x-dubbo-version set their fields; when x-dubbo-service and
//     x-dubbo-method are absent or unchanged, a changed :path (/<service>/<method>) sets them instead; an
//     absent reserved header leaves its field as it was;
//   - a changed service also rewrites the path and interface attachments, a changed version the version
//     attachment (when present), and a changed x-dubbo-group the group attachment, because Java providers
//     read those from the attachment map;
//   - x-dubbo-protocol-version sets the protocol version; other pseudo-headers (":method", ...) are ignored.
//
// It returns an error, and leaves r unchanged, when :path is not of the form /<service>/<method>.
func (r *Request) ApplyHeaders(headers [][2]string) error {
	var (
		service, method, version, group, proto, path                   string
		hasService, hasMethod, hasVersion, hasGroup, hasProto, hasPath bool
	)
	for _, h := range headers {
		switch reservedKind(h[0]) {
		case reservedService:
			service, hasService = h[1], true
		case reservedMethod:
			method, hasMethod = h[1], true
		case reservedVersion:
			version, hasVersion = h[1], true
		case reservedGroup:
			group, hasGroup = h[1], true
		case reservedProtocolVersion:
			proto, hasProto = h[1], true
		case pseudoHeader:
			if h[0] == HeaderPath {
				path, hasPath = h[1], true
			}
		}
	}
	oldService, oldMethod := r.Service, r.Method
	newService, newMethod := r.Service, r.Method
	if hasPath && path != r.path {
		s, m, ok := splitPath(path)
		if !ok {
			return &ProtocolError{Kind: KindMalformedBody, Msg: ":path " + path + " is not /<service>/<method>; a filter set it wrongly"}
		}
		newService, newMethod = s, m
	}
	if hasService && service != r.Service {
		newService = service
	}
	if hasMethod && method != r.Method {
		newMethod = method
	}

	// The attachments become the non-reserved headers. Writing over r.Attachments in place is safe: the loop
	// reads only headers, and r.group holds the one old value still needed.
	r.Attachments = r.Attachments[:0]
	for _, h := range headers {
		if h[0] == "" || isReservedName(h[0]) {
			continue
		}
		r.Attachments = append(r.Attachments, Attachment{Key: h[0], Value: h[1]})
	}
	if newService != r.Service {
		r.Service = newService
		r.replaceIfPresent(attachmentPath, newService)
		r.replaceIfPresent(attachmentInterface, newService)
	}
	r.Method = newMethod
	if hasVersion && version != r.Version {
		r.Version = version
		r.replaceIfPresent(attachmentVersion, version)
	}
	if hasGroup && group != r.group {
		r.SetAttachment(attachmentGroup, group)
	}
	if g, ok := r.Attachment(attachmentGroup); ok {
		r.group = g
	} else {
		r.group = ""
	}
	if hasProto {
		r.DubboVersion = proto
	}
	if r.Service != oldService || r.Method != oldMethod {
		r.path = "/" + r.Service + "/" + r.Method
	}
	return nil
}

func (r *Request) replaceIfPresent(key, value string) {
	for i := range r.Attachments {
		if r.Attachments[i].Key == key {
			r.Attachments[i].Value = value
		}
	}
}

func splitPath(p string) (service, method string, ok bool) {
	if len(p) < 4 || p[0] != '/' {
		return "", "", false
	}
	i := strings.LastIndexByte(p, '/')
	if i <= 1 || i == len(p)-1 {
		return "", "", false
	}
	return p[1:i], p[i+1:], true
}
