// Package docs holds wasmesh's guides (the Markdown files in this directory) and the test that runs their
// commands, so that a guide cannot drift from the code it describes.
//
// Every fenced shell block (```sh) in a tested guide carries a marker on the line before it, an HTML comment that
// Markdown renderers hide:
//
//	<!-- doc-test: run -->        run by `go test ./docs` (no cluster; loopback only)
//	<!-- doc-test: e2e -->        run only by `go test -tags e2e ./docs` (slow: builds, the demo)
//	<!-- doc-test: cluster -->    needs a Kubernetes cluster: each line is checked, not run (wasmesh commands and
//	                              flags against the cobra tree, `kubectl apply -k` rendered with `kubectl kustomize`,
//	                              `kubectl apply -f` files parsed)
//	<!-- doc-test: file NAME -->  the next fenced block (any language) is written to NAME before later blocks run
//
// A guide's blocks run in order in one bash session (set -euo pipefail) that starts at the repository root with the
// wasmesh binary under test first on PATH and TMPDIR pointing into the test's temporary directory. A command line
// ending in `# => TEXT` (or followed by a
// line `# => TEXT`) must print exactly TEXT. Background processes a guide starts are killed when its session
// ends. A shell block without a marker fails the test.
package docs
