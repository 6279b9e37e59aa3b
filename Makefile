# Coco — see README.md. Every target works on a fresh Debian machine with Go
# 1.26 and access to the Go module proxy and the npm registry.

GO      ?= go
BIN     := bin/coco
VERSION ?= 0.1.0-dev
LDFLAGS := -X main.version=$(VERSION)

.PHONY: all build dev test test-go test-clients bench lint clean

all: build

build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/coco

# One node with everything embedded; data under ./.coco/dev. ARGS=--reset starts over.
dev: build
	./$(BIN) dev $(ARGS)

# Every test: Go unit and end-to-end tests, then the npm client suite
# (ethers, viem, web3.js, solc + OpenZeppelin) against a real `coco dev`.
test: test-go test-clients

test-go:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...
	# Our changes to the SmartBFT copy (docs/decisions/0005) are tested in it.
	cd third_party/smartbft && $(GO) test -race -count=1 ./internal/bft/

test-clients: build
	bash tests/run-clients.sh $(BIN)

# Benchmarks: Go micro-benchmarks, then the load generator against a fresh node.
bench: build
	$(GO) test -run '^$$' -bench . ./core/... ./adapters/...
	bash testnet/bench-dev.sh $(BIN)

lint:
	@test -z "$$(gofmt -l . | grep -v node_modules)" || (gofmt -l . | grep -v node_modules; exit 1)
	$(GO) vet ./...

clean:
	rm -rf bin
