// Package xds is the operator's delivery to proxies: an ADS (and ECDS) server on go-control-plane's snapshot
// cache, one snapshot per proxy holding its Wasm filters as TypedExtensionConfig resources plus a wasmesh chain
// resource (order, matches, route overrides), and the ACK/NACK bookkeeping the reconciler turns into status.
// The wire format (node metadata keys, resource names, Build/DecodeChain/DecodeFilter) lives in xdsapi, shared
// with the proxy's client in host/proxy/xds.
//
//	srv := xds.New(xds.Options{Addr: ":18000", OnChange: enqueue})
//	go srv.Start(ctx)
//	f, _ := xdsapi.Build(xdsapi.Filter{Deployment: "shop/auth", ModuleDigest: d, URL: modules.URL(base, d)})
//	srv.SetPlan("shop/auth", xds.Plan{"web-1": f}) // web-1 gets it; every other node does not
//	p := srv.Progress("shop/auth")["web-1"]         // p.Acked == f.Hash once web-1 runs it
package xds
