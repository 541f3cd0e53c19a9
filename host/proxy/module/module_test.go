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
	"strings"
	"sync/atomic"
	"testing"

	"github.com/wasmesh/wasmesh/host/proxy/filter"
	"github.com/wasmesh/wasmesh/oci/cache"
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

// TestCachedStore runs Cached over a real HTTP server and the module cache (oci/cache) as its Store: a pinned
// module is fetched once, then served from disk with the server gone; a stored copy that went bad is dropped
// and fetched again; bytes that do not match the pin are refused and not kept.
func TestCachedStore(t *testing.T) {
	good := []byte("\x00asm\x01\x00\x00\x00good")
	sum := sha256.Sum256(good)
	pin := hex.EncodeToString(sum[:])
	blob := func(dir string) string { return filepath.Join(dir, "blobs", "sha256", pin) }

	tests := []struct {
		name     string
		stored   []byte // the blob on disk before the fetch; nil: none
		serve    []byte // what the server answers; nil: the server is down
		pin      string
		want     []byte
		wantErr  error
		requests int    // requests the server must see
		after    []byte // the blob on disk after the fetch; nil: none
	}{
		{"miss: fetched and kept", nil, good, pin, good, nil, 1, good},
		{"hit with the origin down", good, nil, "sha256:" + pin, good, nil, 0, good},
		{"hit, pin in upper case", good, nil, strings.ToUpper(pin), good, nil, 0, good},
		{"bad copy dropped and fetched again", []byte("\x00asm\x01\x00\x00\x00evil"), good, pin, good, nil, 1, good},
		{"bad copy, origin down", []byte("\x00asm\x01\x00\x00\x00evil"), nil, pin, nil, nil, 0, nil},
		{"origin serves other bytes: refused, not kept", nil, []byte("\x00asm\x01\x00\x00\x00other"), pin, nil, ErrDigestMismatch, 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			c, err := cache.Open(cache.Options{Dir: dir}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.stored != nil {
				if err := os.WriteFile(blob(dir), tt.stored, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var requests atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				requests.Add(1)
				w.Write(tt.serve)
			}))
			url := srv.URL + "/modules/sha256:" + pin
			if tt.serve == nil {
				srv.Close() // connection refused, as with the operator down
			} else {
				defer srv.Close()
			}
			srcs := Default(srv.Client())
			srcs["http"] = Cached{Source: srcs["http"], Store: c}

			b, err := Fetch(context.Background(), srcs, filter.ModuleRef{URL: url, SHA256: tt.pin})
			switch {
			case tt.want == nil && err == nil:
				t.Fatalf("want an error, got %q", b)
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			case tt.want != nil && (err != nil || string(b) != string(tt.want)):
				t.Fatalf("got %q, %v; want %q", b, err, tt.want)
			}
			if n := int(requests.Load()); n != tt.requests {
				t.Errorf("%d requests to the origin, want %d", n, tt.requests)
			}
			got, err := os.ReadFile(blob(dir))
			if tt.after == nil && err == nil {
				t.Errorf("stored %q, want nothing", got)
			} else if tt.after != nil && string(got) != string(tt.after) {
				t.Errorf("stored %q (%v), want %q", got, err, tt.after)
			}
		})
	}
}
