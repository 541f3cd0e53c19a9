# wasmesh: build, test, lint, demo and benchmarks. Every target installs what it needs through scripts/.
SHELL := bash
GO ?= go
BIN := bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/wasmesh/wasmesh/cli.Version=$(VERSION)
FILTERS := $(patsubst filters/%/main.go,%,$(wildcard filters/*/main.go))
# Pinned tools: run from the module proxy by exact version, never added to go.mod.
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.7.0
TEST_TIMEOUT ?= 30m

.PHONY: all build filters deps test test-unit test-filters test-e2e lint generate bench demo clean

all: build filters

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/wasmesh ./cli/wasmesh
	$(GO) build -o $(BIN)/dubbo-provider ./test/dubbo-provider # the demo's and e2e tests' Dubbo upstream

# Every filters/NAME/ with a main.go becomes bin/filters/NAME.wasm, built by wasmesh itself.
filters: build
	@mkdir -p $(BIN)/filters
	@for f in $(FILTERS); do \
		$(BIN)/wasmesh build filters/$$f -o $(BIN)/filters/$$f.wasm || exit 1; \
	done

# Installs what the tests use beyond Go modules (registry, oras CLI, AssemblyScript, ...). Idempotent.
deps:
	@for s in scripts/install-*.sh; do [ -f "$$s" ] || continue; echo "==> $$s"; bash "$$s" || exit 1; done

test: deps test-unit test-filters

test-unit:
	$(GO) test -timeout $(TEST_TIMEOUT) ./...
	cd bench/report && $(GO) test -timeout $(TEST_TIMEOUT) ./... # a module of its own, which ./... does not reach

# The filters are their own module: native tests with the SDK's proxytest emulator.
test-filters:
	cd filters && $(GO) test -timeout $(TEST_TIMEOUT) ./...

# Packages with end-to-end tests (files tagged e2e): real processes on loopback, run against bin/.
E2E_PKGS = $(sort $(dir $(shell grep -rl --include='*_test.go' '^//go:build e2e' --exclude-dir=filters --exclude-dir=testdata .)))

test-e2e: deps build filters
	$(GO) test -tags e2e -timeout $(TEST_TIMEOUT) -count=1 $(E2E_PKGS)

# bench/report is a module of its own, linted like filters/ (bench/loadgen is in the root module: ./... covers it).
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	scripts/gen-crds.sh --check
	$(GO) vet ./...
	cd filters && $(GO) vet ./...
	cd bench/report && $(GO) vet ./...
	@if $(GO) run $(STATICCHECK) -version >/dev/null 2>&1; then \
		echo "staticcheck ./..."; $(GO) run $(STATICCHECK) ./... && (cd filters && $(GO) run $(STATICCHECK) ./...) && \
		(cd bench/report && $(GO) run $(STATICCHECK) ./...); \
	else echo "staticcheck unavailable from the module proxy; skipped"; fi

# What is derived from the operator's Go types: deepcopy, the CRD and the ClusterRole (controller-gen).
generate:
	scripts/gen-crds.sh

# The benchmark report (bench/report, a module of its own): host, data plane (bench/run-proxy.sh), filters, Dubbo
# (bench/run-dubbo.sh, on bin/dubbo-provider), hot reload and operator, written to bench/results/<date>.md, .json
# and .svg. BENCH_QUICK=1: ~3 minutes, else ~10-15.
# BENCH_AT=HEAD measures a clean export of that commit instead of the work tree.
bench: build
	cd bench/report && $(GO) run . -root ../.. -wasmesh ../../$(BIN)/wasmesh -quick=$(if $(filter 1,$(BENCH_QUICK)),true,false) -at '$(BENCH_AT)'

demo: build filters
	$(BIN)/wasmesh demo

clean:
	rm -rf $(BIN)
