package dubbotest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"

	h2 "github.com/apache/dubbo-go-hessian2"

	"github.com/wasmesh/wasmesh/host/dubbo"
)

// Invocation is one call to make.
type Invocation struct {
	Service, Version, Group, Method string
	Args                            []any // Go values the oracle maps to Java types: string, int32, int64, ...
	Attachments                     map[string]string
}

// Greet is an invocation of GreetingService.greet(name).
func Greet(name string) Invocation {
	return Invocation{Service: GreetingService, Method: "greet", Args: []any{name}}
}

// Result is a decoded response.
type Result struct {
	Status      dubbo.Status
	Value       any
	Attachments map[string]string
}

// StatusError is a non-OK response or a thrown exception.
type StatusError struct {
	Status  dubbo.Status
	Message string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("dubbo status %d: %s", e.Status, e.Message)
}

// RequestFrame encodes inv as a two-way request frame with dubbo-go-hessian2.
func RequestFrame(id int64, inv Invocation) ([]byte, error) {
	att := map[string]string{}
	for k, v := range inv.Attachments {
		att[k] = v
	}
	svc := h2.Service{Path: inv.Service, Interface: inv.Service, Version: inv.Version, Group: inv.Group, Method: inv.Method}
	args := inv.Args
	if args == nil {
		args = []any{}
	}
	frame, err := h2.NewHessianCodec(nil).Write(svc, h2.DubboHeader{SerialID: dubbo.SerializationHessian2, Type: h2.PackageRequest_TwoWay, ID: id}, h2.NewRequest(args, att))
	if err != nil {
		return nil, fmt.Errorf("dubbotest: encode %s.%s: %w", inv.Service, inv.Method, err)
	}
	return frame, nil
}

// DecodeResult decodes a response frame with dubbo-go-hessian2. A non-OK status or an exception is a
// *StatusError.
func DecodeResult(frame []byte) (Result, error) {
	codec := h2.NewHessianCodec(bufio.NewReaderSize(bytes.NewReader(frame), len(frame)+16))
	var h h2.DubboHeader
	if err := codec.ReadHeader(&h); err != nil {
		return Result{}, fmt.Errorf("dubbotest: response header: %w", err)
	}
	resp := &h2.Response{}
	if err := codec.ReadBody(resp); err != nil {
		return Result{}, fmt.Errorf("dubbotest: response body: %w", err)
	}
	res := Result{Status: dubbo.Status(h.ResponseStatus), Value: resp.RspObj, Attachments: resp.Attachments}
	if resp.Exception != nil {
		return res, &StatusError{Status: res.Status, Message: resp.Exception.Error()}
	}
	return res, nil
}

// Client is a direct client on one connection, one call at a time: the baseline the proxy is measured against.
type Client struct {
	mu     sync.Mutex
	nc     net.Conn
	br     *bufio.Reader
	nextID int64
	buf    []byte
}

// Dial connects to a provider (or to the proxy in front of one).
func Dial(ctx context.Context, addr string) (*Client, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dubbotest: dial %s: %w", addr, err)
	}
	return &Client{nc: nc, br: bufio.NewReader(nc)}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.nc.Close() }

// Call sends inv and waits for its answer; ctx's deadline bounds the whole call. Heartbeats from the peer are
// answered while waiting.
func (c *Client) Call(ctx context.Context, inv Invocation) (Result, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nextID++
	id := c.nextID
	frame, err := RequestFrame(id, inv)
	if err != nil {
		return Result{}, err
	}
	deadline, _ := ctx.Deadline() // zero when there is none: no deadline
	_ = c.nc.SetDeadline(deadline)
	if _, err := c.nc.Write(frame); err != nil {
		return Result{}, fmt.Errorf("dubbotest: write: %w", err)
	}
	for {
		var h dubbo.Header
		h, c.buf, err = dubbo.ReadFrame(c.br, c.buf, 0)
		if err != nil {
			return Result{}, fmt.Errorf("dubbotest: read: %w", err)
		}
		switch {
		case h.IsRequest() && h.IsEvent():
			if _, err := c.nc.Write(dubbo.AppendHeartbeat(nil, h.ID, false)); err != nil {
				return Result{}, fmt.Errorf("dubbotest: answer heartbeat: %w", err)
			}
		case h.IsEvent() || h.ID != id:
			// A heartbeat answer, or a late answer to a call that timed out: not ours.
		default:
			return DecodeResult(c.buf)
		}
	}
}

// Ping sends a heartbeat and waits for its answer.
func (c *Client) Ping(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nextID++
	id := c.nextID
	deadline, _ := ctx.Deadline()
	_ = c.nc.SetDeadline(deadline)
	if _, err := c.nc.Write(dubbo.AppendHeartbeat(nil, id, true)); err != nil {
		return fmt.Errorf("dubbotest: write heartbeat: %w", err)
	}
	for {
		h, buf, err := dubbo.ReadFrame(c.br, c.buf, 0)
		c.buf = buf
		if err != nil {
			return fmt.Errorf("dubbotest: read heartbeat answer: %w", err)
		}
		if h.IsEvent() && !h.IsRequest() && h.ID == id {
			if h.Status != dubbo.StatusOK {
				return errors.New("dubbotest: heartbeat answered with status " + fmt.Sprint(h.Status))
			}
			return nil
		}
	}
}
