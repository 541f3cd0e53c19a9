module github.com/wasmesh/wasmesh/filters

go 1.26
