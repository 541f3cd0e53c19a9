package modules

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/singleflight"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/wasmesh/wasmesh/oci"
	"github.com/wasmesh/wasmesh/oci/cache"
)

// ErrUnsupportedURL: the URL scheme is not one the operator pulls.
var ErrUnsupportedURL = errors.New("unsupported module URL")

// PullerOptions configure a Puller.
type PullerOptions struct {
	// CacheDir is the module cache directory (shared with nothing else is best); "" is cache.DefaultDir().
	CacheDir string
	// MaxBytes bounds the cache; 0 means 1 GiB.
	MaxBytes int64
	// OCI is the registry configuration (plain HTTP, CAs, limits). Its Credential is ignored: credentials come
	// from each call, and DefaultCredential when a call has none.
	OCI oci.Options
	// DefaultCredential is used for WasmDeployments without imagePullSecret; nil means anonymous. The CLI's
	// directory mode passes the user's docker credentials; in a cluster there are none to pass.
	DefaultCredential auth.CredentialFunc
}

// Module is a pulled, verified module.
type Module struct {
	// ManifestDigest is what the reference resolved to (status.resolvedDigest).
	ManifestDigest digest.Digest
	// ModuleDigest is the sha256 of the .wasm bytes: the name the module server and the proxies use.
	ModuleDigest digest.Digest
	Path         string
	Size         int64
	// Fetched is true when this call downloaded the module (false: the cache had it).
	Fetched bool
}

// Puller resolves references and pulls modules into one cache shared by every WasmDeployment, so a digest is
// downloaded once whatever the number of deployments and proxies that want it. Safe for concurrent use.
type Puller struct {
	opts    PullerOptions
	cache   *cache.Cache
	catalog *Catalog

	mu       sync.Mutex
	clients  map[string]*oci.Client // by sha256 of the docker config, "" for the default credential
	verified map[digest.Digest]bool
	http     singleflight.Group // one download per URL at a time
	dir      string             // the cache directory
}

// NewPuller opens the cache.
func NewPuller(opts PullerOptions) (*Puller, error) {
	p := &Puller{opts: opts, catalog: NewCatalog(), clients: map[string]*oci.Client{}, verified: map[digest.Digest]bool{}}
	if opts.CacheDir == "" {
		dir, err := cache.DefaultDir()
		if err != nil {
			return nil, err
		}
		opts.CacheDir = dir
	}
	p.dir = opts.CacheDir
	c, err := cache.Open(cache.Options{Dir: opts.CacheDir, MaxBytes: opts.MaxBytes}, credentialedSource{p})
	if err != nil {
		return nil, err
	}
	p.cache = c
	return p, nil
}

// Catalog is the set of modules this puller verified, for the module server.
func (p *Puller) Catalog() *Catalog { return p.catalog }

// Stats are the cache's counters: Fetches is the number of registry downloads since start.
func (p *Puller) Stats() cache.Stats { return p.cache.Stats() }

// Reference turns a spec.url into an OCI reference (without the oci:// scheme).
func Reference(url string) (oci.Reference, error) {
	rest, ok := strings.CutPrefix(url, "oci://")
	if !ok {
		return oci.Reference{}, fmt.Errorf("%s: %w: use oci://registry/repository[:tag|@digest] or http(s)://host/path", url, ErrUnsupportedURL)
	}
	return oci.ParseReference(rest)
}

// Resolve returns the manifest digest url points to, with one HEAD to the registry, even for a pinned digest:
// the module cache is shared, so this request, made with the deployment's own credentials (dockerConfig, the
// imagePullSecret's .dockerconfigjson, nil for none), is what proves the deployment may read the module.
func (p *Puller) Resolve(ctx context.Context, url string, dockerConfig []byte) (digest.Digest, error) {
	if isHTTP(url) {
		return p.resolveHTTP(ctx, url)
	}
	ref, err := Reference(url)
	if err != nil {
		return "", err
	}
	c, err := p.client(dockerConfig)
	if err != nil {
		return "", err
	}
	_, desc, err := c.Resolve(ctx, ref.String())
	if err != nil {
		return "", err
	}
	return desc.Digest, nil
}

// Fetch returns the module of url's repository at manifest, from the cache or pulled once (concurrent calls for
// one digest share one download), and checks it: the bytes hash to the module digest and start with the Wasm
// magic. It then adds it to the catalog.
func (p *Puller) Fetch(ctx context.Context, url string, manifest digest.Digest, dockerConfig []byte) (Module, error) {
	if isHTTP(url) {
		return p.fetchHTTP(url, manifest)
	}
	ref, err := Reference(url)
	if err != nil {
		return Module{}, err
	}
	c, err := p.client(dockerConfig)
	if err != nil {
		return Module{}, err
	}
	byDigest := oci.Reference{Registry: ref.Registry, Repository: ref.Repository, Digest: manifest}
	e, err := p.cache.Get(withClient(ctx, c), byDigest.String(), cache.Request{Policy: cache.IfNotPresent})
	if err != nil {
		return Module{}, err
	}
	if err := p.verify(e); err != nil {
		return Module{}, err
	}
	p.catalog.Add(e.ModuleDigest, e.Path)
	return Module{ManifestDigest: manifest, ModuleDigest: e.ModuleDigest, Path: e.Path, Size: e.Size, Fetched: e.Fetched}, nil
}

// verify hashes a cached file once per process: the cache trusts its own files, the operator checks what it
// hands to a fleet.
func (p *Puller) verify(e cache.Entry) error {
	p.mu.Lock()
	ok := p.verified[e.ModuleDigest]
	p.mu.Unlock()
	if ok {
		return nil
	}
	f, err := os.Open(e.Path)
	if err != nil {
		return fmt.Errorf("module %s: %w", e.ModuleDigest, err)
	}
	defer f.Close()
	head := make([]byte, 4)
	if _, err := io.ReadFull(f, head); err != nil || !bytes.Equal(head, []byte("\x00asm")) {
		return fmt.Errorf("module %s (manifest %s): %w", e.ModuleDigest, e.ManifestDigest, oci.ErrNotWasm)
	}
	h := sha256.New()
	h.Write(head)
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("module %s: %w", e.ModuleDigest, err)
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != e.ModuleDigest.String() {
		return fmt.Errorf("module %s in the cache hashes to %s: %w (delete %s)", e.ModuleDigest, got, oci.ErrDigestMismatch, e.Path)
	}
	p.mu.Lock()
	p.verified[e.ModuleDigest] = true
	p.mu.Unlock()
	return nil
}

// client returns the OCI client for a set of credentials, built once.
func (p *Puller) client(dockerConfig []byte) (*oci.Client, error) {
	key := ""
	if dockerConfig != nil {
		sum := sha256.Sum256(dockerConfig)
		key = hex.EncodeToString(sum[:])
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.clients[key]; ok {
		return c, nil
	}
	opts := p.opts.OCI
	opts.Credential = p.opts.DefaultCredential
	if opts.Credential == nil {
		opts.Credential = func(context.Context, string) (auth.Credential, error) { return auth.EmptyCredential, nil }
	}
	if dockerConfig != nil {
		cred, err := oci.CredentialsFromDockerConfigJSON(dockerConfig)
		if err != nil {
			return nil, fmt.Errorf("imagePullSecret: %w", err)
		}
		opts.Credential = cred
	}
	c, err := oci.NewClient(opts)
	if err != nil {
		return nil, err
	}
	p.clients[key] = c
	return c, nil
}

type clientKey struct{}

func withClient(ctx context.Context, c *oci.Client) context.Context {
	return context.WithValue(ctx, clientKey{}, c)
}

// credentialedSource lets one cache (one single-flight group, one download per digest) pull with the
// credentials of whichever WasmDeployment asked first: the client travels in the context.
type credentialedSource struct{ p *Puller }

func (s credentialedSource) pick(ctx context.Context) (*oci.Client, error) {
	if c, ok := ctx.Value(clientKey{}).(*oci.Client); ok {
		return c, nil
	}
	return s.p.client(nil)
}

func (s credentialedSource) Resolve(ctx context.Context, ref string) (oci.Reference, ocispec.Descriptor, error) {
	c, err := s.pick(ctx)
	if err != nil {
		return oci.Reference{}, ocispec.Descriptor{}, err
	}
	return c.Resolve(ctx, ref)
}

func (s credentialedSource) Pull(ctx context.Context, ref string, opts oci.PullOptions) (*oci.Module, error) {
	c, err := s.pick(ctx)
	if err != nil {
		return nil, err
	}
	return c.Pull(ctx, ref, opts)
}
