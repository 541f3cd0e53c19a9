package cache

import (
	"context"
	"fmt"
	"strings"
)

// URLSource serves oci:// module URLs from the cache; it satisfies host/proxy/module.Source (Fetch by URL)
// without this package importing the proxy:
//
//	srcs := module.Default(http.DefaultClient)
//	srcs["oci"] = cache.URLSource{Cache: c, Policy: cache.IfNotPresent}
type URLSource struct {
	Cache  *Cache
	Policy Policy
}

// Fetch returns the module bytes for oci://registry/repository[:tag][@sha256:digest].
func (s URLSource) Fetch(ctx context.Context, url string) ([]byte, error) {
	ref, ok := strings.CutPrefix(url, "oci://")
	if !ok {
		return nil, fmt.Errorf("module cache: %q is not an oci:// URL", url)
	}
	e, err := s.Cache.Get(ctx, ref, Request{Policy: s.Policy})
	if err != nil {
		return nil, err
	}
	return e.ReadFile()
}
