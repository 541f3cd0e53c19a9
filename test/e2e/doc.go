// Package e2e holds the multi-process end-to-end tests (build tag e2e): the real wasmesh binary as registry,
// operator and proxies, Dubbo providers and a third-party Node Dubbo client, all on loopback, every process
// stopped at the end. They run against what `make build filters` writes to bin/:
//
//	make test-e2e
//	go test -tags e2e -count=1 -run TestOperatorRollout ./test/e2e/
package e2e
