// Package dubbo is the Dubbo 2 protocol (TCP, hessian2 serialization) for the data plane: framing by the
// 16-byte header, decoding request bodies without building arguments, the mapping of a request to the header
// pairs the filter chain sees and back, response encoding (including a filter's local reply) and decoding.
// Connections are served by the downstream sub-package, the multiplexing upstream client is in upstream, a real
// provider and client for tests in dubbotest, and the Hessian primitives in hessian.
//
// # Headers shown to filters
//
// Every request is a stream to the filter chain, with these headers, so HTTP filters (auth, rate limits,
// routing) work on Dubbo unchanged:
//
//	:path                     /<service>/<method>
//	:method                   DUBBO
//	x-dubbo-service           service path (interface name)
//	x-dubbo-method            method name
//	x-dubbo-version           service version
//	x-dubbo-group             the "group" attachment (only when there is one)
//	x-dubbo-protocol-version  the protocol version the client wrote, e.g. 2.0.2
//	<key>                     one pair per string-valued attachment, under its own key
//
// Attachments whose value is not a string are not shown and are forwarded untouched, as are attachments whose
// key starts with ':' or equals an x-dubbo-* name above (so a client cannot forge them).
// Request.ApplyHeaders maps the pairs back after the chain ran: non-reserved pairs become the string attachments
// (so adding, replacing or removing a header does the same to an attachment), reserved names set their fields.
// See ApplyHeaders for the precise rules.
//
// # Response headers
//
// Response filters see :status (HTTPStatus of the Dubbo status), x-dubbo-status (the Dubbo status byte) and the
// string response attachments: Response.AppendHeaders, Response.ApplyHeaders, Response.AppendFrame.
//
// # Local replies
//
// A filter's local reply (HTTP status, body, headers) becomes a Dubbo response through AppendLocalReply;
// StatusForHTTP documents the status mapping (400/401/403 -> 40 BAD_REQUEST, 404 -> 60, 429 -> 100,
// 503 -> 80, ...).
//
// # Errors
//
// Malformed or oversized frames give a *ProtocolError whose Kind is a fixed metric label; the caller logs it,
// counts it and closes the connection. No decoder panics or allocates from a length field it has not checked
// against the bytes it holds.
//
// Example, from a frame to filter headers and back:
//
//	h, frame, err := dubbo.ReadFrame(conn, buf, dubbo.DefaultMaxBody)
//	if err != nil { ... close, count dubbo.KindOf(err) ... }
//	if h.IsEvent() { conn.Write(dubbo.AppendHeartbeat(nil, h.ID, false)); continue }
//	var req dubbo.Request
//	if err := dubbo.DecodeRequest(frame[dubbo.HeaderLen:], &req); err != nil { ... }
//	hdrs := req.AppendHeaders(hdrs[:0])
//	// ... run the filter chain on hdrs ...
//	if err := req.ApplyHeaders(hdrs); err != nil { ... }
//	out = req.AppendFrame(out[:0], upstreamID, h.Flags)
package dubbo
