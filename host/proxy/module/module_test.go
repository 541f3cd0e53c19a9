package module

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/wasmesh/wasmesh/host/proxy/filter"
)

func TestFetch(t *testing.T) {
	body := []byte("\x00asm\x01\x00\x00\x00")
	sum := sha256.Sum256(body)
	pin := hex.EncodeToString(sum[:])
	dir := t.TempDir()
	path := filepath.Join(dir, "m.wasm")
	if err := os.WriteFile(path, body, 0o644); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/m.wasm" {
			http.NotFound(w, r)
			return
		}
		w.Write(body)
	}))
	defer srv.Close()
	srcs := Default(srv.Client())

	tests := []struct {
		name    string
		ref     filter.ModuleRef
		wantErr error
		errText bool
	}{
		{"file unpinned", filter.ModuleRef{URL: "file://" + path}, nil, false},
		{"file pinned", filter.ModuleRef{URL: "file://" + path, SHA256: pin}, nil, false},
		{"file wrong pin", filter.ModuleRef{URL: "file://" + path, SHA256: "00" + pin[2:]}, ErrDigestMismatch, true},
		{"http pinned", filter.ModuleRef{URL: srv.URL + "/m.wasm", SHA256: "sha256:" + pin}, nil, false},
		{"http unpinned", filter.ModuleRef{URL: srv.URL + "/m.wasm"}, nil, true},
		{"http 404", filter.ModuleRef{URL: srv.URL + "/x.wasm", SHA256: pin}, nil, true},
		{"no scheme", filter.ModuleRef{URL: "m.wasm"}, nil, true},
		{"oci without source", filter.ModuleRef{URL: "oci://r/m:1"}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Fetch(context.Background(), srcs, tt.ref)
			if tt.errText {
				if err == nil {
					t.Fatalf("want error, got %d bytes", len(b))
				}
				if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Fatalf("error %v is not %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != string(body) {
				t.Fatalf("got %q", b)
			}
		})
	}
}
