// Command ratelimit is wasmesh's rate-limit filter: token buckets per header, query parameter, consumer, client IP,
// path or Dubbo service/method, kept in the proxy's shared data so the limit holds across all VMs of the plugin.
// See README.md.
//
//	{"rules": [{"name": "per-consumer", "key": {"source": "consumer"},
//	            "limit_keys": [{"value": "*", "requests": 10, "per": "minute", "burst": 5}]}]}
package main

import "github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"

func main() { proxywasm.SetVMContext(&vmContext{}) }
