// Package module fetches Wasm modules for filters by reference: file://, http(s):// (a sha256 pin is required)
// and, through a Source another package provides, oci://. Every pin is verified before the bytes are returned.
// A Source wrapped in Cached answers pinned references from a local content-addressed Store first and keeps what
// it fetched there, so a proxy restarted while the module's origin is down still loads it.
//
//	src := module.Sources{"file": module.File{}, "https": module.HTTP{Client: http.DefaultClient}}
//	src["https"] = module.Cached{Source: src["https"], Store: store} // store: an *oci/cache.Cache
//	wasm, err := module.Fetch(ctx, src, filter.ModuleRef{URL: "file:///etc/wasmesh/auth.wasm"})
package module

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/opencontainers/go-digest"

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
	var b []byte
	if ps, ok := src.(PinnedSource); ok && ref.SHA256 != "" {
		b, err = ps.FetchPinned(ctx, ref.URL, pinDigest(ref.SHA256))
	} else {
		b, err = src.Fetch(ctx, ref.URL)
	}
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

// pinDigest turns a pin (hex, with or without "sha256:", any case) into a digest; an invalid one stays
// invalid, and Fetch's check reports it.
func pinDigest(pin string) digest.Digest {
	return digest.NewDigestFromEncoded(digest.SHA256, strings.TrimPrefix(strings.ToLower(pin), "sha256:"))
}

// PinnedSource is a Source that can use a reference's sha256 pin, to answer from a copy it holds by digest.
// Fetch still verifies what it returns.
type PinnedSource interface {
	Source
	FetchPinned(ctx context.Context, ref string, pin digest.Digest) ([]byte, error)
}

// Store keeps module bytes by digest on local disk; *oci/cache.Cache is one (shared with oci:// modules,
// verified on read and write, bounded in size with least recently used modules evicted first).
type Store interface {
	// Blob returns the bytes stored under d, verified, or false.
	Blob(d digest.Digest) ([]byte, bool)
	// PutBlob stores b under d, refusing bytes that do not hash to d.
	PutBlob(d digest.Digest, b []byte) error
}

// Cached is a Source whose pinned references are answered from Store before Source is asked, and whose fetched
// modules are kept in Store. A module that was loaded once keeps loading with its origin unreachable — the
// operator's module server down, a registry outage — across restarts of the proxy. Unpinned references always go
// to Source: without a digest there is nothing to look up.
type Cached struct {
	Source Source
	Store  Store
	// Logger receives a warning when a module cannot be stored; nil discards it.
	Logger *slog.Logger
}

var _ PinnedSource = Cached{}

// Fetch fetches an unpinned reference from Source.
func (c Cached) Fetch(ctx context.Context, ref string) ([]byte, error) {
	return c.Source.Fetch(ctx, ref)
}

// FetchPinned returns the stored copy of pin, else fetches ref from Source and stores it.
func (c Cached) FetchPinned(ctx context.Context, ref string, pin digest.Digest) ([]byte, error) {
	if b, ok := c.Store.Blob(pin); ok {
		return b, nil
	}
	b, err := c.Source.Fetch(ctx, ref)
	if err != nil {
		return nil, err
	}
	// Stored only if it hashes to pin; a mismatch is Fetch's error to report, so it is not logged here.
	if err := c.Store.PutBlob(pin, b); err != nil && c.Logger != nil && pin.Algorithm().FromBytes(b) == pin {
		c.Logger.Warn("module not kept in the local cache: a restart will need its origin", "url", ref, "sha256", pin, "err", err)
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
