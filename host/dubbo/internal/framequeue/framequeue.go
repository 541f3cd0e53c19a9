// Package framequeue coalesces the frames many goroutines send on one connection into as few writes as it can.
// Dubbo multiplexes requests on a connection, so with calls in flight several frames are often ready at once; a
// write system call per frame was the largest CPU cost of the proxy's Dubbo hop (bench/dubbo.md). No goroutine is
// added: the sender that finds no write in progress becomes the writer. It first yields its processor once
// (runtime.Gosched), so that goroutines already runnable, typically the other calls woken by the same read, can
// queue their frames, and then writes everything queued, again and again until the queue drains; the others
// return at once. Yielding costs well under a microsecond when nothing else is runnable; a write costs several.
//
//	q := framequeue.New(nc)
//	b, err := q.Begin()
//	if err != nil { ... } // an earlier write failed
//	b = append(b, frame...)
//	err = q.Commit(b, time.Time{})
package framequeue

import (
	"net"
	"runtime"
	"sync"
	"time"
)

// maxKeep bounds the buffers kept for the next batch: a batch holding an unusually large frame is not kept.
const maxKeep = 64 << 10

// Queue is one connection's send side. It is safe for concurrent use.
type Queue struct {
	conn net.Conn

	mu         sync.Mutex
	buf        []byte // frames waiting for the write in progress to end
	spare      []byte // the buffer of the previous write, reused for the next batch
	writing    bool   // a sender is writing; it writes buf too before it returns
	deadline   time.Time
	noDeadline bool // a waiting frame has no deadline
	err        error

	set time.Time // the write deadline on conn; only the sender that is writing touches it
}

// New returns a queue writing to conn.
func New(conn net.Conn) *Queue { return &Queue{conn: conn} }

// Begin locks the queue and returns its buffer, to which the caller appends one or more whole frames and hands
// back to Commit. Between Begin and Commit the caller holds the queue's lock: append only. When an earlier write
// failed, Begin returns that error and does not lock.
func (q *Queue) Begin() ([]byte, error) {
	q.mu.Lock()
	if q.err != nil {
		err := q.err
		q.mu.Unlock()
		return nil, err
	}
	return q.buf, nil
}

// Commit queues b (the buffer from Begin with the caller's frames appended) and unlocks. Unless another sender is
// writing (it then writes these frames too), Commit writes everything queued, including what others queue while it
// writes, and returns the write's error. deadline bounds the write of these frames (zero: none); a batch is written
// with the latest deadline of its frames, or none if one of them has none, so no frame is cut shorter than its own
// deadline. After a failed write every later Begin fails: half a frame cannot be taken back.
func (q *Queue) Commit(b []byte, deadline time.Time) error {
	q.buf = b
	if deadline.IsZero() {
		q.noDeadline = true
	} else if deadline.After(q.deadline) {
		q.deadline = deadline
	}
	if q.writing {
		q.mu.Unlock()
		return nil
	}
	q.writing = true
	q.mu.Unlock()
	runtime.Gosched() // let runnable senders queue theirs: one write for all (bench/dubbo.md: 1.9 -> 0.4 writes per call)
	q.mu.Lock()
	for len(q.buf) > 0 && q.err == nil {
		out, dl := q.buf, q.deadline
		if q.noDeadline {
			dl = time.Time{}
		}
		q.buf, q.spare = q.spare[:0], nil
		q.deadline, q.noDeadline = time.Time{}, false
		q.mu.Unlock()
		var err error
		if !dl.Equal(q.set) { // a deadline set per write costs a runtime timer update: only when it changes
			err = q.conn.SetWriteDeadline(dl)
			q.set = dl
		}
		if err == nil {
			_, err = q.conn.Write(out)
		}
		q.mu.Lock()
		if cap(out) <= maxKeep {
			q.spare = out[:0]
		}
		if err != nil {
			q.err = err
			q.buf = nil
		}
	}
	q.writing = false
	err := q.err
	q.mu.Unlock()
	return err
}

// Write queues one frame and writes it as Commit does.
func (q *Queue) Write(frame []byte) error {
	b, err := q.Begin()
	if err != nil {
		return err
	}
	return q.Commit(append(b, frame...), time.Time{})
}
