// Package abi holds the proxy-wasm application binary interface: the ABI versions, the names of the callbacks a
// module exports, and (added by the host) the status codes, enums and host-function table. It knows nothing of
// wazero instances or of the data plane; the engine and the proxy import it, never the other way round.
//
//	v, ok := abi.VersionFromExport("proxy_abi_version_0_2_1") // abi.V0_2_1, true
package abi
