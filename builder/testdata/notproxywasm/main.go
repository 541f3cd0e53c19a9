// A Go program that is not a proxy-wasm filter: it builds, but the builder must refuse the module.
package main

func main() {}
