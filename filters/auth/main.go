// Command auth is wasmesh's authentication and authorization filter: JWT (inline or remote JWKS), API keys and
// Basic credentials for HTTP and Dubbo streams, with per-route rules on who may pass. See README.md.
//
// Build it with `wasmesh build filters/auth`; configure it with a JSON document such as
// samples/filters/auth.json:
//
//	{"consumers": [{"name": "alice", "keys": ["alice-demo-key-1"]}],
//	 "rules": [{"name": "admin", "match": {"path_prefix": "/admin"}, "allow": {"consumers": ["bob"]}}]}
package main

import "github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"

func main() { proxywasm.SetVMContext(&vmContext{}) }
