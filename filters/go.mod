module github.com/wasmesh/wasmesh/filters

go 1.26

require (
	github.com/go-jose/go-jose/v4 v4.1.3
	github.com/tetratelabs/proxy-wasm-go-sdk v0.24.0
	golang.org/x/crypto v0.45.0
)

require github.com/tetratelabs/wazero v1.7.2 // indirect
