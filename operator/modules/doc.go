// Package modules is the operator's module side: Puller resolves and pulls each module digest once into the
// shared content-addressed cache (oci/cache) with the credentials of the WasmDeployment asking for it, and Server
// serves the cached modules to proxies by digest over HTTP, so registry credentials stay with the operator and a
// registry outage does not stop proxies from (re)fetching modules the operator already has.
//
//	p, _ := modules.NewPuller(modules.PullerOptions{CacheDir: dir})
//	manifest, _ := p.Resolve(ctx, "oci://registry.local/filters/auth:v1", nil)
//	m, _ := p.Fetch(ctx, "oci://registry.local/filters/auth:v1", manifest, nil) // pulled once per digest
//	srv := modules.NewServer(modules.ServerOptions{Addr: ":8082"}, p.Catalog())
//	go srv.Start(ctx)                                   // GET /modules/sha256:<hex> for m.ModuleDigest
package modules
