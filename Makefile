# quell — the two commands a newcomer needs are `make demo` and `make test`.
GO        ?= go
BIN       := bin/quell
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
DEMO_FLAGS ?=
IMAGE     ?= quell:$(VERSION)

.PHONY: help build k8s helm image demo test test-short vet generate fuzz bench clean FORCE

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: $(BIN) ## build bin/quell

$(BIN): FORCE
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/quell

k8s: $(BIN) ## build (once, cached) the local control-plane binaries
	$(BIN) dev binaries

helm: $(BIN) ## build (once, cached) the pinned helm that renders deploy/helm/quell
	$(BIN) dev helm

image: ## build the container image IMAGE (default quell:VERSION) with docker or podman
	@builder=$$(command -v docker || command -v podman); \
	if [ -z "$$builder" ]; then \
		echo "make image: neither docker nor podman is installed; install one, or build ./Dockerfile with another OCI builder (buildah, kaniko)" >&2; \
		exit 1; \
	fi; \
	if ! "$$builder" info >/dev/null 2>&1; then \
		echo "make image: $$builder is installed but cannot build here ($$builder info fails: no daemon or socket); see docs/deploy.md" >&2; \
		exit 1; \
	fi; \
	echo "$$builder build -t $(IMAGE) ."; \
	"$$builder" build --build-arg VERSION=$(VERSION) -t $(IMAGE) .

demo: k8s ## run quell's story on a real local control plane (DEMO_FLAGS=--exit to finish on its own)
	$(BIN) dev demo $(DEMO_FLAGS)

generate: ## regenerate the committed eBPF objects (needs clang, llvm, libbpf-dev)
	$(GO) generate ./internal/sensor/bpf

vet: ## go vet
	$(GO) vet ./...

test: vet k8s helm ## vet and run every test with the race detector
	$(GO) test -race -timeout 30m ./...

test-short: ## unit tests only, no control plane
	$(GO) test -short ./...

bench: ## run the benchmarks
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean: ## remove build output and demo state
	rm -rf bin .quell
