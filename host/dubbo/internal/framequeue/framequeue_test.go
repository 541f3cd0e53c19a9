package framequeue

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// recordingConn is one end of a net.Pipe that records the writes and the write deadlines set on it; a write
// waits for release when hold is set, so a test can queue frames while a write is in progress.
type recordingConn struct {
	net.Conn
	mu        sync.Mutex
	writes    [][]byte
	deadlines []time.Time
	hold      chan struct{} // closed to let held writes go on; nil: no hold
	writing   chan struct{} // gets a value when a write starts
	fail      error
}

func (c *recordingConn) Write(b []byte) (int, error) {
	if c.writing != nil {
		c.writing <- struct{}{}
	}
	if c.hold != nil {
		<-c.hold
	}
	c.mu.Lock()
	c.writes = append(c.writes, bytes.Clone(b))
	err := c.fail
	c.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return len(b), nil
}

func (c *recordingConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadlines = append(c.deadlines, t)
	c.mu.Unlock()
	return nil
}

func newRecording(t *testing.T) *recordingConn {
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	return &recordingConn{Conn: a}
}

// Frames sent by many goroutines at once over a real TCP connection arrive whole, each once, none interleaved.
func TestConcurrentFramesArriveWhole(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const senders, each = 8, 200
	got := make(chan map[string]int, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		seen := map[string]int{}
		var n [4]byte
		for range senders * each {
			if _, err := io.ReadFull(c, n[:]); err != nil {
				break
			}
			b := make([]byte, binary.BigEndian.Uint32(n[:]))
			if _, err := io.ReadFull(c, b); err != nil {
				break
			}
			seen[string(b)]++
		}
		got <- seen
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	q := New(nc)
	var wg sync.WaitGroup
	for s := range senders {
		wg.Go(func() {
			for i := range each {
				payload := bytes.Repeat([]byte{byte('a' + s)}, 1+i%97)
				payload = binary.BigEndian.AppendUint32(payload, uint32(i))
				b, err := q.Begin()
				if err != nil {
					t.Error(err)
					return
				}
				b = binary.BigEndian.AppendUint32(b, uint32(len(payload)))
				if err := q.Commit(append(b, payload...), time.Time{}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	seen := <-got
	if len(seen) != senders*each {
		t.Fatalf("%d distinct frames arrived, want %d", len(seen), senders*each)
	}
	for f, n := range seen {
		if n != 1 {
			t.Fatalf("frame %q arrived %d times", f, n)
		}
	}
}

// Frames queued while a write is in progress go out together in the next write, and the sender that is writing
// writes them before it returns.
func TestQueuedFramesShareOneWrite(t *testing.T) {
	c := newRecording(t)
	c.hold, c.writing = make(chan struct{}), make(chan struct{}, 16)
	q := New(c)
	first := make(chan error, 1)
	go func() { first <- q.Write([]byte("one;")) }()
	<-c.writing // the first write is in progress (held)
	for _, f := range []string{"two;", "three;", "four;"} {
		if err := q.Write([]byte(f)); err != nil { // queued: returns at once
			t.Fatal(err)
		}
	}
	close(c.hold)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	want := []string{"one;", "two;three;four;"}
	if len(c.writes) != len(want) {
		t.Fatalf("%d writes %q, want %q", len(c.writes), c.writes, want)
	}
	for i, w := range want {
		if string(c.writes[i]) != w {
			t.Fatalf("write %d is %q, want %q", i, c.writes[i], w)
		}
	}
}

// A batch is written with the latest deadline of its frames, none when one has none, and the connection's deadline
// is set only when it changes.
func TestBatchDeadline(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name      string
		first     time.Time   // the frame written alone first
		queued    []time.Time // frames queued while it is written
		deadlines []time.Time // set on the connection, in order
	}{
		{"no deadlines: never set", time.Time{}, []time.Time{{}, {}}, nil},
		{"latest of the batch", t0, []time.Time{t0.Add(time.Second), t0.Add(3 * time.Second), t0.Add(2 * time.Second)},
			[]time.Time{t0, t0.Add(3 * time.Second)}},
		{"one without a deadline: none", t0, []time.Time{t0.Add(time.Second), {}}, []time.Time{t0, {}}},
		{"unchanged: set once", t0, []time.Time{t0}, []time.Time{t0}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newRecording(t)
			c.hold, c.writing = make(chan struct{}), make(chan struct{}, 16)
			q := New(c)
			first := make(chan error, 1)
			go func() {
				b, _ := q.Begin()
				first <- q.Commit(append(b, 'x'), tt.first)
			}()
			<-c.writing
			for _, d := range tt.queued {
				b, err := q.Begin()
				if err != nil {
					t.Fatal(err)
				}
				if err := q.Commit(append(b, 'y'), d); err != nil {
					t.Fatal(err)
				}
			}
			close(c.hold)
			if err := <-first; err != nil {
				t.Fatal(err)
			}
			if len(c.writes) != 2 {
				t.Fatalf("%d writes, want 2", len(c.writes))
			}
			if len(c.deadlines) != len(tt.deadlines) {
				t.Fatalf("deadlines set %v, want %v", c.deadlines, tt.deadlines)
			}
			for i, d := range tt.deadlines {
				if !c.deadlines[i].Equal(d) {
					t.Fatalf("deadlines set %v, want %v", c.deadlines, tt.deadlines)
				}
			}
		})
	}
}

// A failed write fails the sender that wrote, and every later Begin, with the write's error; frames queued
// behind it are not written.
func TestWriteErrorSticks(t *testing.T) {
	c := newRecording(t)
	broken := errors.New("broken pipe")
	c.fail = broken
	q := New(c)
	if err := q.Write([]byte("a")); !errors.Is(err, broken) {
		t.Fatalf("first write: %v, want %v", err, broken)
	}
	if _, err := q.Begin(); !errors.Is(err, broken) {
		t.Fatalf("Begin after the failure: %v, want %v", err, broken)
	}
	if err := q.Write([]byte("b")); !errors.Is(err, broken) {
		t.Fatalf("write after the failure: %v, want %v", err, broken)
	}
	if len(c.writes) != 1 {
		t.Fatalf("%d writes after the failure, want the one that failed", len(c.writes))
	}
}
