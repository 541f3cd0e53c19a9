package main

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/host/dubbo/dubbotest"
)

// syncBuffer lets the test read what run writes from another goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestRunServesTheLabel(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-listen", "127.0.0.1:0", "-label", "v2"}, &out, &out) }()
	var addr string
	for addr == "" {
		if line, ok := strings.CutPrefix(out.String(), "dubbo-provider listening on "); ok {
			addr = strings.Fields(line)[0]
			break
		}
		select {
		case err := <-done:
			t.Fatalf("run stopped early: %v (%s)", err, out.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	c, err := dubbotest.Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	res, err := c.Call(ctx, dubbotest.Greet("Alice"))
	if err != nil || res.Value != "hello Alice from v2" {
		t.Fatalf("greet = %+v, %v", res, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run after stop: %v", err)
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-nope"}, &out, &out); err == nil {
		t.Fatal("run accepted an unknown flag")
	}
}
