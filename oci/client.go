package oci

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/retry"
)

// Default limits; Options override them.
const (
	DefaultMaxManifestBytes int64 = 4 << 20
	DefaultMaxModuleBytes   int64 = 256 << 20
	DefaultTimeout                = 30 * time.Second
)

// RegistryOptions are the transport settings for one registry host.
type RegistryOptions struct {
	// PlainHTTP talks HTTP instead of HTTPS (local registries).
	PlainHTTP bool
	// Insecure skips TLS certificate verification.
	Insecure bool
	// CAFile is a PEM bundle trusted in addition to the system roots.
	CAFile string
}

// Options configure a Client. They are copied by NewClient, so changing them afterwards has no effect.
type Options struct {
	// Default applies to every registry without an entry in Registries.
	Default RegistryOptions
	// Registries holds per-host settings keyed by "host[:port]" as written in references.
	Registries map[string]RegistryOptions
	// Credential supplies credentials per registry; nil reads the Docker config file and its credential helpers.
	Credential auth.CredentialFunc
	// MaxManifestBytes bounds manifests and indexes (default 4 MiB).
	MaxManifestBytes int64
	// MaxModuleBytes bounds layers and extracted modules (default 256 MiB).
	MaxModuleBytes int64
	// Timeout bounds the wait for each response's headers (default 30s); retries back off on top of it.
	Timeout time.Duration
	// UserAgent is sent with every request.
	UserAgent string
	// Logger receives debug logs; nil discards them.
	Logger *slog.Logger
}

// Client pushes and pulls Wasm modules. It is safe for concurrent use.
type Client struct {
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	clients map[string]*auth.Client // one per registry host, so TLS settings and token caches stay apart
}

// NewClient validates opts and returns a Client.
func NewClient(opts Options) (*Client, error) {
	opts.Registries = maps.Clone(opts.Registries)
	if opts.MaxManifestBytes <= 0 {
		opts.MaxManifestBytes = DefaultMaxManifestBytes
	}
	if opts.MaxModuleBytes <= 0 {
		opts.MaxModuleBytes = DefaultMaxModuleBytes
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "wasmesh"
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Credential == nil {
		store, err := DockerCredentialStore()
		if err != nil {
			return nil, err
		}
		opts.Credential = CredentialFunc(store)
	}
	for host, ro := range opts.Registries {
		if _, err := tlsConfig(ro); err != nil {
			return nil, fmt.Errorf("registry %s: %w", host, err)
		}
	}
	if _, err := tlsConfig(opts.Default); err != nil {
		return nil, err
	}
	return &Client{opts: opts, log: log, clients: map[string]*auth.Client{}}, nil
}

func (c *Client) registryOptions(host string) RegistryOptions {
	if ro, ok := c.opts.Registries[host]; ok {
		return ro
	}
	return c.opts.Default
}

// httpClient returns the auth client for one registry host, building it once.
func (c *Client) httpClient(host string) (*auth.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ac, ok := c.clients[host]; ok {
		return ac, nil
	}
	ro := c.registryOptions(host)
	tc, err := tlsConfig(ro)
	if err != nil {
		return nil, fmt.Errorf("registry %s: %w", host, err)
	}
	base := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: c.opts.Timeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tc,
		TLSHandshakeTimeout:   c.opts.Timeout,
		ResponseHeaderTimeout: c.opts.Timeout,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   4,
		ForceAttemptHTTP2:     true,
	}
	ac := &auth.Client{
		// retry.NewTransport retries 5xx, 429 and network errors with exponential backoff.
		Client:     &http.Client{Transport: retry.NewTransport(base)},
		Cache:      auth.NewCache(),
		Credential: c.opts.Credential,
		Header:     http.Header{"User-Agent": {c.opts.UserAgent}},
	}
	c.clients[host] = ac
	return ac, nil
}

// repository returns an oras repository for a parsed reference with this client's settings.
func (c *Client) repository(ref Reference) (*remote.Repository, error) {
	ac, err := c.httpClient(ref.Registry)
	if err != nil {
		return nil, err
	}
	repo, err := remote.NewRepository(ref.Registry + "/" + ref.Repository)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %v", ref, ErrInvalidReference, err)
	}
	repo.Client = ac
	repo.PlainHTTP = c.registryOptions(ref.Registry).PlainHTTP
	repo.MaxMetadataBytes = c.opts.MaxManifestBytes
	return repo, nil
}

// registry returns an oras registry handle (for login) with this client's settings.
func (c *Client) registry(host string) (*remote.Registry, error) {
	ac, err := c.httpClient(host)
	if err != nil {
		return nil, err
	}
	reg, err := remote.NewRegistry(host)
	if err != nil {
		return nil, fmt.Errorf("registry %q: %w: %v", host, ErrInvalidReference, err)
	}
	reg.Client = ac
	reg.PlainHTTP = c.registryOptions(host).PlainHTTP
	return reg, nil
}

func tlsConfig(ro RegistryOptions) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: ro.Insecure} //nolint:gosec // the user asked for --insecure
	if ro.CAFile == "" {
		return tc, nil
	}
	pem, err := os.ReadFile(ro.CAFile)
	if err != nil {
		return nil, fmt.Errorf("read CA bundle: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA bundle %s: no PEM certificates found", ro.CAFile)
	}
	tc.RootCAs = pool
	return tc, nil
}
