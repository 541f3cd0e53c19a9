//go:build tinygo

package main

func runtimeName() string { return "tinygo" }
