package dubbo

import (
	"encoding/binary"
	"errors"
	"io"
	"strconv"
)

// HeaderLen is the size of the fixed frame header.
const HeaderLen = 16

// DefaultMaxBody is the largest body accepted when a caller gives no limit; it is Dubbo's own default payload.
const DefaultMaxBody = 8 << 20

// Frame header fields.
const (
	Magic     = 0xdabb
	magicHigh = 0xda
	magicLow  = 0xbb

	FlagRequest = 0x80 // set on requests, clear on responses
	FlagTwoWay  = 0x40 // the caller waits for a response
	FlagEvent   = 0x20 // heartbeat (or another event); the body is null

	serializationMask = 0x1f

	// SerializationHessian2 is the only serialization whose body this package decodes. Frames with other ids
	// can still be framed and forwarded.
	SerializationHessian2 = 2
)

// Header is the fixed 16-byte header of a frame.
type Header struct {
	Flags   byte   // byte 2: request, two-way and event flags, serialization id in the low 5 bits
	Status  Status // byte 3: meaningful on responses only
	ID      int64  // request id, chosen by the side that sends the request
	BodyLen int
}

// IsRequest reports whether the frame is a request (or a request event).
func (h Header) IsRequest() bool { return h.Flags&FlagRequest != 0 }

// IsTwoWay reports whether the sender waits for a response.
func (h Header) IsTwoWay() bool { return h.Flags&FlagTwoWay != 0 }

// IsEvent reports whether the frame is an event: in practice a heartbeat.
func (h Header) IsEvent() bool { return h.Flags&FlagEvent != 0 }

// Serialization returns the serialization id (2 for hessian2).
func (h Header) Serialization() byte { return h.Flags & serializationMask }

// RequireHessian2 returns a KindSerialization error unless the frame's body is hessian2, the only one
// DecodeRequest and DecodeResponse read. A proxy may still forward other frames untouched.
func (h Header) RequireHessian2() error {
	if h.Serialization() != SerializationHessian2 {
		return protocolError(KindSerialization, "body serialization id "+strconv.Itoa(int(h.Serialization()))+" is not hessian2 (2)", nil)
	}
	return nil
}

// ParseHeader reads a frame header from the first HeaderLen bytes of b and checks it: the magic, the body
// length against maxBody (DefaultMaxBody when maxBody <= 0).
func ParseHeader(b []byte, maxBody int) (Header, error) {
	if len(b) < HeaderLen {
		return Header{}, protocolError(KindShort, "frame header needs 16 bytes", nil)
	}
	if b[0] != magicHigh || b[1] != magicLow {
		return Header{}, protocolError(KindBadMagic, "frame does not start with the Dubbo magic 0xdabb", nil)
	}
	if maxBody <= 0 {
		maxBody = DefaultMaxBody
	}
	n := binary.BigEndian.Uint32(b[12:16])
	if uint64(n) > uint64(maxBody) {
		return Header{}, protocolError(KindTooLarge, "frame body is larger than the configured maximum; raise max body if it is legitimate", nil)
	}
	return Header{
		Flags:   b[2],
		Status:  Status(b[3]),
		ID:      int64(binary.BigEndian.Uint64(b[4:12])),
		BodyLen: int(n),
	}, nil
}

// AppendHeader appends the 16-byte encoding of h.
func AppendHeader(dst []byte, h Header) []byte {
	dst = append(dst, magicHigh, magicLow, h.Flags, byte(h.Status), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
	binary.BigEndian.PutUint64(dst[len(dst)-12:], uint64(h.ID))
	binary.BigEndian.PutUint32(dst[len(dst)-4:], uint32(h.BodyLen))
	return dst
}

// SetID rewrites the request id of an encoded frame in place: the proxy gives each upstream request an id of
// its own connection and puts the downstream id back on the response.
func SetID(frame []byte, id int64) {
	binary.BigEndian.PutUint64(frame[4:12], uint64(id))
}

// setBodyLen writes the body length of a frame built in dst starting at start.
func setBodyLen(dst []byte, start int) {
	binary.BigEndian.PutUint32(dst[start+12:start+16], uint32(len(dst)-start-HeaderLen))
}

// ReadFrame reads one whole frame (header and body) from r into buf, reusing buf's capacity, and returns the
// header and the frame bytes. The body is frame[HeaderLen:]. A body over maxBody is refused before anything is
// allocated for it. io.EOF is returned only when r ends cleanly between frames.
func ReadFrame(r io.Reader, buf []byte, maxBody int) (Header, []byte, error) {
	buf = buf[:0]
	if cap(buf) < HeaderLen {
		buf = make([]byte, 0, 512)
	}
	buf = buf[:HeaderLen]
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return Header{}, nil, protocolError(KindShort, "connection closed inside a frame header", err)
		}
		return Header{}, nil, err
	}
	h, err := ParseHeader(buf, maxBody)
	if err != nil {
		return Header{}, nil, err
	}
	total := HeaderLen + h.BodyLen
	if cap(buf) >= total || total <= growStep {
		if cap(buf) < total {
			nb := make([]byte, total)
			copy(nb, buf)
			buf = nb
		}
		buf = buf[:total]
		if _, err := io.ReadFull(r, buf[HeaderLen:]); err != nil {
			return Header{}, nil, protocolError(KindShort, "connection closed inside a frame body", err)
		}
		return h, buf, nil
	}
	// A large declared body is read in doubling steps, so a peer that announces megabytes and sends a trickle
	// holds at most twice what it really sent, not the whole declared length.
	for len(buf) < total {
		if len(buf) == cap(buf) {
			nb := make([]byte, len(buf), min(total, max(2*cap(buf), growStep)))
			copy(nb, buf)
			buf = nb
		}
		n, err := io.ReadFull(r, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil {
			return Header{}, nil, protocolError(KindShort, "connection closed inside a frame body", err)
		}
	}
	return h, buf, nil
}

// growStep is the body size read in one allocation; larger bodies grow as their bytes arrive.
const growStep = 64 << 10
