// Package hessian is the small part of Hessian 2.0 that a Dubbo proxy needs on its hot path: read strings and
// ints, skip any value by the grammar without building it, walk a map, and append strings, ints, null and
// untyped maps. It never builds Go values for arguments, so a request's arguments cost no allocation; full
// object decoding is left to github.com/apache/dubbo-go-hessian2, which the tests use as the oracle.
//
// Every length read from the input is checked against the bytes that remain before it is used, and nesting
// is bounded, so hostile input yields an error, never a panic or a large allocation.
//
//	var sc hessian.Scanner
//	end, err := sc.Skip(body, off) // off: start of a value; end: just past it
package hessian
