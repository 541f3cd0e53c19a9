// Package xdsapi is the wire contract between the operator's ADS server (operator/xds) and wasmesh proxies
// (host/proxy/xds): the node metadata keys a proxy identifies itself with, the names of the resources, the Wasm
// filter resource (an Envoy TypedExtensionConfig carrying envoy.extensions.filters.http.wasm.v3.Wasm, so an Envoy
// could read the same stream) and the wasmesh chain resource that orders the filters and scopes them to traffic
// and routes. Both sides import it and nothing else of each other; it imports no Kubernetes code, so host/ may
// use it.
//
//	b, _ := xdsapi.Build(xdsapi.Filter{Deployment: "shop/auth", ModuleDigest: d, URL: url})
//	chain, _ := xdsapi.BuildChain([]*xdsapi.Built{b})   // server side: one chain per proxy
//	c, _ := xdsapi.DecodeChain(chain)                   // proxy side: untrusted input
//	pc, _ := xdsapi.DecodeFilter(b.Resource)             // the Wasm plugin config
package xdsapi
