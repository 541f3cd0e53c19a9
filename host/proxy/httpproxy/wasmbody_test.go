package httpproxy

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
)

// TestWasmBodyFilter runs host/engine/testdata/body (Go SDK: pauses request chunks until the end of stream, then
// upper-cases the whole body; lets response chunks pass and appends " [wasm]" to the last) on a 2 MiB chunked
// upload that an upstream echoes back chunked: the module's buffering holds the request until its end, and the
// echo streams back through it. With a 1 MiB buffer the same upload is refused with 413.
func TestWasmBodyFilter(t *testing.T) { eachServer(t, testWasmBodyFilter) }

func testWasmBodyFilter(t *testing.T, server string) {
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Upstream-Content-Length", strconv.FormatInt(r.ContentLength, 10))
		io.Copy(w, r.Body)
	}))
	t.Cleanup(echo.Close)
	filters := wasmFilter(t, "../../engine/testdata/body", `{"callbacks":["request_body","response_body"],"pool_size":1}`)
	payload := bytes.Repeat([]byte("stream me "), 200<<10) // 2 MiB

	px := proxyTo(t, server, echo, 4<<20, filters...)
	resp, err := http.Post(px.URL+"/echo", "text/plain", io.MultiReader(bytes.NewReader(payload)))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	want := append(bytes.ToUpper(payload), " [wasm]"...)
	if resp.StatusCode != 200 || !bytes.Equal(got, want) {
		t.Fatalf("status %d, %d bytes (want %d), ends %q", resp.StatusCode, len(got), len(want), got[max(0, len(got)-12):])
	}
	if cl := resp.Header.Get("X-Upstream-Content-Length"); cl != strconv.Itoa(len(payload)) {
		t.Fatalf("upstream saw Content-Length %s, want the whole body's %d (the module held it to the end)", cl, len(payload))
	}

	small := proxyTo(t, server, echo, 1<<20, wasmFilter(t, "../../engine/testdata/body", `{"callbacks":["request_body"],"pool_size":1}`)...)
	resp, err = http.Post(small.URL+"/echo", "text/plain", io.MultiReader(bytes.NewReader(payload)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("2 MiB held by the module with a 1 MiB buffer: status %d, want 413", resp.StatusCode)
	}
}
