package filter

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// bodyRecorder records the bodies it is called with; holdUntilEnd makes it buffer (Pause) until the last chunk;
// rejectOn answers 403 when the bytes it sees contain that string; suffix is appended to the last chunk.
type bodyRecorder struct {
	Base
	holdUntilEnd bool
	rejectOn     string
	suffix       string
	seen         []string
	ends         []bool
}

func (f *bodyRecorder) Wants() Wants { return WantRequestBody | WantResponseBody }

func (f *bodyRecorder) on(s *Stream, body *[]byte, end bool) Action {
	f.seen = append(f.seen, string(*body))
	f.ends = append(f.ends, end)
	if f.rejectOn != "" && bytes.Contains(*body, []byte(f.rejectOn)) {
		s.SendLocalResponse(403, nil, []byte("rejected"), "body_rejected")
		return Continue
	}
	if f.holdUntilEnd && !end {
		return Pause
	}
	if end && f.suffix != "" {
		*body = append(*body, f.suffix...)
	}
	return Continue
}

func (f *bodyRecorder) OnRequestBody(s *Stream, end bool) Action { return f.on(s, &s.RequestBody, end) }
func (f *bodyRecorder) OnResponseBody(s *Stream, end bool) Action {
	return f.on(s, &s.ResponseBody, end)
}

func TestBodyData(t *testing.T) {
	chunks := []string{"ab", "cd", "ef"}
	tests := []struct {
		name      string
		first     *bodyRecorder // first in chain order
		second    *bodyRecorder
		limit     int
		wantOut   []string // forwarded after each chunk (request direction)
		wantFirst []string // what the first filter saw
		wantSec   []string
		wantRes   BodyResult // of the last call made
	}{
		{"both stream", &bodyRecorder{}, &bodyRecorder{suffix: "!"}, 100,
			[]string{"ab", "cd", "ef!"}, []string{"ab", "cd", "ef"}, []string{"ab", "cd", "ef"}, BodyForward},
		{"first buffers", &bodyRecorder{holdUntilEnd: true}, &bodyRecorder{}, 100,
			[]string{"", "", "abcdef"}, []string{"ab", "abcd", "abcdef"}, []string{"abcdef"}, BodyForward},
		{"second buffers", &bodyRecorder{suffix: "?"}, &bodyRecorder{holdUntilEnd: true}, 100,
			[]string{"", "", "abcdef?"}, []string{"ab", "cd", "ef"}, []string{"ab", "abcd", "abcdef?"}, BodyForward},
		{"overflow", &bodyRecorder{holdUntilEnd: true}, &bodyRecorder{}, 3,
			[]string{"", ""}, []string{"ab", "abcd"}, nil, BodyOverflow},
		{"local reply mid-body", &bodyRecorder{rejectOn: "c"}, &bodyRecorder{}, 100,
			[]string{"ab", ""}, []string{"ab", "cd"}, []string{"ab"}, BodyStopped},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewChain([]Entry{{Name: "first", Filter: tt.first, Priority: 1}, {Name: "second", Filter: tt.second}})
			s := NewStream()
			s.Reset(context.Background(), nil, Info{})
			var out []string
			var res BodyResult
			for i, ch := range chunks {
				buf := []byte(ch) // a read buffer the caller reuses: clobber it after the call
				var o []byte
				o, res = c.RequestData(s, buf, i == len(chunks)-1, tt.limit)
				out = append(out, string(o))
				copy(buf, "XX")
				if res != BodyForward {
					break
				}
			}
			if res != tt.wantRes || strings.Join(out, "|") != strings.Join(tt.wantOut, "|") {
				t.Fatalf("forwarded %q (%v), want %q (%v)", out, res, tt.wantOut, tt.wantRes)
			}
			if strings.Join(tt.first.seen, "|") != strings.Join(tt.wantFirst, "|") ||
				strings.Join(tt.second.seen, "|") != strings.Join(tt.wantSec, "|") {
				t.Fatalf("first saw %q, second saw %q; want %q and %q", tt.first.seen, tt.second.seen, tt.wantFirst, tt.wantSec)
			}
			if res == BodyStopped && (s.LocalResponse() == nil || s.Info.LocalReplyBy != "first") {
				t.Fatalf("local reply %+v by %q", s.LocalResponse(), s.Info.LocalReplyBy)
			}
		})
	}
}

// Response bodies run the filters last first; a filter holding on the response side does not see request bytes.
func TestBodyDataResponseOrder(t *testing.T) {
	a, b := &bodyRecorder{suffix: "a"}, &bodyRecorder{holdUntilEnd: true, suffix: "b"}
	c := NewChain([]Entry{{Name: "a", Filter: a}, {Name: "b", Filter: b}})
	s := NewStream()
	s.Reset(context.Background(), nil, Info{})
	if out, res := c.RequestData(s, []byte("req"), true, 100); string(out) != "reqab" || res != BodyForward {
		t.Fatalf("request forwarded %q (%v), want \"reqab\"", out, res)
	}
	out1, _ := c.ResponseData(s, []byte("x"), false, 100)
	out2, res := c.ResponseData(s, []byte("y"), true, 100)
	if string(out1) != "" || string(out2) != "xyba" || res != BodyForward {
		t.Fatalf("response forwarded %q then %q (%v), want \"\" then \"xyba\"", out1, out2, res)
	}
}

// A pooled stream keeps no body bytes from its last use.
func TestBodyHeldResetOnReuse(t *testing.T) {
	f := &bodyRecorder{holdUntilEnd: true}
	c := NewChain([]Entry{{Name: "f", Filter: f}})
	s := NewStream()
	s.Reset(context.Background(), nil, Info{})
	c.RequestData(s, []byte("old"), false, 100)
	s.Reset(context.Background(), nil, Info{})
	out, _ := c.RequestData(s, []byte("new"), true, 100)
	if string(out) != "new" {
		t.Fatalf("after reuse forwarded %q, want \"new\"", out)
	}
}
