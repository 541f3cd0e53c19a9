//go:build extra

package main

import "github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"

func addExtraHeaders() { _ = proxywasm.AddHttpRequestHeader("x-extra", "on") }
