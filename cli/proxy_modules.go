package cli

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/wasmesh/wasmesh/host/proxy/module"
	"github.com/wasmesh/wasmesh/oci"
	"github.com/wasmesh/wasmesh/oci/cache"
)

// moduleOptions say where the proxy's oci:// modules come from. Every pull goes through the module cache
// (oci/cache): a digest reference, or a tag resolved within the cache's TTL, is read from disk, and a digest is
// downloaded once however many reloads (or proxies sharing the directory) ask for it. Credentials come from the
// Docker config file and its helpers, which `wasmesh login` writes. http(s) modules pinned by sha256 (what the
// operator sends over xDS) are kept in the same cache, by digest, and read from it first.
type moduleOptions struct {
	CacheDir   string            // "" is oci/cache's default directory
	PullPolicy string            // IfNotPresent (default) or Always
	TagTTL     time.Duration     // how long IfNotPresent trusts a tag's digest; 0 is the cache's default (1h)
	PlainHTTP  []string          // registry hosts spoken to over plain HTTP
	Insecure   []string          // registry hosts whose TLS certificate is not verified
	CAFiles    map[string]string // registry host -> PEM bundle to trust
}

func addModuleFlags(cmd *cobra.Command, o *moduleOptions) {
	f := cmd.Flags()
	f.StringVar(&o.CacheDir, "module-cache-dir", "", "where oci:// modules, and http(s) modules pinned by sha256 (the operator's), are kept, shared by reloads, restarts and processes (default ${XDG_CACHE_HOME:-~/.cache}/wasmesh/modules)")
	f.StringVar(&o.PullPolicy, "module-pull-policy", "IfNotPresent", "oci:// tags: IfNotPresent trusts a tag's cached digest for --module-tag-ttl; Always asks the registry on every load (downloading only a new digest)")
	f.DurationVar(&o.TagTTL, "module-tag-ttl", 0, "how long IfNotPresent trusts a cached tag (0: 1h)")
	f.StringSliceVar(&o.PlainHTTP, "registry-plain-http", nil, "registry hosts (host:port) to talk plain HTTP to, e.g. a local registry")
	f.StringSliceVar(&o.Insecure, "registry-insecure", nil, "registry hosts whose TLS certificate is not verified")
	f.StringToStringVar(&o.CAFiles, "registry-ca-file", nil, "host=file: PEM CAs to trust for a registry, in addition to the system ones")
}

// sources returns the module sources for filters (file, http(s), and oci through the cache) and the cache.
func (o moduleOptions) sources(log *slog.Logger) (module.Sources, *cache.Cache, error) {
	policy, err := cache.ParsePolicy(o.PullPolicy)
	if err != nil {
		return nil, nil, fmt.Errorf("--module-pull-policy: %w", err)
	}
	regs := map[string]oci.RegistryOptions{}
	for _, h := range o.PlainHTTP {
		regs[h] = oci.RegistryOptions{PlainHTTP: true}
	}
	for _, h := range o.Insecure {
		if regs[h].PlainHTTP {
			return nil, nil, fmt.Errorf("--registry-insecure %s: the host is also in --registry-plain-http; choose one", h)
		}
		regs[h] = oci.RegistryOptions{Insecure: true}
	}
	for h, ca := range o.CAFiles {
		ro := regs[h]
		if ro.PlainHTTP {
			return nil, nil, fmt.Errorf("--registry-ca-file %s: the host is also in --registry-plain-http; choose one", h)
		}
		ro.CAFile = ca
		regs[h] = ro
	}
	client, err := oci.NewClient(oci.Options{Registries: regs, UserAgent: "wasmesh/" + Version,
		Logger: log.With("component", "oci")})
	if err != nil {
		return nil, nil, fmt.Errorf("registry options: %w", err)
	}
	c, err := cache.Open(cache.Options{Dir: o.CacheDir, TTL: o.TagTTL, Logger: log.With("component", "module-cache")}, client)
	if err != nil {
		return nil, nil, fmt.Errorf("--module-cache-dir: %w", err)
	}
	srcs := module.Default(&http.Client{Timeout: time.Minute})
	// Pinned http(s) modules (the operator's module server) are kept in the same cache by sha256, so a proxy
	// restarted while their origin is down loads them from disk.
	for _, scheme := range []string{"http", "https"} {
		srcs[scheme] = module.Cached{Source: srcs[scheme], Store: c, Logger: log.With("component", "module-cache")}
	}
	srcs["oci"] = cache.URLSource{Cache: c, Policy: policy}
	return srcs, c, nil
}
