package filter

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// recorder appends its name to x-trace on every callback it wants, and can pause or answer locally.
type recorder struct {
	Base
	name  string
	wants Wants
	pause bool
	deny  bool
}

func (r *recorder) Wants() Wants { return r.wants }

func (r *recorder) trace(h Headers) {
	h.Set("x-trace", h.Get("x-trace")+r.name)
}

func (r *recorder) OnRequestHeaders(s *Stream, _ bool) Action {
	r.trace(s.RequestHeaders)
	if r.deny {
		s.SendLocalResponse(403, [][2]string{{"x-by", r.name}}, nil, "denied")
		return Pause
	}
	if r.pause {
		go func() { time.Sleep(time.Millisecond); s.Resume() }()
		return Pause
	}
	return Continue
}

func (r *recorder) OnResponseHeaders(s *Stream, _ bool) Action {
	r.trace(s.ResponseHeaders)
	return Continue
}

func newStream(t *testing.T) (*Stream, *http.Request) {
	req, _ := http.NewRequest("GET", "http://h/p?q", nil)
	s := NewStream()
	s.Reset(context.Background(), &HTTPRequestHeaders{R: req}, Info{})
	return s, req
}

func TestChainOrder(t *testing.T) {
	all := WantRequestHeaders | WantResponseHeaders
	c := NewChain([]Entry{
		{Name: "u1", Filter: &recorder{name: "u1", wants: all}},
		{Name: "stats", Phase: PhaseStats, Filter: &recorder{name: "s", wants: all}},
		{Name: "authz-lo", Phase: PhaseAuthz, Priority: 1, Filter: &recorder{name: "z1", wants: all}},
		{Name: "authz-hi", Phase: PhaseAuthz, Priority: 9, Filter: &recorder{name: "z9", wants: all}},
		{Name: "authn", Phase: PhaseAuthn, Filter: &recorder{name: "n", wants: all}},
		{Name: "u2", Filter: &recorder{name: "u2", wants: all}},
		{Name: "bodyonly", Filter: &recorder{name: "B", wants: WantRequestBody}},
	})
	var names []string
	for _, e := range c.Entries() {
		names = append(names, e.Name)
	}
	if got := strings.Join(names, ","); got != "authn,authz-hi,authz-lo,stats,u1,u2,bodyonly" {
		t.Fatalf("order %s", got)
	}
	s, _ := newStream(t)
	if !c.RequestHeaders(s, true) {
		t.Fatal("stopped")
	}
	if got := s.RequestHeaders.Get("x-trace"); got != "nz9z1su1u2" {
		t.Fatalf("request trace %q", got)
	}
	status := 200
	s.ResponseHeaders = &HTTPResponseHeaders{H: http.Header{}, Status: &status}
	c.ResponseHeaders(s, true)
	if got := s.ResponseHeaders.Get("x-trace"); got != "u2u1sz1z9n" {
		t.Fatalf("response trace %q (want reverse order)", got)
	}
	if c.Wants()&WantRequestBody == 0 || len(c.by[cbRequestBody]) != 1 {
		t.Fatal("body wants not indexed")
	}
}

func TestChainPauseAndLocalResponse(t *testing.T) {
	c := NewChain([]Entry{
		{Name: "a", Filter: &recorder{name: "a", wants: WantRequestHeaders, pause: true}},
		{Name: "b", Filter: &recorder{name: "b", wants: WantRequestHeaders, deny: true}},
		{Name: "c", Filter: &recorder{name: "c", wants: WantRequestHeaders}},
	})
	s, _ := newStream(t)
	if c.RequestHeaders(s, true) {
		t.Fatal("continued past a local response")
	}
	lr := s.LocalResponse()
	if lr == nil || lr.Status != 403 || s.Info.LocalReplyBy != "b" || s.RequestHeaders.Get("x-trace") != "ab" {
		t.Fatalf("local %+v by %q trace %q", lr, s.Info.LocalReplyBy, s.RequestHeaders.Get("x-trace"))
	}

	// A paused stream whose context ends stops without a reply.
	never := NewChain([]Entry{{Name: "p", Filter: pauseForever{}}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	s2, req := newStream(t)
	s2.Reset(ctx, &HTTPRequestHeaders{R: req}, Info{})
	if never.RequestHeaders(s2, true) || s2.LocalResponse() != nil {
		t.Fatal("paused stream did not stop at context end")
	}
}

type pauseForever struct{ Base }

func (pauseForever) Wants() Wants                          { return WantRequestHeaders }
func (pauseForever) OnRequestHeaders(*Stream, bool) Action { return Pause }

func TestHTTPRequestHeadersPseudo(t *testing.T) {
	s, req := newStream(t)
	h := s.RequestHeaders
	if h.Get(":path") != "/p?q" || h.Get(":method") != "GET" || h.Get(":authority") != "h" || h.Get(":scheme") != "http" {
		t.Fatal("pseudo-headers")
	}
	h.Set(":path", "/new?x=1")
	h.Set(":authority", "other")
	if req.URL.Path != "/new" || req.URL.RawQuery != "x=1" || req.Host != "other" {
		t.Fatalf("rewrite: %v %s", req.URL, req.Host)
	}
	var n int
	h.Range(func(k, v string) bool { n++; return true })
	if n != 4 {
		t.Fatalf("range saw %d pairs", n)
	}
}

func TestPairs(t *testing.T) {
	p := &Pairs{P: [][2]string{{":path", "/s/m"}, {"env", "a"}, {"Env", "b"}}}
	p.Set("ENV", "c")
	if p.Get("env") != "c" || len(p.P) != 2 {
		t.Fatalf("%v", p.P)
	}
	p.Add("x", "1")
	p.Del("env")
	if p.Get("env") != "" || p.Get("x") != "1" {
		t.Fatalf("%v", p.P)
	}
}

func BenchmarkChainHeaders(b *testing.B) {
	c := NewChain([]Entry{{Name: "a", Filter: &recorderNoop{}}, {Name: "b", Filter: &recorderNoop{}}})
	req, _ := http.NewRequest("GET", "http://h/p", nil)
	s := NewStream()
	hh := &HTTPRequestHeaders{R: req}
	b.ReportAllocs()
	for b.Loop() {
		s.Reset(context.Background(), hh, Info{})
		c.RequestHeaders(s, true)
		c.Done(s)
	}
}

type recorderNoop struct{ Base }

func (*recorderNoop) Wants() Wants { return WantRequestHeaders | WantDone }
