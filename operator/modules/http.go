package modules

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/wasmesh/wasmesh/internal/atomicfile"
	"github.com/wasmesh/wasmesh/oci"
)

// A plain .wasm over http(s) has no manifest: its "resolved digest" is the sha256 of the bytes, which is also
// what spec.sha256 pins for such URLs (as in Istio's WasmPlugin). The bytes are kept beside the OCI cache, in
// http/sha256/<hex>, so the module server and rollbacks find them without the network.

func isHTTP(url string) bool {
	return strings.HasPrefix(url, "http://") || strings.HasPrefix(url, "https://")
}

func (p *Puller) httpPath(d digest.Digest) string {
	return filepath.Join(p.dir, "http", d.Algorithm().String(), d.Encoded())
}

// resolveHTTP downloads url (once at a time per URL), checks the Wasm magic, stores it by digest and returns
// the digest.
func (p *Puller) resolveHTTP(ctx context.Context, url string) (digest.Digest, error) {
	v, err, _ := p.http.Do(url, func() (any, error) {
		max := p.opts.OCI.MaxModuleBytes
		if max <= 0 {
			max = oci.DefaultMaxModuleBytes
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", url, err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, fmt.Errorf("fetching %s: %w", url, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("fetching %s: %s", url, resp.Status)
		}
		data, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
		if err != nil {
			return nil, fmt.Errorf("fetching %s: %w", url, err)
		}
		if int64(len(data)) > max {
			return nil, fmt.Errorf("%s: %w: more than %d bytes", url, oci.ErrTooLarge, max)
		}
		if !bytes.HasPrefix(data, []byte("\x00asm")) {
			return nil, fmt.Errorf("%s: %w", url, oci.ErrNotWasm)
		}
		d := digest.FromBytes(data)
		path := p.httpPath(d)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, err
		}
		if err := atomicfile.Write(path, data, 0o644); err != nil {
			return nil, fmt.Errorf("storing %s: %w", url, err)
		}
		p.mu.Lock()
		p.verified[d] = true // hashed just now
		p.mu.Unlock()
		return d, nil
	})
	if err != nil {
		return "", err
	}
	return v.(digest.Digest), nil
}

// fetchHTTP returns a module resolveHTTP stored.
func (p *Puller) fetchHTTP(url string, d digest.Digest) (Module, error) {
	if d.Validate() != nil {
		return Module{}, fmt.Errorf("%s: invalid digest %q", url, d)
	}
	path := p.httpPath(d)
	fi, err := os.Stat(path)
	if err != nil {
		return Module{}, fmt.Errorf("%s (%s): not downloaded: %w", url, d, err)
	}
	p.catalog.Add(d, path)
	return Module{ManifestDigest: d, ModuleDigest: d, Path: path, Size: fi.Size()}, nil
}
