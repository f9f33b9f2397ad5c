# GAMESA — the two commands a new user needs are `make run` and `make test`.

GO      ?= go
BIN     ?= bin/gamesa
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
# go-nvml's header marks old NVML calls deprecated; the warnings are noise.
export CGO_CFLAGS ?= -Wno-deprecated-declarations
# buf and staticcheck live in their own module so their dependencies never
# touch the agent's go.mod.
TOOL    := $(GO) tool -modfile=tools/go.mod
ARGS    ?=

.PHONY: all build run test test-race nocgo proto proto-check lint bench footprint fuzz clean cluster cluster-stop

all: build

## build: compile the gamesa binary into bin/
build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/gamesa

## run: build and start a single-node agent on this machine (observe mode, loopback, temp data dir)
run: build
	./$(BIN) agent --dev $(ARGS)

## cluster: start a secure local cluster (3 servers, 2 clients, TLS, gossip key, tokens) on 127.0.0.1
cluster: build
	examples/local-cluster/run.sh $(BIN)

## cluster-stop: stop the local cluster (each node leaves gracefully)
cluster-stop:
	examples/local-cluster/stop.sh

## test: vet, every test (fuzz seed corpora included), the race detector on the concurrent packages, a CGO_ENABLED=0 build
test:
	$(GO) vet ./...
	$(GO) test -count=1 ./...
	$(MAKE) --no-print-directory test-race nocgo

test-race:
	$(GO) test -count=1 -race ./node/... ./telemetry/history/... ./consensus/...
	$(GO) test -count=1 -race -short ./gossip/... # 50 members under -race outgrow a 2-core machine; they run without it above

## nocgo: the agent must build without cgo (the GPU collector compiles out)
nocgo:
	CGO_ENABLED=0 $(GO) build -o /dev/null ./cmd/gamesa
	CGO_ENABLED=0 $(GO) vet ./telemetry/gpu/

## proto: regenerate the Go code from proto/ (buf and the plugins are pinned Go modules: no downloads outside the module proxy)
proto:
	$(TOOL) buf lint
	$(TOOL) buf generate

## proto-check: fail when the committed generated code is stale, or the protos fail buf lint
proto-check:
	$(TOOL) buf lint
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(TOOL) buf generate -o "$$tmp" && \
	if ! diff -r -x '*.proto' proto "$$tmp/proto"; then \
		echo "generated code is stale: run 'make proto' and commit the result" >&2; exit 1; \
	fi

## lint: gofmt, go vet and staticcheck
lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); \
		if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(TOOL) staticcheck ./...

## bench: the benchmarks behind the README's figures (medians of 5 runs)
bench:
	$(GO) test -run='^$$' -bench=. -benchmem -count=5 ./... | tee bench.txt

## footprint: the agent's CPU and RSS at a 1 s tick over WINDOW seconds (default 60)
WINDOW ?= 60
footprint: build
	scripts/footprint.sh $(BIN) $(WINDOW)

## fuzz: run each fuzz target for FUZZTIME (default 20s)
FUZZTIME ?= 20s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list='^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "== $$pkg $$f"; $(GO) test -run='^$$' -fuzz="^$$f$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s $$pkg || exit 1; \
		done; \
	done

clean:
	rm -rf bin bench.txt

## dashboard
# The web dashboard's front end (node/dashboard/web: ES modules, uPlot, esbuild,
# pinned by package-lock.json) is bundled into node/dashboard/dist, which the
# binary embeds. Building it needs npm and the npm registry; `go build` alone
# still works and serves a page that says to run `make dashboard`.
DASH_WEB := node/dashboard/web
DASH_SRC := $(DASH_WEB)/package.json $(DASH_WEB)/package-lock.json $(DASH_WEB)/build.mjs $(wildcard $(DASH_WEB)/src/*)

.PHONY: dashboard dashboard-test dashboard-clean

## dashboard: bundle the dashboard's front end (npm ci + esbuild) into node/dashboard/dist
dashboard: node/dashboard/dist/app.js

node/dashboard/dist/app.js: $(DASH_SRC)
	cd $(DASH_WEB) && npm ci --no-audit --no-fund && npm run build

## dashboard-test: the front end's unit tests (node --test; the browser test is Go, in make test)
dashboard-test:
	cd $(DASH_WEB) && npm test

dashboard-clean:
	rm -rf node/dashboard/dist/app.js node/dashboard/dist/app.css $(DASH_WEB)/node_modules

# The binary embeds the bundle and the browser test loads it: build it first.
build test: dashboard
test: dashboard-test
clean: dashboard-clean

.PHONY: lan-party

## lan-party: five simulated PCs share a power budget; each tick prints every PC's draw and cap against the budget (ARGS="--budget 120 --ticks 30")
lan-party:
	$(GO) run ./examples/lan-party $(ARGS)

.PHONY: contention

## contention: a 60 fps game beside CPU hogs, under an observe and an enforce agent in turn (as root; ARGS="-reps 5 -duration 20s")
contention: build
	$(GO) build -o bin/frameloop ./examples/contention/frameloop
	$(GO) build -o bin/hog ./examples/contention/hog
	$(GO) build -o bin/contention ./examples/contention
	bin/contention -gamesa $(BIN) -frameloop bin/frameloop -hog bin/hog $(ARGS)
