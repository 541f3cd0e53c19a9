package modules

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"
)

func TestServer(t *testing.T) {
	wasm := []byte("\x00asm\x01\x00\x00\x00module")
	d := digest.FromBytes(wasm)
	path := filepath.Join(t.TempDir(), "m.wasm")
	if err := os.WriteFile(path, wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	gone := digest.FromString("evicted")
	cat := NewCatalog()
	cat.Add(d, path)
	cat.Add(gone, filepath.Join(t.TempDir(), "missing"))
	var results []string
	srv := NewServer(ServerOptions{Served: func(r string) { results = append(results, r) }}, cat)

	tests := []struct {
		name, method, path, ifNoneMatch string
		status                          int
		body                            string
	}{
		{"get", http.MethodGet, "/modules/" + d.String(), "", 200, string(wasm)},
		{"head", http.MethodHead, "/modules/" + d.String(), "", 200, ""},
		{"not modified", http.MethodGet, "/modules/" + d.String(), `"` + d.String() + `"`, 304, ""},
		{"unknown digest", http.MethodGet, "/modules/" + digest.FromString("x").String(), "", 404, ""},
		{"evicted", http.MethodGet, "/modules/" + gone.String(), "", 404, ""},
		{"not a digest", http.MethodGet, "/modules/latest", "", 404, ""},
		{"sha512", http.MethodGet, "/modules/sha512:" + string(make([]byte, 0)), "", 404, ""},
		{"other path", http.MethodGet, "/", "", 404, ""},
		{"post", http.MethodPost, "/modules/" + d.String(), "", 405, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.path, nil)
			if tc.ifNoneMatch != "" {
				req.Header.Set("If-None-Match", tc.ifNoneMatch)
			}
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d (%s)", rec.Code, tc.status, rec.Body)
			}
			if tc.status == 200 {
				h := rec.Header()
				if h.Get("Content-Type") != "application/wasm" || h.Get("Cache-Control") != "public, max-age=31536000, immutable" || h.Get("ETag") != `"`+d.String()+`"` {
					t.Errorf("headers %v", h)
				}
				if h.Get("Content-Length") != "14" {
					t.Errorf("Content-Length %q", h.Get("Content-Length"))
				}
			}
			if tc.body != "" && rec.Body.String() != tc.body {
				t.Errorf("body %q", rec.Body)
			}
			if tc.method == http.MethodHead && rec.Body.Len() != 0 {
				t.Errorf("HEAD returned a body")
			}
		})
	}
	if len(results) != 8 || results[0] != "ok" || results[2] != "not_modified" || results[3] != "not_found" {
		t.Errorf("served results %v", results)
	}
}

func TestReference(t *testing.T) {
	tests := []struct {
		url, want string
		ok        bool
	}{
		{"oci://r.local:5000/f/auth:v1", "r.local:5000/f/auth:v1", true},
		{"oci://r.local/f/auth@sha256:" + digest.FromString("a").Encoded(), "r.local/f/auth@" + digest.FromString("a").String(), true},
		{"https://example.com/auth.wasm", "", false},
		{"oci://", "", false},
	}
	for _, tc := range tests {
		ref, err := Reference(tc.url)
		if (err == nil) != tc.ok || (tc.ok && ref.String() != tc.want) {
			t.Errorf("Reference(%q) = %v, %v", tc.url, ref, err)
		}
	}
}
