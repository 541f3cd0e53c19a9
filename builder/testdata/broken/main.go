// A filter with a type error: the builder must report the compiler's message, file and line.
package main

import "github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"

func main() {
	var n int = "not a number"
	proxywasm.LogInfof("%d", n)
}
