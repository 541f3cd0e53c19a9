package httpproxy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/host/proxy/cluster"
	"github.com/wasmesh/wasmesh/host/proxy/config"
	"github.com/wasmesh/wasmesh/host/proxy/filter"
)

// chunkFilter is a native body filter for these tests: it counts the chunks it sees (and which said end of
// stream), upper-cases what passes when upper is set, and holds everything until the end when hold is set. It
// filters request bodies, or response bodies when response is set.
type chunkFilter struct {
	filter.Base
	hold, upper, response bool

	mu          sync.Mutex
	chunks      int
	ends        int
	lastEnd     bool
	largestSeen int
}

func (f *chunkFilter) Wants() filter.Wants {
	if f.response {
		return filter.WantResponseBody
	}
	return filter.WantRequestBody
}

func (f *chunkFilter) on(body *[]byte, end bool) filter.Action {
	f.mu.Lock()
	f.chunks++
	if end {
		f.ends++
	}
	f.lastEnd = end
	f.largestSeen = max(f.largestSeen, len(*body))
	f.mu.Unlock()
	if f.hold && !end {
		return filter.Pause
	}
	if f.upper {
		*body = bytes.ToUpper(*body)
	}
	return filter.Continue
}

func (f *chunkFilter) OnRequestBody(s *filter.Stream, end bool) filter.Action {
	return f.on(&s.RequestBody, end)
}
func (f *chunkFilter) OnResponseBody(s *filter.Stream, end bool) filter.Action {
	return f.on(&s.ResponseBody, end)
}

func (f *chunkFilter) stats() (chunks, ends, largest int, lastEnd bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.chunks, f.ends, f.largestSeen, f.lastEnd
}

// proxyTo starts the handler on a loopback Listener with the given HTTP server in front of upstream, with a
// real cluster (net/http's transport for bodies) and the given filters.
func proxyTo(t *testing.T, server string, upstream *httptest.Server, maxBuffer int, filters ...filter.Entry) *testProxy {
	t.Helper()
	c, err := cluster.New(config.Cluster{Name: "backend", Endpoints: []config.Endpoint{{Address: upstream.Listener.Addr().String()}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return serveListener(t, server, newHandlerFor(t, c, maxBuffer, filters...))
}

// testProxy is a Listener serving on loopback.
type testProxy struct{ URL string }

// serveListener runs h on a cleartext Listener with the given HTTP/1.1 server (h2c included) until the test ends.
func serveListener(t testing.TB, server string, h *Handler) *testProxy {
	t.Helper()
	l := NewListener("test", "127.0.0.1:0", nil, h, nil)
	l.Server = server
	l.DrainTimeout.Set(5 * time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Start(ctx) }()
	var addr net.Addr
	select {
	case addr = <-l.Ready():
	case err := <-done:
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("listener: %v", err)
		}
	})
	return &testProxy{URL: "http://" + addr.String()}
}

// eachServer runs a test against both HTTP/1.1 servers a cleartext listener can use.
func eachServer(t *testing.T, test func(t *testing.T, server string)) {
	for _, s := range []string{ServerWasmesh, ServerNetHTTP} {
		t.Run(strings.ReplaceAll(s, "/", "-"), func(t *testing.T) { test(t, s) })
	}
}

// bodyInfo is what the upstream saw of a request body.
type bodyInfo struct {
	length        int
	contentLength int64
	sum           [32]byte
}

// sinkUpstream reads each request body whole and reports it; firstByte is closed when the first body byte of
// the first request arrives.
func sinkUpstream(t *testing.T) (*httptest.Server, <-chan bodyInfo, <-chan struct{}) {
	got := make(chan bodyInfo, 4)
	first := make(chan struct{})
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		buf := make([]byte, 32<<10)
		n := 0
		for {
			k, err := r.Body.Read(buf)
			if k > 0 {
				once.Do(func() { close(first) })
			}
			h.Write(buf[:k])
			n += k
			if err != nil {
				break
			}
		}
		var sum [32]byte
		copy(sum[:], h.Sum(nil))
		got <- bodyInfo{length: n, contentLength: r.ContentLength, sum: sum}
		w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	return srv, got, first
}

// TestStreamedUpload sends a 4 MiB chunked upload through a body filter that lets bytes pass: the upstream must
// see the first bytes while the client is still holding back the rest (no whole-body buffering), the filter
// many chunks with end of stream only on the last, and the upstream the body unchanged.
func TestStreamedUpload(t *testing.T) { eachServer(t, testStreamedUpload) }

func testStreamedUpload(t *testing.T, server string) {
	up, got, firstByte := sinkUpstream(t)
	f := &chunkFilter{}
	px := proxyTo(t, server, up, 1<<20, filter.Entry{Name: "chunks", Filter: f})

	payload := bytes.Repeat([]byte("0123456789abcdef"), 4<<16) // 4 MiB
	pr, pw := io.Pipe()
	go func() {
		pw.Write(payload[:64<<10])
		select { // the rest only once the upstream has seen the first bytes
		case <-firstByte:
		case <-time.After(10 * time.Second):
			pw.CloseWithError(io.ErrUnexpectedEOF)
			return
		}
		for off := 64 << 10; off < len(payload); off += 100 << 10 {
			pw.Write(payload[off:min(off+100<<10, len(payload))])
		}
		pw.Close()
	}()
	resp, err := http.Post(px.URL+"/up", "application/octet-stream", pr)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	bi := <-got
	if bi.length != len(payload) || bi.sum != sha256.Sum256(payload) {
		t.Fatalf("upstream got %d bytes (sum match %v), want %d", bi.length, bi.sum == sha256.Sum256(payload), len(payload))
	}
	chunks, ends, largest, lastEnd := f.stats()
	if chunks < 4 || ends != 1 || !lastEnd || largest > 32<<10 {
		t.Fatalf("filter saw %d chunks, %d with end of stream (last %v), largest %d bytes", chunks, ends, lastEnd, largest)
	}
}

// TestBufferedUpload: a filter that holds the body until its end sees it whole; the upstream then gets it with
// an exact Content-Length. Beyond max_buffer_bytes the client gets 413 and nothing goes upstream.
func TestBufferedUpload(t *testing.T) { eachServer(t, testBufferedUpload) }

func testBufferedUpload(t *testing.T, server string) {
	up, got, _ := sinkUpstream(t)
	f := &chunkFilter{hold: true, upper: true}
	px := proxyTo(t, server, up, 1<<20, filter.Entry{Name: "hold", Filter: f})

	small := bytes.Repeat([]byte("abcd"), 128<<10)                                             // 512 KiB
	resp, err := http.Post(px.URL+"/up", "text/plain", io.MultiReader(bytes.NewReader(small))) // chunked
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	bi := <-got
	if resp.StatusCode != 200 || bi.contentLength != int64(len(small)) || bi.sum != sha256.Sum256(bytes.ToUpper(small)) {
		t.Fatalf("status %d; upstream Content-Length %d, %d bytes, upper-cased %v", resp.StatusCode, bi.contentLength, bi.length,
			bi.sum == sha256.Sum256(bytes.ToUpper(small)))
	}
	if _, _, largest, _ := f.stats(); largest != len(small) {
		t.Fatalf("filter's largest view %d bytes, want the whole %d", largest, len(small))
	}

	big := bytes.Repeat([]byte("x"), 3<<20)
	resp, err = http.Post(px.URL+"/up", "text/plain", io.MultiReader(bytes.NewReader(big)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("3 MiB through a 1 MiB buffer: status %d, want 413", resp.StatusCode)
	}
	select {
	case bi := <-got:
		t.Fatalf("upstream got %d bytes of a refused body", bi.length)
	default:
	}
}

// sourceUpstream answers with size bytes in 16 KiB chunked writes, flushing each; after the first it waits for
// clientRead (when not nil), so a proxy that buffered the whole response would stall.
func sourceUpstream(t *testing.T, size int, clientRead <-chan struct{}) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := bytes.Repeat([]byte("abcdefgh"), 2<<10)
		for off := 0; off < size; off += len(chunk) {
			w.Write(chunk[:min(len(chunk), size-off)])
			w.(http.Flusher).Flush()
			if off == 0 && clientRead != nil {
				select {
				case <-clientRead:
				case <-time.After(10 * time.Second):
					return
				}
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestStreamedDownload: a 4 MiB chunked response passes a transforming body filter chunk by chunk: the client
// reads the first bytes before the upstream sends the rest, and gets every byte transformed.
func TestStreamedDownload(t *testing.T) { eachServer(t, testStreamedDownload) }

func testStreamedDownload(t *testing.T, server string) {
	clientRead := make(chan struct{})
	const size = 4 << 20
	up := sourceUpstream(t, size, clientRead)
	f := &chunkFilter{upper: true, response: true}
	px := proxyTo(t, server, up, 1<<20, filter.Entry{Name: "upper", Filter: f})
	resp, err := http.Get(px.URL + "/down")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	first := make([]byte, 8)
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatal(err)
	}
	close(clientRead)
	rest, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	all := append(first, rest...)
	if len(all) != size || string(all[:8]) != "ABCDEFGH" || strings.ContainsAny(string(all), "abcdefgh") {
		t.Fatalf("client got %d bytes starting %q, want %d upper-cased", len(all), all[:8], size)
	}
	if chunks, ends, _, lastEnd := f.stats(); chunks < 4 || ends != 1 || !lastEnd {
		t.Fatalf("filter saw %d chunks, %d with end of stream (last %v)", chunks, ends, lastEnd)
	}
}

// TestResponseOverflow: a filter holding a response beyond max_buffer_bytes turns it into a 500 (nothing of it
// was sent yet).
func TestResponseOverflow(t *testing.T) { eachServer(t, testResponseOverflow) }

func testResponseOverflow(t *testing.T, server string) {
	up := sourceUpstream(t, 3<<20, nil)
	px := proxyTo(t, server, up, 1<<20, filter.Entry{Name: "hold", Filter: &chunkFilter{hold: true, response: true}})
	resp, err := http.Get(px.URL + "/down")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", resp.StatusCode)
	}
}

// rejecter answers 403 from the request body callback once it has seen the word "stop".
type rejecter struct{ filter.Base }

func (rejecter) Wants() filter.Wants { return filter.WantRequestBody }
func (rejecter) OnRequestBody(s *filter.Stream, end bool) filter.Action {
	if bytes.Contains(s.RequestBody, []byte("stop")) {
		s.SendLocalResponse(http.StatusForbidden, nil, []byte("stopped by filter\n"), "body_rejected")
	}
	return filter.Continue
}

// TestLocalReplyMidUpload: a filter that answers locally after some chunks already went upstream still gets its
// answer to the client, and the upstream exchange is abandoned.
func TestLocalReplyMidUpload(t *testing.T) { eachServer(t, testLocalReplyMidUpload) }

func testLocalReplyMidUpload(t *testing.T, server string) {
	up, _, firstByte := sinkUpstream(t)
	px := proxyTo(t, server, up, 1<<20, filter.Entry{Name: "reject", Filter: rejecter{}})
	pr, pw := io.Pipe()
	go func() {
		pw.Write(bytes.Repeat([]byte("a"), 64<<10))
		select {
		case <-firstByte:
		case <-time.After(10 * time.Second):
		}
		pw.Write([]byte("stop"))
		pw.Write(bytes.Repeat([]byte("a"), 64<<10)) // may block: nobody needs it anymore
		pw.Close()
	}()
	defer pr.Close()
	resp, err := http.Post(px.URL+"/up", "text/plain", pr)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || string(b) != "stopped by filter\n" {
		t.Fatalf("status %d body %q, want 403 from the filter", resp.StatusCode, b)
	}
}

// TestHeadKeepsLength: with a response body filter in the chain, a HEAD response keeps the upstream's
// Content-Length (it describes the GET's body) and no filter is given a body.
func TestHeadKeepsLength(t *testing.T) { eachServer(t, testHeadKeepsLength) }

func testHeadKeepsLength(t *testing.T, server string) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1234")
	}))
	t.Cleanup(up.Close)
	f := &chunkFilter{upper: true, response: true}
	px := proxyTo(t, server, up, 1<<20, filter.Entry{Name: "upper", Filter: f})
	resp, err := http.Head(px.URL + "/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ContentLength != 1234 {
		t.Fatalf("status %d, Content-Length %d, want 200 and 1234", resp.StatusCode, resp.ContentLength)
	}
	if chunks, _, _, _ := f.stats(); chunks != 0 {
		t.Fatalf("filter called with %d body chunks for HEAD", chunks)
	}
}

// BenchmarkHandlerBodyFilter is a 16 KiB request body and the fixed response through a native filter that sees
// both bodies and lets them pass: the cost of the body path when a body ends within its first read.
func BenchmarkHandlerBodyFilter(b *testing.B) {
	up := &fixedUpstream{resp: http.Response{StatusCode: 200, ContentLength: 5}}
	f := &chunkFilter{}
	h := newTestHandler(b, up, filter.Entry{Name: "req", Filter: f}, filter.Entry{Name: "resp", Filter: &chunkFilter{response: true}})
	payload := strings.Repeat("x", 16<<10)
	body := &bodyReader{}
	req, _ := http.NewRequest("POST", "http://svc/path", nil)
	w := &recorderW{h: http.Header{}}
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		clear(w.h)
		clear(req.Header)
		body.Reset(payload)
		req.Body, req.ContentLength = body, int64(len(payload))
		h.ServeHTTP(w, req)
		if w.status != 200 {
			b.Fatal(w.status)
		}
	}
}

// TestRetryReplaysBody: with retries on 5xx, a request body within retries.max_body (known length or chunked) is
// sent again, whole, on the retry; a longer one goes upstream once, as it comes, and its 503 is final.
func TestRetryReplaysBody(t *testing.T) { eachServer(t, testRetryReplaysBody) }

func testRetryReplaysBody(t *testing.T, server string) {
	var mu sync.Mutex
	var seen []int // body lengths per attempt
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, len(b))
		first := len(seen)%2 == 1
		mu.Unlock()
		if first {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Write(b)
	}))
	t.Cleanup(up.Close)
	c, err := cluster.New(config.Cluster{Name: "backend", Endpoints: []config.Endpoint{{Address: up.Listener.Addr().String()}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	rc := config.Route{Name: "all", Cluster: "backend", Retries: &config.Retries{Attempts: 1, On: []string{"5xx"}, MaxBytes: 64 << 10,
		Backoff: config.Duration(time.Millisecond)}}
	px := serveListener(t, server, newHandlerRoute(t, c, rc, 1<<20))

	tests := []struct {
		name       string
		size       int
		chunked    bool
		wantStatus int
		wantSeen   []int
	}{
		{"known length", 10 << 10, false, 200, []int{10 << 10, 10 << 10}},
		{"chunked", 20 << 10, true, 200, []int{20 << 10, 20 << 10}},
		{"beyond max_body", 100 << 10, true, 503, []int{100 << 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			seen = nil
			mu.Unlock()
			payload := bytes.Repeat([]byte("r"), tt.size)
			var body io.Reader = bytes.NewReader(payload)
			if tt.chunked {
				body = io.MultiReader(body)
			}
			resp, err := http.Post(px.URL+"/r", "text/plain", body)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			mu.Lock()
			defer mu.Unlock()
			if resp.StatusCode != tt.wantStatus || fmt.Sprint(seen) != fmt.Sprint(tt.wantSeen) {
				t.Fatalf("status %d, upstream saw bodies of %v; want %d and %v", resp.StatusCode, seen, tt.wantStatus, tt.wantSeen)
			}
			if tt.wantStatus == 200 && !bytes.Equal(got, payload) {
				t.Fatalf("echo of the retried body: %d bytes, want %d", len(got), len(payload))
			}
		})
	}
}

// overlapFilter wants both bodies and records whether two of its callbacks for one stream ever ran at once.
type overlapFilter struct {
	filter.Base
	in       atomic.Int32
	overlaps atomic.Int32
	calls    atomic.Int32
}

func (f *overlapFilter) Wants() filter.Wants { return filter.WantRequestBody | filter.WantResponseBody }
func (f *overlapFilter) enter() {
	if f.in.Add(1) > 1 {
		f.overlaps.Add(1)
	}
	f.calls.Add(1)
	time.Sleep(50 * time.Microsecond) // widen the window
	f.in.Add(-1)
}
func (f *overlapFilter) OnRequestBody(*filter.Stream, bool) filter.Action {
	f.enter()
	return filter.Continue
}
func (f *overlapFilter) OnResponseBody(*filter.Stream, bool) filter.Action {
	f.enter()
	return filter.Continue
}

// TestFullDuplexBodies: an upstream that answers while it is still reading the request (an echo) has the
// request body filtered on the pump's goroutine while the response body is filtered on the handler's; the
// filter must never see two callbacks at once, and every byte must come back.
func TestFullDuplexBodies(t *testing.T) { eachServer(t, testFullDuplexBodies) }

func testFullDuplexBodies(t *testing.T, server string) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.NewResponseController(w).EnableFullDuplex()
		w.WriteHeader(200)
		buf := make([]byte, 8<<10)
		for {
			n, err := r.Body.Read(buf)
			w.Write(buf[:n])
			w.(http.Flusher).Flush()
			if err != nil {
				return
			}
		}
	}))
	t.Cleanup(up.Close)
	f := &overlapFilter{}
	px := proxyTo(t, server, up, 1<<20, filter.Entry{Name: "both", Filter: f})
	payload := bytes.Repeat([]byte("duplex!!"), 64<<10) // 512 KiB
	pr, pw := io.Pipe()
	go func() {
		for off := 0; off < len(payload); off += 16 << 10 {
			pw.Write(payload[off : off+16<<10])
		}
		pw.Close()
	}()
	resp, err := http.Post(px.URL+"/echo", "application/octet-stream", pr)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("echo: %d bytes (err %v), want %d", len(got), err, len(payload))
	}
	if f.overlaps.Load() != 0 || f.calls.Load() < 4 {
		t.Fatalf("%d overlapping callbacks in %d", f.overlaps.Load(), f.calls.Load())
	}
}

// TestStreamedUploadH2C is TestStreamedUpload from an HTTP/2 (h2c) client: the body's DATA frames reach the
// filter and the upstream as they come.
func TestStreamedUploadH2C(t *testing.T) { eachServer(t, testStreamedUploadH2C) }

func testStreamedUploadH2C(t *testing.T, server string) {
	up, got, firstByte := sinkUpstream(t)
	f := &chunkFilter{upper: true}
	c, err := cluster.New(config.Cluster{Name: "backend", Endpoints: []config.Endpoint{{Address: up.Listener.Addr().String()}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	px := serveListener(t, server, newHandlerFor(t, c, 1<<20, filter.Entry{Name: "upper", Filter: f}))
	var cp http.Protocols
	cp.SetUnencryptedHTTP2(true)
	client := &http.Client{Transport: &http.Transport{Protocols: &cp}}

	payload := bytes.Repeat([]byte("h2c body "), 256<<10) // 2.25 MiB
	pr, pw := io.Pipe()
	go func() {
		pw.Write(payload[:64<<10])
		select {
		case <-firstByte:
		case <-time.After(10 * time.Second):
			pw.CloseWithError(io.ErrUnexpectedEOF)
			return
		}
		for off := 64 << 10; off < len(payload); off += 50 << 10 {
			pw.Write(payload[off:min(off+50<<10, len(payload))])
		}
		pw.Close()
	}()
	resp, err := client.Post(px.URL+"/up", "text/plain", pr)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
		t.Fatalf("status %d over %s", resp.StatusCode, resp.Proto)
	}
	bi := <-got
	if bi.length != len(payload) || bi.sum != sha256.Sum256(bytes.ToUpper(payload)) {
		t.Fatalf("upstream got %d bytes, want %d upper-cased", bi.length, len(payload))
	}
	if chunks, ends, _, lastEnd := f.stats(); chunks < 4 || ends != 1 || !lastEnd {
		t.Fatalf("filter saw %d chunks, %d with end of stream (last %v)", chunks, ends, lastEnd)
	}
}

// trailerFilter wants request bodies and trailers: it records the trailer the client sent and adds one.
type trailerFilter struct {
	filter.Base
	mu   sync.Mutex
	seen string
}

func (f *trailerFilter) Wants() filter.Wants {
	return filter.WantRequestBody | filter.WantRequestTrailers
}
func (f *trailerFilter) OnRequestTrailers(s *filter.Stream) filter.Action {
	f.mu.Lock()
	f.seen = s.RequestTrailers.Get("x-check")
	f.mu.Unlock()
	s.RequestTrailers.Set("x-filtered", "yes")
	return filter.Continue
}

// TestRequestTrailersWithLength: over HTTP/2 a request may carry trailers and a Content-Length; the trailers
// come after the last data, and the body filters' chain still sees them and forwards them changed.
func TestRequestTrailersWithLength(t *testing.T) { eachServer(t, testRequestTrailersWithLength) }

func testRequestTrailersWithLength(t *testing.T, server string) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Got", r.Trailer.Get("X-Check")+","+r.Trailer.Get("X-Filtered"))
	}))
	t.Cleanup(up.Close)
	c, err := cluster.New(config.Cluster{Name: "backend", Endpoints: []config.Endpoint{{Address: up.Listener.Addr().String()}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	f := &trailerFilter{}
	px := serveListener(t, server, newHandlerFor(t, c, 1<<20, filter.Entry{Name: "trailers", Filter: f}))
	var cp http.Protocols
	cp.SetUnencryptedHTTP2(true)
	client := &http.Client{Transport: &http.Transport{Protocols: &cp}}

	body := strings.Repeat("t", 1000)
	req, _ := http.NewRequest("POST", px.URL+"/t", strings.NewReader(body))
	req.ContentLength = int64(len(body))
	req.Trailer = http.Header{"X-Check": {"42"}}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	f.mu.Lock()
	defer f.mu.Unlock()
	if resp.StatusCode != 200 || f.seen != "42" || resp.Header.Get("X-Got") != "42,yes" {
		t.Fatalf("status %d over %s; filter saw trailer %q; upstream got %q", resp.StatusCode, resp.Proto, f.seen, resp.Header.Get("X-Got"))
	}
}

// lateRejecter answers locally on the second response chunk, after the head and the first bytes went out.
type lateRejecter struct {
	filter.Base
	n atomic.Int32
}

func (*lateRejecter) Wants() filter.Wants { return filter.WantResponseBody }
func (f *lateRejecter) OnResponseBody(s *filter.Stream, end bool) filter.Action {
	if f.n.Add(1) == 2 {
		s.SendLocalResponse(http.StatusForbidden, nil, []byte("too late"), "late_reject")
	}
	return filter.Continue
}

// TestLateResponseStopBreaksStream: a filter that stops a response whose head is already sent cannot change the
// status any more; the client must see a broken body, not a complete-looking short one.
func TestLateResponseStopBreaksStream(t *testing.T) { eachServer(t, testLateResponseStopBreaksStream) }

func testLateResponseStopBreaksStream(t *testing.T, server string) {
	up := sourceUpstream(t, 256<<10, nil)
	px := proxyTo(t, server, up, 1<<20, filter.Entry{Name: "late", Filter: &lateRejecter{}})
	resp, err := http.Get(px.URL + "/down")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || err == nil || len(got) >= 256<<10 {
		t.Fatalf("status %d, %d bytes, read error %v: want 200, a short body and an error", resp.StatusCode, len(got), err)
	}
}
