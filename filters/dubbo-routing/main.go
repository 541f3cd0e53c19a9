// Command dubbo-routing is wasmesh's Dubbo router: it matches Dubbo invocations by interface, method, version,
// group and attachments, picks a cluster (fixed, weighted, sticky by attachment, or a canary override), edits
// attachments, and hands the choice to the data plane in the upstream_cluster property. See README.md.
//
//	{"routes": [{"name": "greeter", "match": {"service": {"exact": "org.example.GreetingService"}},
//	             "weighted_clusters": [{"cluster": "dubbo-greeter-v1", "weight": 90},
//	                                   {"cluster": "dubbo-greeter-v2", "weight": 10}]}]}
package main

import "github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"

func main() { proxywasm.SetVMContext(&vmContext{}) }
