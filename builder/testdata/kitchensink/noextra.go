//go:build !extra

package main

func addExtraHeaders() {}
