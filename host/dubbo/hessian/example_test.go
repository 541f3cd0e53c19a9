package hessian_test

import (
	"fmt"

	"github.com/wasmesh/wasmesh/host/dubbo/hessian"
)

// Skipping a value finds where the next one starts without decoding it.
func ExampleScanner_Skip() {
	b := hessian.AppendInt(nil, 300)                     // a value we do not care about
	b = append(b, 'H')                                   // a map ...
	b = hessian.AppendString(b, "k")                     // ... with one entry
	b = hessian.AppendString(b, "v")                     //
	b = hessian.AppendEnd(b)                             // ... closed
	b = hessian.AppendString(b, "after the int and map") // the value we want

	var sc hessian.Scanner
	off, _ := sc.Skip(b, 0)  // past the int
	off, _ = sc.Skip(b, off) // past the map
	s, _, _ := hessian.String(b, off)
	fmt.Println(string(s))
	// Output: after the int and map
}
