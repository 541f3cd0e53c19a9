// Package cache keeps pulled Wasm modules on local disk, content-addressed, for the proxy and the operator: a hit
// never touches the network, concurrent pulls of one digest in a process fetch it once, and several processes may
// share one directory.
//
//	client, _ := oci.NewClient(oci.Options{})
//	c, _ := cache.Open(cache.Options{MaxBytes: 1 << 30}, client)
//	e, err := c.Get(ctx, "registry.local:5000/filters/auth:v1", cache.Request{Policy: cache.IfNotPresent})
//	wasm, err := e.ReadFile()
//
// Layout under Dir (every file is written to a temp file in its directory, fsynced and renamed, so readers see
// whole files or none, and no lock is needed):
//
//	blobs/sha256/<hex>      module bytes, named by their sha256; mtime is the last access (for LRU eviction).
//	                        Modules the proxy fetched over http(s) with a sha256 pin are kept here too (PutBlob).
//	manifests/sha256/<hex>  the module digest a manifest (or index) digest resolved to: immutable
//	tags/<sha256(name:tag)> {ref, manifest, module, resolved}: the tag index, fresh for TTL
package cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/singleflight"

	"github.com/wasmesh/wasmesh/internal/atomicfile"
	"github.com/wasmesh/wasmesh/oci"
)

// Source is the network side the cache falls back to; *oci.Client satisfies it.
type Source interface {
	Resolve(ctx context.Context, ref string) (oci.Reference, ocispec.Descriptor, error)
	Pull(ctx context.Context, ref string, opts oci.PullOptions) (*oci.Module, error)
}

var _ Source = (*oci.Client)(nil)

// Policy is Istio's imagePullPolicy.
type Policy int

const (
	// IfNotPresent serves a digest reference, or a tag resolved within TTL, from the cache.
	IfNotPresent Policy = iota
	// Always resolves the tag every time and fetches only when the digest changed.
	Always
)

// ParsePolicy reads "IfNotPresent", "Always" or "" (IfNotPresent, Istio's default for non-latest tags).
func ParsePolicy(s string) (Policy, error) {
	switch strings.ToLower(s) {
	case "", "ifnotpresent", "unspecified_policy":
		return IfNotPresent, nil
	case "always":
		return Always, nil
	}
	return 0, fmt.Errorf("unknown pull policy %q: use IfNotPresent or Always", s)
}

// Options configure a Cache.
type Options struct {
	// Dir is the cache root; "" is DefaultDir().
	Dir string
	// TTL is how long a tag->digest entry is trusted by IfNotPresent; 0 means 1 hour.
	TTL time.Duration
	// MaxBytes bounds the module blobs; least recently used ones go first. 0 means 1 GiB.
	MaxBytes int64
	// Grace protects blobs used this recently from eviction, so another process that just resolved one can still
	// open it. 0 means 1 minute.
	Grace time.Duration
	// Logger receives debug logs; nil discards them.
	Logger *slog.Logger
}

// DefaultDir is ${XDG_CACHE_HOME:-$HOME/.cache}/wasmesh/modules.
func DefaultDir() (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("module cache: no cache directory (set XDG_CACHE_HOME or HOME): %w", err)
	}
	return filepath.Join(base, "wasmesh", "modules"), nil
}

// Cache is safe for concurrent use, and for use by several processes on one Dir.
type Cache struct {
	opts  Options
	src   Source
	log   *slog.Logger
	group singleflight.Group
	now   func() time.Time

	fetches, hits atomic.Int64
}

// Open prepares the directory and returns a Cache reading through src.
func Open(opts Options, src Source) (*Cache, error) {
	if opts.Dir == "" {
		dir, err := DefaultDir()
		if err != nil {
			return nil, err
		}
		opts.Dir = dir
	}
	if opts.TTL <= 0 {
		opts.TTL = time.Hour
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 1 << 30
	}
	if opts.Grace <= 0 {
		opts.Grace = time.Minute
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for _, sub := range []string{"blobs/sha256", "manifests/sha256", "tags"} {
		if err := os.MkdirAll(filepath.Join(opts.Dir, sub), 0o755); err != nil {
			return nil, fmt.Errorf("module cache %s: %w", opts.Dir, err)
		}
	}
	return &Cache{opts: opts, src: src, log: log, now: time.Now}, nil
}

// Request says how to look a reference up.
type Request struct {
	Policy Policy
	// SHA256 pins the module bytes (Istio's WasmPlugin.sha256); a mismatch is oci.ErrDigestMismatch.
	SHA256 string
	// Progress, when set, is passed to the pull on a miss.
	Progress func(done, total int64)
}

// Entry is a cached module.
type Entry struct {
	Path           string
	ModuleDigest   digest.Digest
	ManifestDigest digest.Digest // what the reference resolved to (an index digest for an index)
	Size           int64
	// Hit is true when the network was not used at all; Fetched is true when the module was downloaded.
	Hit, Fetched bool
}

// Open opens the cached module.
func (e Entry) Open() (*os.File, error) { return os.Open(e.Path) }

// ReadFile reads the cached module.
func (e Entry) ReadFile() ([]byte, error) { return os.ReadFile(e.Path) }

// Stats counts downloads and network-free hits since Open.
type Stats struct{ Fetches, Hits int64 }

// Stats returns the counters.
func (c *Cache) Stats() Stats { return Stats{Fetches: c.fetches.Load(), Hits: c.hits.Load()} }

// Get returns the module for ref, from disk when the policy allows, else through the source.
func (c *Cache) Get(ctx context.Context, refStr string, req Request) (Entry, error) {
	ref, err := oci.ParseReference(refStr)
	if err != nil {
		return Entry{}, err
	}
	var pin digest.Digest
	if req.SHA256 != "" {
		if pin, err = oci.ParsePin(req.SHA256); err != nil {
			return Entry{}, fmt.Errorf("%s: %w", ref, err)
		}
	}
	check := func(e Entry) (Entry, error) {
		if pin != "" && e.ModuleDigest != pin {
			return Entry{}, fmt.Errorf("%s (%s): %w: module is %s, pinned %s", ref, e.ManifestDigest, oci.ErrDigestMismatch, e.ModuleDigest, pin)
		}
		return e, nil
	}

	// Without the network: a digest is immutable; a tag is trusted for TTL under IfNotPresent.
	if ref.Digest != "" && (ref.Tag == "" || req.Policy == IfNotPresent) {
		if e, ok := c.lookupManifest(ref.Digest); ok {
			c.hits.Add(1)
			e.Hit = true
			return check(e)
		}
	} else if req.Policy == IfNotPresent {
		if t, ok := c.readTag(ref); ok && c.now().Sub(t.Resolved) < c.opts.TTL {
			if e, ok := c.lookupManifest(t.Manifest); ok {
				c.hits.Add(1)
				e.Hit = true
				return check(e)
			}
		}
	}

	// Resolve (one HEAD for a tag), then fetch only an unknown digest, once per digest in this process.
	var manifest digest.Digest
	if ref.Digest != "" && ref.Tag == "" {
		manifest = ref.Digest
	} else {
		_, desc, err := c.src.Resolve(ctx, ref.String())
		if err != nil {
			return Entry{}, err
		}
		manifest = desc.Digest
	}
	e, ok := c.lookupManifest(manifest)
	if !ok {
		v, err, _ := c.group.Do(manifest.String(), func() (any, error) {
			if e, ok := c.lookupManifest(manifest); ok { // another caller finished while we resolved
				return e, nil
			}
			return c.fetch(ctx, ref, manifest, req.Progress)
		})
		if err != nil {
			return Entry{}, err
		}
		e = v.(Entry)
	}
	if ref.Tag != "" {
		if err := c.writeTag(ref, manifest, e.ModuleDigest); err != nil {
			c.log.Warn("module cache: tag index not updated", "ref", ref.String(), "err", err)
		}
	}
	return check(e)
}

// fetch pulls name@manifest and stores it.
func (c *Cache) fetch(ctx context.Context, ref oci.Reference, manifest digest.Digest, progress func(done, total int64)) (Entry, error) {
	c.fetches.Add(1)
	byDigest := oci.Reference{Registry: ref.Registry, Repository: ref.Repository, Digest: manifest}
	m, err := c.src.Pull(ctx, byDigest.String(), oci.PullOptions{Progress: progress, Local: c.Blob})
	if err != nil {
		return Entry{}, err
	}
	if err := c.putBlob(m.ModuleDigest, m.Bytes); err != nil {
		return Entry{}, fmt.Errorf("%s: %w", byDigest, err)
	}
	if err := atomicfile.Write(c.manifestPath(manifest), []byte(m.ModuleDigest.String()), 0o644); err != nil {
		return Entry{}, fmt.Errorf("module cache: store %s: %w", manifest, err)
	}
	c.log.Debug("module cache: fetched", "ref", byDigest.String(), "module", m.ModuleDigest, "bytes", len(m.Bytes))
	if err := c.Evict(); err != nil {
		c.log.Warn("module cache: eviction failed", "err", err)
	}
	return Entry{Path: c.blobPath(m.ModuleDigest), ModuleDigest: m.ModuleDigest, ManifestDigest: manifest, Size: int64(len(m.Bytes)), Fetched: true}, nil
}

// Blob returns the module bytes stored under digest d, for a pull that finds a module it already has (a re-push
// under a new manifest digest) and for modules fetched by sha256 from elsewhere (the proxy's http(s) modules,
// see PutBlob). The bytes are verified: a file that no longer hashes to d is removed and reported missing, so the
// caller fetches it again. A hit marks the blob used, for eviction.
func (c *Cache) Blob(d digest.Digest) ([]byte, bool) {
	if d.Validate() != nil {
		return nil, false
	}
	path := c.blobPath(d)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, false
	}
	if got := d.Algorithm().FromBytes(b); got != d {
		c.log.Warn("module cache: removing a blob that does not hash to its name", "path", path, "got", got)
		_ = os.Remove(path)
		return nil, false
	}
	now := c.now()
	_ = os.Chtimes(path, now, now)
	return b, true
}

// PutBlob keeps module bytes fetched by their sha256 from another source than a registry (the operator's
// module server, any pinned http(s) URL) beside the pulled ones, so they count against MaxBytes and are evicted
// the same way. Bytes that do not hash to d are refused with oci.ErrDigestMismatch.
func (c *Cache) PutBlob(d digest.Digest, b []byte) error {
	if err := c.putBlob(d, b); err != nil {
		return err
	}
	if err := c.Evict(); err != nil {
		c.log.Warn("module cache: eviction failed", "err", err)
	}
	return nil
}

// putBlob verifies b against d and writes it atomically (temp file and rename) unless it is there already,
// marking it used.
func (c *Cache) putBlob(d digest.Digest, b []byte) error {
	if err := d.Validate(); err != nil {
		return fmt.Errorf("module cache: digest %q: %w", d, err)
	}
	if got := d.Algorithm().FromBytes(b); got != d {
		return fmt.Errorf("module cache: %w: module hashes to %s, expected %s", oci.ErrDigestMismatch, got, d)
	}
	path := c.blobPath(d)
	if _, err := os.Stat(path); err != nil {
		if err := atomicfile.Write(path, b, 0o644); err != nil {
			return fmt.Errorf("module cache: store %s: %w", d, err)
		}
	}
	now := c.now()
	_ = os.Chtimes(path, now, now) // the access clock for eviction is c.now, not the write time
	return nil
}

// lookupManifest finds the module a manifest digest maps to, marking it used.
func (c *Cache) lookupManifest(manifest digest.Digest) (Entry, bool) {
	if manifest.Validate() != nil {
		return Entry{}, false
	}
	data, err := os.ReadFile(c.manifestPath(manifest))
	if err != nil {
		return Entry{}, false
	}
	module, err := digest.Parse(string(data))
	if err != nil {
		return Entry{}, false
	}
	path := c.blobPath(module)
	now := c.now()
	if err := os.Chtimes(path, now, now); err != nil { // also proves the blob is still there
		return Entry{}, false
	}
	fi, err := os.Stat(path)
	if err != nil {
		return Entry{}, false
	}
	return Entry{Path: path, ModuleDigest: module, ManifestDigest: manifest, Size: fi.Size()}, true
}

type tagEntry struct {
	Ref      string        `json:"ref"`
	Manifest digest.Digest `json:"manifest"`
	Module   digest.Digest `json:"module"`
	Resolved time.Time     `json:"resolved"`
}

func (c *Cache) tagPath(ref oci.Reference) string {
	sum := sha256.Sum256([]byte(ref.Name() + ":" + ref.Tag))
	return filepath.Join(c.opts.Dir, "tags", hex.EncodeToString(sum[:])+".json")
}

func (c *Cache) readTag(ref oci.Reference) (tagEntry, bool) {
	data, err := os.ReadFile(c.tagPath(ref))
	if err != nil {
		return tagEntry{}, false
	}
	var t tagEntry
	if json.Unmarshal(data, &t) != nil || t.Manifest.Validate() != nil {
		return tagEntry{}, false
	}
	return t, true
}

func (c *Cache) writeTag(ref oci.Reference, manifest, module digest.Digest) error {
	data, err := json.Marshal(tagEntry{Ref: ref.Name() + ":" + ref.Tag, Manifest: manifest, Module: module, Resolved: c.now().UTC()})
	if err != nil {
		return err
	}
	return atomicfile.Write(c.tagPath(ref), data, 0o644)
}

func (c *Cache) blobPath(d digest.Digest) string {
	return filepath.Join(c.opts.Dir, "blobs", d.Algorithm().String(), d.Encoded())
}

func (c *Cache) manifestPath(d digest.Digest) string {
	return filepath.Join(c.opts.Dir, "manifests", d.Algorithm().String(), d.Encoded())
}

// Evict removes least recently used blobs until the total is within MaxBytes, sparing those used within Grace.
// The manifest and tag entries pointing at an evicted blob become misses on their own.
func (c *Cache) Evict() error {
	type blobFile struct {
		path string
		size int64
		used time.Time
	}
	var blobs []blobFile
	var total int64
	root := filepath.Join(c.opts.Dir, "blobs")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() || strings.HasPrefix(d.Name(), ".tmp-") {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil // removed by another process meanwhile
		}
		blobs = append(blobs, blobFile{path, fi.Size(), fi.ModTime()})
		total += fi.Size()
		return nil
	})
	if err != nil {
		return err
	}
	if total <= c.opts.MaxBytes {
		return nil
	}
	sort.Slice(blobs, func(i, j int) bool { return blobs[i].used.Before(blobs[j].used) })
	cutoff := c.now().Add(-c.opts.Grace)
	for _, b := range blobs {
		if total <= c.opts.MaxBytes || b.used.After(cutoff) {
			break
		}
		if err := os.Remove(b.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		total -= b.size
		c.log.Debug("module cache: evicted", "path", b.path, "bytes", b.size)
	}
	return nil
}
