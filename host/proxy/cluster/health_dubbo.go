package cluster

import (
	"context"
	"net"
	"time"

	"github.com/wasmesh/wasmesh/host/dubbo"
)

// dubboChecker sends a Dubbo heartbeat (an event request, two-way, hessian2 null body) and passes when the
// event response with the same id and status OK comes back. As Dubbo's own clients do, it keeps one connection
// per endpoint and heartbeats on it; a connection that fails a probe is closed and the next probe dials again,
// so a provider that restarts is seen healthy as soon as it answers.
type dubboChecker struct {
	conns []*heartbeatConn // by endpoint index
}

type heartbeatConn struct {
	nc     net.Conn
	nextID int64
	buf    []byte
}

// maxHeartbeatBody bounds a frame read on the health-check connection: a heartbeat answer is one byte.
const maxHeartbeatBody = 64 << 10

func (d *dubboChecker) probe(ctx context.Context, i int, addr string) bool {
	hc := d.conns[i]
	if hc == nil {
		var dialer net.Dialer
		nc, err := dialer.DialContext(ctx, "tcp", addr)
		if err != nil {
			return false
		}
		hc = &heartbeatConn{nc: nc, buf: make([]byte, 0, 64)}
		d.conns[i] = hc
	}
	if heartbeat(ctx, hc) {
		return true
	}
	hc.nc.Close()
	d.conns[i] = nil
	return false
}

// heartbeat runs one exchange on hc within ctx's deadline.
func heartbeat(ctx context.Context, hc *heartbeatConn) bool {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(time.Second)
	}
	hc.nc.SetDeadline(deadline)
	hc.nextID++
	id := hc.nextID
	hc.buf = dubbo.AppendHeartbeat(hc.buf[:0], id, true)
	if _, err := hc.nc.Write(hc.buf); err != nil {
		return false
	}
	stop := context.AfterFunc(ctx, func() { hc.nc.SetDeadline(time.Now()) }) // shutdown ends a wait at once
	defer stop()
	// Anything but the matching event response fails the probe (and closes the connection, so a late answer
	// to a probe that timed out is never taken for the next one's). The one exception is the provider's own
	// heartbeat: Java providers send one on a connection they find idle, and expect it answered.
	for {
		h, frame, err := dubbo.ReadFrame(hc.nc, hc.buf, maxHeartbeatBody)
		if err != nil {
			return false
		}
		hc.buf = frame
		if h.IsRequest() && h.IsEvent() {
			if h.IsTwoWay() {
				hc.buf = dubbo.AppendHeartbeat(hc.buf[:0], h.ID, false)
				if _, err := hc.nc.Write(hc.buf); err != nil {
					return false
				}
			}
			continue
		}
		return h.IsEvent() && h.ID == id && h.Status == dubbo.StatusOK
	}
}

func (d *dubboChecker) close() {
	for i, hc := range d.conns {
		if hc != nil {
			hc.nc.Close()
			d.conns[i] = nil
		}
	}
}
