package dubbo

import (
	"strconv"
	"strings"

	"github.com/wasmesh/wasmesh/host/dubbo/hessian"
)

// Status is the response status byte of a frame header.
type Status byte

// Dubbo response statuses.
const (
	StatusOK                        Status = 20
	StatusClientTimeout             Status = 30
	StatusServerTimeout             Status = 31
	StatusBadRequest                Status = 40
	StatusBadResponse               Status = 50
	StatusServiceNotFound           Status = 60
	StatusServiceError              Status = 70
	StatusServerError               Status = 80
	StatusClientError               Status = 90
	StatusServerThreadpoolExhausted Status = 100
)

// ResultKind is the int that starts an OK response body and says what follows.
type ResultKind int32

// Result kinds. The _WITH_ATTACHMENTS kinds are followed by an attachment map; providers use them when the
// request's protocol version is 2.0.2 or later.
const (
	ResultException                ResultKind = 0
	ResultValue                    ResultKind = 1
	ResultNull                     ResultKind = 2
	ResultExceptionWithAttachments ResultKind = 3
	ResultValueWithAttachments     ResultKind = 4
	ResultNullWithAttachments      ResultKind = 5
)

// HasAttachments reports whether an attachment map follows the result.
func (k ResultKind) HasAttachments() bool {
	return k >= ResultExceptionWithAttachments && k <= ResultNullWithAttachments
}

// withAttachments returns the _WITH_ATTACHMENTS form of k.
func (k ResultKind) withAttachments() ResultKind {
	if k <= ResultNull {
		return k + 3
	}
	return k
}

// SupportsResponseAttachments reports whether a client that sent this protocol version reads attachments on
// responses: 2.0.2 and later, except the 2.0.10 to 2.6.2 framework versions that older clients sent in that
// field, as Java Dubbo decides.
func SupportsResponseAttachments(dubboVersion string) bool {
	v := versionNumber(dubboVersion)
	if v >= 2001000 && v <= 2060200 {
		return false
	}
	return v >= 2000200
}

// versionNumber turns "2.0.2" into 2000200 (two digits per part, four parts), -1 when it is not a version. It
// runs for every response, so it walks the string instead of splitting it.
func versionNumber(s string) int {
	if s == "" {
		return -1
	}
	v, parts := 0, 0
	for len(s) > 0 || parts == 0 {
		part := s
		if i := strings.IndexByte(s, '.'); i >= 0 {
			part, s = s[:i], s[i+1:]
			if s == "" {
				return -1 // "2.0." ends with an empty part
			}
		} else {
			s = ""
		}
		n, err := strconv.Atoi(part)
		if err != nil || n < 0 || n > 99 || parts == 4 {
			return -1
		}
		v = v*100 + n
		parts++
	}
	for ; parts < 4; parts++ {
		v *= 100
	}
	return v
}

// responseFlags is byte 2 of a hessian2 response header.
const responseFlags = SerializationHessian2

// AppendResponse appends a whole OK response frame. value is the hessian-encoded result (or exception object
// for the exception kinds) and is ignored for the null kinds. When dubboVersion supports response attachments
// the kind is turned into its _WITH_ATTACHMENTS form and attachments are written (an empty map if none).
func AppendResponse(dst []byte, id int64, dubboVersion string, kind ResultKind, value []byte, attachments []Attachment) []byte {
	start := len(dst)
	dst = AppendHeader(dst, Header{Flags: responseFlags, Status: StatusOK, ID: id})
	withAtt := SupportsResponseAttachments(dubboVersion)
	if withAtt {
		kind = kind.withAttachments()
	}
	dst = hessian.AppendInt(dst, int32(kind))
	if kind != ResultNull && kind != ResultNullWithAttachments {
		if len(value) == 0 {
			value = []byte{hessian.TagNull}
		}
		dst = append(dst, value...)
	}
	if withAtt {
		dst = appendAttachmentMap(dst, attachments)
	}
	setBodyLen(dst, start)
	return dst
}

// AppendErrorResponse appends a response frame with a non-OK status and msg as its hessian string body, which
// is how Dubbo reports errors outside the called method (timeouts, unknown service, rejected requests).
func AppendErrorResponse(dst []byte, id int64, status Status, msg string) []byte {
	start := len(dst)
	dst = AppendHeader(dst, Header{Flags: responseFlags, Status: status, ID: id})
	dst = hessian.AppendString(dst, msg)
	setBodyLen(dst, start)
	return dst
}

// AppendHeartbeat appends a heartbeat request (isRequest) or the response to one. Both carry a null body.
func AppendHeartbeat(dst []byte, id int64, isRequest bool) []byte {
	h := Header{Flags: FlagEvent | SerializationHessian2, ID: id, BodyLen: 1}
	if isRequest {
		h.Flags |= FlagRequest | FlagTwoWay
	} else {
		h.Status = StatusOK
	}
	dst = AppendHeader(dst, h)
	return hessian.AppendNull(dst)
}

// StatusForHTTP maps the status code of a filter's local reply to a Dubbo status:
//
//	2xx                  -> 20 OK
//	400, 401, 403, other 4xx -> 40 BAD_REQUEST
//	404                  -> 60 SERVICE_NOT_FOUND
//	408                  -> 30 CLIENT_TIMEOUT
//	429                  -> 100 SERVER_THREADPOOL_EXHAUSTED (the provider side is saturated: back off)
//	502                  -> 50 BAD_RESPONSE
//	504                  -> 31 SERVER_TIMEOUT
//	500, 503, other      -> 80 SERVER_ERROR
func StatusForHTTP(code int) Status {
	switch {
	case code >= 200 && code < 300:
		return StatusOK
	case code == 404:
		return StatusServiceNotFound
	case code == 408:
		return StatusClientTimeout
	case code == 429:
		return StatusServerThreadpoolExhausted
	case code >= 400 && code < 500:
		return StatusBadRequest
	case code == 502:
		return StatusBadResponse
	case code == 504:
		return StatusServerTimeout
	}
	return StatusServerError
}

// AppendLocalReply appends the response to request id for a filter's local reply (an HTTP status, body and
// headers). A 2xx reply becomes an OK response whose value is the body as a string, with the non-pseudo headers
// as response attachments when the client reads them. Any other code becomes an error response with the mapped
// status and the body as the message (or "wasmesh: local reply <code>" when the body is empty); Dubbo error
// responses have nowhere to carry headers, so they are dropped.
func AppendLocalReply(dst []byte, id int64, dubboVersion string, code int, body string, headers [][2]string) []byte {
	st := StatusForHTTP(code)
	if st != StatusOK {
		if body == "" {
			body = "wasmesh: local reply " + strconv.Itoa(code)
		}
		return AppendErrorResponse(dst, id, st, body)
	}
	var att []Attachment
	for _, h := range headers {
		if h[0] != "" && h[0][0] != ':' {
			att = append(att, Attachment{Key: h[0], Value: h[1]})
		}
	}
	return AppendResponse(dst, id, dubboVersion, ResultValue, hessian.AppendString(nil, body), att)
}

// Response is a decoded response body.
type Response struct {
	Status Status
	// Event is set for a heartbeat answer, which has no result.
	Event bool
	// Message is the error text of a non-OK response.
	Message string
	// Kind and Value describe an OK response: Value holds the encoded result or exception, verbatim, and points
	// into the body given to DecodeResponse.
	Kind        ResultKind
	Value       []byte
	Attachments []Attachment
}

// DecodeResponse decodes the body of a response frame with header h into resp, reusing its Attachments. Values
// are skipped, not built. Errors are *ProtocolError of KindMalformedBody.
func DecodeResponse(h Header, body []byte, resp *Response) error {
	*resp = Response{Status: h.Status, Event: h.IsEvent(), Attachments: resp.Attachments[:0]}
	if resp.Event {
		return nil
	}
	if h.Status != StatusOK {
		if len(body) == 0 || body[0] == hessian.TagNull {
			return nil
		}
		msg, _, err := hessian.String(body, 0)
		if err != nil {
			return protocolError(KindMalformedBody, "reading the error message", err)
		}
		resp.Message = string(msg)
		return nil
	}
	k, off, err := hessian.Int(body, 0)
	if err != nil {
		return protocolError(KindMalformedBody, "reading the result kind", err)
	}
	resp.Kind = ResultKind(k)
	if resp.Kind < ResultException || resp.Kind > ResultNullWithAttachments {
		return protocolError(KindMalformedBody, "unknown result kind "+strconv.Itoa(int(k)), nil)
	}
	var sc hessian.Scanner
	if resp.Kind != ResultNull && resp.Kind != ResultNullWithAttachments {
		end, err := sc.Skip(body, off)
		if err != nil {
			return protocolError(KindMalformedBody, "skipping the result value", err)
		}
		resp.Value, off = body[off:end], end
	}
	if !resp.Kind.HasAttachments() {
		return nil
	}
	if off, err = hessian.MapStart(body, off); err != nil {
		return protocolError(KindMalformedBody, "reading the response attachments", err)
	}
	for {
		if off >= len(body) {
			return protocolError(KindMalformedBody, "response attachment map has no end", nil)
		}
		if body[off] == hessian.TagEnd {
			return nil
		}
		var p pair
		if p, off, err = readPair(body, off, &sc); err != nil {
			return err
		}
		if p.keyStr && p.valStr {
			resp.Attachments = append(resp.Attachments, Attachment{Key: string(p.key), Value: string(p.val)})
		}
	}
}
