package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/wasmesh/wasmesh/host/dubbo"
	"github.com/wasmesh/wasmesh/host/dubbo/hessian"
)

// DubboCall is the invocation the Dubbo load generator repeats: one String argument and string attachments, the
// shape of the samples' GreetingService calls.
type DubboCall struct {
	Service, Version, Method, Arg string
	Attachments                   []dubbo.Attachment
	// Expect, when set, must begin the String each OK answer carries; any other answer is an error.
	Expect string
}

// frame encodes c as a two-way hessian2 request with id 0 with the project's codec (package dubbo). Java
// consumers copy path, interface and version into the attachments; so does this.
func (c DubboCall) frame() []byte {
	req := dubbo.Request{DubboVersion: "2.0.2", Service: c.Service, Version: c.Version, Method: c.Method,
		ParamTypes: "Ljava/lang/String;", Args: hessian.AppendString(nil, c.Arg),
		Attachments: append([]dubbo.Attachment{{Key: "path", Value: c.Service}, {Key: "interface", Value: c.Service},
			{Key: "version", Value: c.Version}}, c.Attachments...)}
	return req.AppendFrame(nil, 0, dubbo.FlagRequest|dubbo.FlagTwoWay)
}

// DubboLoad keeps Conns connections to Addr with InFlight requests outstanding on each (closed loop: an answer
// sends the next request on its connection) for Duration.
type DubboLoad struct {
	Addr     string
	Conns    int
	InFlight int
	Duration time.Duration
	// Grace bounds the wait for answers still outstanding at the end; those that do not come count as errors.
	Grace time.Duration
	Call  DubboCall
}

// connStats is one connection's tally; each worker owns its own, so counting takes no lock.
type connStats struct {
	requests, errors int64
	latencies        []time.Duration
	firstErr         error
}

func (s *connStats) fail(n int64, err error) {
	s.errors += n
	if s.firstErr == nil {
		s.firstErr = err
	}
}

// Run generates the load and reports it. Requests counts the answers that arrived within Duration; an error is
// a failed dial, a non-OK or unexpected answer, or a request lost to a broken connection or the grace period.
func (l DubboLoad) Run(ctx context.Context) (Result, error) {
	switch {
	case l.Addr == "":
		return Result{}, errors.New("dubbo: -addr is required (the provider's or the proxy's host:port)")
	case l.Conns < 1 || l.Conns > 1024:
		return Result{}, fmt.Errorf("dubbo: -c %d out of range 1..1024", l.Conns)
	case l.InFlight < 1 || l.InFlight > 4096:
		return Result{}, fmt.Errorf("dubbo: -m %d out of range 1..4096", l.InFlight)
	case l.Duration <= 0 || l.Duration > 5*time.Minute:
		return Result{}, fmt.Errorf("dubbo: -d %s out of range (0, 5m]: keep load tests bounded", l.Duration)
	}
	if l.Grace <= 0 {
		l.Grace = 2 * time.Second
	}
	template := l.Call.frame()
	start := time.Now()
	stopAt := start.Add(l.Duration)
	stats := make([]connStats, l.Conns)
	var wg sync.WaitGroup
	for i := range stats {
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(stopAt) {
				nc, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", l.Addr)
				if err != nil {
					stats[i].fail(1, err)
					time.Sleep(10 * time.Millisecond)
					continue
				}
				l.serve(nc, template, stopAt, &stats[i])
				nc.Close()
			}
		})
	}
	wg.Wait()
	secs := min(time.Since(start), l.Duration).Seconds()
	res := Result{Seconds: secs}
	var all []time.Duration
	var firstErr error
	for _, s := range stats {
		res.Requests += s.requests
		res.Errors += s.errors
		all = append(all, s.latencies...)
		if firstErr == nil {
			firstErr = s.firstErr
		}
	}
	res.RPS = float64(res.Requests) / secs
	res.P50Micros, res.P99Micros, res.P999Micros = percentilesMicros(all)
	if firstErr != nil {
		res.FirstError = firstErr.Error()
	}
	return res, nil
}

// serve runs the closed loop on one connection until stopAt, then waits up to Grace for the answers still
// outstanding. Request ids are 1, 2, ...; id i is the (i-1) mod InFlight-th slot's, so an answer finds its
// slot without a map. Writes are batched: the buffer is flushed only when no whole answer is waiting to be read.
func (l DubboLoad) serve(nc net.Conn, template []byte, stopAt time.Time, st *connStats) {
	m := int64(l.InFlight)
	br := bufio.NewReaderSize(nc, 64<<10)
	bw := bufio.NewWriterSize(nc, 64<<10)
	req := bytes.Clone(template)
	sent := make([]time.Time, m)
	if cap(st.latencies) == 0 {
		st.latencies = make([]time.Duration, 0, 1<<15)
	}
	send := func(id int64, now time.Time) {
		dubbo.SetID(req, id)
		bw.Write(req) // an error here shows on the next flush or read
		sent[(id-1)%m] = now
	}
	now := time.Now()
	for id := int64(1); id <= m; id++ {
		send(id, now)
	}
	outstanding := m
	if err := bw.Flush(); err != nil {
		st.fail(outstanding, fmt.Errorf("write to %s: %w", l.Addr, err))
		return
	}
	nc.SetReadDeadline(stopAt.Add(l.Grace))
	var buf, hb []byte
	var resp dubbo.Response
	for outstanding > 0 {
		var h dubbo.Header
		var err error
		h, buf, err = dubbo.ReadFrame(br, buf, dubbo.DefaultMaxBody)
		if err != nil {
			st.fail(outstanding, fmt.Errorf("read from %s with %d requests outstanding: %w", l.Addr, outstanding, err))
			return
		}
		if h.IsEvent() {
			if h.IsRequest() && h.IsTwoWay() { // the peer's heartbeat
				hb = dubbo.AppendHeartbeat(hb[:0], h.ID, false)
				bw.Write(hb)
				bw.Flush()
			}
			continue
		}
		if h.IsRequest() || h.ID < 1 {
			st.fail(outstanding, fmt.Errorf("from %s: a frame that answers none of our requests (id %d, flags %#x)", l.Addr, h.ID, h.Flags))
			return
		}
		now := time.Now()
		outstanding--
		if err := l.Call.check(h, buf[dubbo.HeaderLen:], &resp); err != nil {
			st.fail(1, err)
		} else if now.Before(stopAt) {
			st.requests++
			st.latencies = append(st.latencies, now.Sub(sent[(h.ID-1)%m]))
		}
		if now.Before(stopAt) {
			send(h.ID+m, now)
			outstanding++
		}
		if !wholeFrameBuffered(br) {
			if err := bw.Flush(); err != nil {
				st.fail(outstanding, fmt.Errorf("write to %s: %w", l.Addr, err))
				return
			}
		}
	}
}

// check says why an answer is not the OK answer c expects, or nil.
func (c DubboCall) check(h dubbo.Header, body []byte, resp *dubbo.Response) error {
	if err := dubbo.DecodeResponse(h, body, resp); err != nil {
		return err
	}
	if resp.Status != dubbo.StatusOK {
		return fmt.Errorf("dubbo status %d: %s", resp.Status, resp.Message)
	}
	if resp.Kind == dubbo.ResultException || resp.Kind == dubbo.ResultExceptionWithAttachments {
		return fmt.Errorf("the provider threw an exception (%d bytes)", len(resp.Value))
	}
	if c.Expect == "" {
		return nil
	}
	v, _, err := hessian.String(resp.Value, 0)
	if err != nil || !bytes.HasPrefix(v, []byte(c.Expect)) {
		return fmt.Errorf("answer %q does not begin with -expect %q", resp.Value, c.Expect)
	}
	return nil
}

// wholeFrameBuffered reports whether br already holds a whole frame, so reading it will not block.
func wholeFrameBuffered(br *bufio.Reader) bool {
	n := br.Buffered()
	if n < dubbo.HeaderLen {
		return false
	}
	b, _ := br.Peek(dubbo.HeaderLen)
	h, err := dubbo.ParseHeader(b, dubbo.DefaultMaxBody)
	return err == nil && n >= dubbo.HeaderLen+h.BodyLen
}

type attachments []dubbo.Attachment

func (a *attachments) String() string { return fmt.Sprint(*a) }
func (a *attachments) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("attachment %q: expected key=value", v)
	}
	*a = append(*a, dubbo.Attachment{Key: k, Value: val})
	return nil
}

// dubboMain is `loadgen dubbo`: it prints one JSON Result line.
func dubboMain(args []string) error {
	fs := flag.NewFlagSet("dubbo", flag.ExitOnError)
	l := DubboLoad{}
	fs.StringVar(&l.Addr, "addr", "", "provider or proxy address, host:port")
	fs.IntVar(&l.Conns, "c", 2, "connections")
	fs.IntVar(&l.InFlight, "m", 16, "requests in flight on each connection")
	fs.DurationVar(&l.Duration, "d", 10*time.Second, "duration (at most 5m)")
	fs.DurationVar(&l.Grace, "grace", 2*time.Second, "wait for outstanding answers at the end")
	fs.StringVar(&l.Call.Service, "service", "org.example.GreetingService", "service (interface) name")
	fs.StringVar(&l.Call.Version, "version", "1.0.0", "service version")
	fs.StringVar(&l.Call.Method, "method", "greet", "method, taking one String")
	fs.StringVar(&l.Call.Arg, "arg", "Alice", "the String argument")
	fs.StringVar(&l.Call.Expect, "expect", "", "prefix every answer must have, e.g. 'hello Alice'")
	var att attachments
	fs.Var(&att, "a", "attachment key=value (repeatable)")
	fs.Parse(args)
	l.Call.Attachments = att
	res, err := l.Run(context.Background())
	if err != nil {
		return err
	}
	if res.FirstError != "" {
		fmt.Fprintf(os.Stderr, "loadgen dubbo: %d errors, the first: %s\n", res.Errors, res.FirstError)
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}
