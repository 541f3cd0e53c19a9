package dubbo

import (
	"strconv"

	"github.com/wasmesh/wasmesh/host/dubbo/hessian"
)

// Response headers shown to response filters.
const (
	HeaderStatus      = ":status"        // the HTTP equivalent of the Dubbo status, see HTTPStatus
	HeaderDubboStatus = "x-dubbo-status" // the Dubbo status byte, e.g. 20
)

// HTTPStatus maps a Dubbo status to the HTTP status a response filter sees: the reverse of StatusForHTTP where
// that one is many to one.
//
//	20 -> 200, 30 -> 408, 31 -> 504, 40 -> 400, 50 -> 502, 60 -> 404, 70 -> 500, 80 -> 503, 90 -> 400, 100 -> 429
//
// and anything else -> 500.
func HTTPStatus(s Status) int {
	switch s {
	case StatusOK:
		return 200
	case StatusClientTimeout:
		return 408
	case StatusServerTimeout:
		return 504
	case StatusBadRequest, StatusClientError:
		return 400
	case StatusBadResponse:
		return 502
	case StatusServiceNotFound:
		return 404
	case StatusServerError:
		return 503
	case StatusServerThreadpoolExhausted:
		return 429
	}
	return 500
}

// statusText holds the decimal strings of the statuses so headers cost no allocation.
var statusText = func() (t [256]string) {
	for i := range t {
		t[i] = strconv.Itoa(i)
	}
	return t
}()

var httpStatusText = map[int]string{200: "200", 400: "400", 404: "404", 408: "408", 429: "429", 500: "500", 502: "502", 503: "503", 504: "504"}

// AppendHeaders appends the response's header pairs: :status, x-dubbo-status, then one pair per string
// response attachment.
func (r *Response) AppendHeaders(dst [][2]string) [][2]string {
	dst = append(dst,
		[2]string{HeaderStatus, httpStatusText[HTTPStatus(r.Status)]},
		[2]string{HeaderDubboStatus, statusText[r.Status]},
	)
	for _, a := range r.Attachments {
		dst = append(dst, [2]string{a.Key, a.Value})
	}
	return dst
}

// ApplyHeaders makes the response attachments exactly the non-pseudo, non-x-dubbo-status pairs. Only responses
// whose result kind carries attachments can change them (a client older than 2.0.2 would not read them); the
// status, the value and the error message are not changed by headers.
func (r *Response) ApplyHeaders(headers [][2]string) {
	if r.Event || r.Status != StatusOK || !r.Kind.HasAttachments() {
		return
	}
	r.Attachments = r.Attachments[:0]
	for _, h := range headers {
		if h[0] == "" || h[0][0] == ':' || h[0] == HeaderDubboStatus {
			continue
		}
		r.Attachments = append(r.Attachments, Attachment{Key: h[0], Value: h[1]})
	}
}

// AppendFrame appends the response as a whole frame with the given id: the value (or exception) is copied
// verbatim and the attachments are written from r. Non-string response attachments are not kept.
func (r *Response) AppendFrame(dst []byte, id int64) []byte {
	if r.Event {
		return AppendHeartbeat(dst, id, false)
	}
	if r.Status != StatusOK {
		return AppendErrorResponse(dst, id, r.Status, r.Message)
	}
	start := len(dst)
	dst = AppendHeader(dst, Header{Flags: responseFlags, Status: StatusOK, ID: id})
	dst = hessian.AppendInt(dst, int32(r.Kind))
	if r.Kind != ResultNull && r.Kind != ResultNullWithAttachments {
		if len(r.Value) == 0 {
			dst = hessian.AppendNull(dst)
		}
		dst = append(dst, r.Value...)
	}
	if r.Kind.HasAttachments() {
		dst = appendAttachmentMap(dst, r.Attachments)
	}
	setBodyLen(dst, start)
	return dst
}

// appendAttachmentMap writes attachments as an untyped map of strings.
func appendAttachmentMap(dst []byte, as []Attachment) []byte {
	dst = hessian.AppendMapStart(dst)
	for _, a := range as {
		dst = hessian.AppendString(dst, a.Key)
		dst = hessian.AppendString(dst, a.Value)
	}
	return hessian.AppendEnd(dst)
}
