// Package module fetches Wasm modules for filters by reference: file://, http(s):// (a sha256 pin is required)
// and, through a Source another package provides, oci://. Every pin is verified before the bytes are returned.
//
//	src := module.Sources{"file": module.File{}, "https": module.HTTP{Client: http.DefaultClient}}
//	wasm, err := module.Fetch(ctx, src, filter.ModuleRef{URL: "file:///etc/wasmesh/auth.wasm"})
package module

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/wasmesh/wasmesh/host/proxy/filter"
)

// MaxModuleSize bounds what a source reads, so a wrong URL cannot fill memory.
const MaxModuleSize = 256 << 20

// Source fetches the bytes a reference names. Implementations for other schemes (oci://) plug in by scheme.
type Source interface {
	Fetch(ctx context.Context, ref string) ([]byte, error)
}

// ErrDigestMismatch is returned (wrapped) when a module's sha256 is not the pinned one.
var ErrDigestMismatch = errors.New("module sha256 does not match the pinned value")

// Sources maps a URL scheme to its Source.
type Sources map[string]Source

// Default returns file, http and https sources; oci is added by the caller when it has one.
func Default(client *http.Client) Sources {
	h := HTTP{Client: client}
	return Sources{"file": File{}, "http": h, "https": h}
}

// Fetch resolves ref through the source for its scheme and verifies the sha256 pin. http(s) references must be
// pinned: a module fetched over the network runs inside the proxy.
func Fetch(ctx context.Context, srcs Sources, ref filter.ModuleRef) ([]byte, error) {
	u, err := url.Parse(ref.URL)
	if err != nil || u.Scheme == "" {
		return nil, fmt.Errorf("module %q: expected a URL with a scheme (file://, https://, oci://)", ref.URL)
	}
	if (u.Scheme == "http" || u.Scheme == "https") && ref.SHA256 == "" {
		return nil, fmt.Errorf("module %q: http(s) modules need a sha256 pin; add sha256: <hex digest>", ref.URL)
	}
	src, ok := srcs[u.Scheme]
	if !ok {
		return nil, fmt.Errorf("module %q: no source for scheme %q", ref.URL, u.Scheme)
	}
	b, err := src.Fetch(ctx, ref.URL)
	if err != nil {
		return nil, fmt.Errorf("module %q: %w", ref.URL, err)
	}
	if ref.SHA256 != "" {
		sum := sha256.Sum256(b)
		got := hex.EncodeToString(sum[:])
		if !strings.EqualFold(strings.TrimPrefix(ref.SHA256, "sha256:"), got) {
			return nil, fmt.Errorf("module %q: %w: got %s, want %s", ref.URL, ErrDigestMismatch, got, ref.SHA256)
		}
	}
	return b, nil
}

// File reads file:// references (file:///abs/path, or file://rel/path relative to the working directory).
type File struct{}

func (File) Fetch(_ context.Context, ref string) ([]byte, error) {
	path := strings.TrimPrefix(ref, "file://")
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readLimited(f)
}

// HTTP fetches http:// and https:// references.
type HTTP struct{ Client *http.Client }

func (h HTTP) Fetch(ctx context.Context, ref string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ref, nil)
	if err != nil {
		return nil, err
	}
	c := h.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET answered %s", resp.Status)
	}
	return readLimited(resp.Body)
}

func readLimited(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxModuleSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxModuleSize {
		return nil, fmt.Errorf("module larger than %d bytes", MaxModuleSize)
	}
	return b, nil
}
