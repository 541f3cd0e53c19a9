package dubbo

import "errors"

// Kind names what was wrong with a frame. It is short and fixed so the proxy can use it as a metric label.
type Kind string

// The kinds of protocol error. Every one of them means the connection's byte stream can no longer be trusted:
// the proxy logs it, counts it under the kind and closes the connection.
const (
	KindShort         Kind = "short"          // the input ended inside a header or body
	KindBadMagic      Kind = "bad_magic"      // the frame does not start with 0xdabb
	KindTooLarge      Kind = "too_large"      // the body length is over the configured maximum
	KindSerialization Kind = "serialization"  // the body is not hessian2
	KindMalformedBody Kind = "malformed_body" // the hessian2 body does not fit the Dubbo layout
)

// ErrProtocol is matched by every *ProtocolError with errors.Is.
var ErrProtocol = errors.New("dubbo: protocol error")

// ProtocolError is a frame or body that cannot be used. Err, when set, is the underlying cause (an I/O error or
// a hessian error with its offset).
type ProtocolError struct {
	Kind Kind
	Msg  string
	Err  error
}

func (e *ProtocolError) Error() string {
	s := "dubbo: " + string(e.Kind) + ": " + e.Msg
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *ProtocolError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrProtocol}
	}
	return []error{ErrProtocol, e.Err}
}

func protocolError(k Kind, msg string, err error) error {
	return &ProtocolError{Kind: k, Msg: msg, Err: err}
}

// KindOf returns the kind of a protocol error, or "" when err is not one.
func KindOf(err error) Kind {
	var pe *ProtocolError
	if errors.As(err, &pe) {
		return pe.Kind
	}
	return ""
}
