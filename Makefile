# ClaraTeach — the two commands a new user needs are `make dev` and `make test`.
SHELL := /usr/bin/env bash
GO ?= go
BIN := $(CURDIR)/bin
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/clarateach/backend/internal/release.Version=$(VERSION)
WEBUI_DIST := backend/internal/controlplane/webui/dist
STATICCHECK_VERSION := v0.8.2
DEADCODE_VERSION := v0.52.0

.PHONY: help dev build web test lint bench clean fmt

help:
	@echo "make dev    build and start ClaraTeach locally (SQLite under ./data, local agent, best runtime)"
	@echo "make test   run every test this machine can run (says what it skipped and why)"
	@echo "make lint   go vet + macOS build + tree shape + staticcheck + deadcode (+ shellcheck, ESLint, frontend typecheck)"
	@echo "make bench  benchmarks: join storm, seat start vs bubblewrap, terminal vs wetty, time to running, archives, preview, images, big class, bundle size"
	@echo "make build  build bin/clarateach, bin/clarateach-workspace, bin/clarateach-seat-init, bin/clarateach-seat-pid1 (gcc), bin/agent"
	@echo "make web    build the web app and embed it into the server"

## dev: build what is needed and start the server on :8080 (PORT to change)
dev: web build
	@mkdir -p data
	DATA_DIR=$${DATA_DIR:-./data} $(BIN)/clarateach server

## build: the binaries (static, no cgo)
## (one go command for the four: their packages compile and the four link at once, where one
## command after another left a CPU idle through each link; go build names each binary after its
## directory, in bin/.go, where the next build finds it and skips a link that is up to date)
build:
	@mkdir -p $(BIN)/.go
	cd backend && CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/.go/ ./cmd/clarateach ./cmd/workspace ./cmd/seatinit ./cmd/agent
	ln -f $(BIN)/.go/clarateach $(BIN)/clarateach
	ln -f $(BIN)/.go/workspace $(BIN)/clarateach-workspace
	ln -f $(BIN)/.go/seatinit $(BIN)/clarateach-seat-init
	ln -f $(BIN)/.go/agent $(BIN)/agent
	@# The sandbox seats' init in C (Linux only; without a static C compiler
	@# the agent gives every seat the Go init, whose cold start costs more).
	@if [ "$$(uname -s)" = Linux ]; then \
		echo "$(CC) -static -O2 -Wall -o $(BIN)/clarateach-seat-pid1 backend/internal/host/seatruntime/sandbox/seatpid1/c/seatpid1.c"; \
		$(CC) -static -O2 -Wall -o $(BIN)/clarateach-seat-pid1 backend/internal/host/seatruntime/sandbox/seatpid1/c/seatpid1.c || { \
			rm -f $(BIN)/clarateach-seat-pid1; \
			echo "note: no clarateach-seat-pid1 ($(CC) -static failed: apt-get install -y gcc libc6-dev): sandbox seats use the Go init, slower to start cold"; }; \
	fi

## web: build the React app and copy it where the Go server embeds it
web:
	@if ! command -v npm >/dev/null; then echo "npm not found: the server will serve a placeholder page (install Node 20.19+ for the web app)"; exit 0; fi; \
	cd frontend && { [ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund; } && npm run build
	@if [ -f frontend/dist/index.html ]; then \
		find $(WEBUI_DIST) -mindepth 1 ! -name README -delete; \
		cp -R frontend/dist/. $(WEBUI_DIST)/; \
	fi

## test: every test; what cannot run here is skipped with a reason
test:
	./scripts/test-all.sh

## lint: go vet, the binaries built for macOS, the tree's shape (no function over 100 lines, the ARCHITECTURE map), staticcheck, deadcode (must list nothing), shellcheck, ESLint and the frontend typecheck
lint:
	cd backend && $(GO) vet ./...
	@# make dev on macOS: the binaries build there (process runtime; statfs and friends differ)
	cd backend && GOOS=darwin GOARCH=arm64 CGO_ENABLED=0 $(GO) build -o /dev/null ./cmd/...
	cd backend && $(GO) test -count=1 ./internal/treeshape/
	cd backend && $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) && "$$($(GO) env GOPATH)/bin/staticcheck" ./...
	cd backend && $(GO) install golang.org/x/tools/cmd/deadcode@$(DEADCODE_VERSION) && \
		out=$$("$$($(GO) env GOPATH)/bin/deadcode" -test ./...) && \
		if [ -n "$$out" ]; then echo "deadcode: unused code (remove it, or use it):"; echo "$$out"; exit 1; fi
	@if command -v shellcheck >/dev/null; then shellcheck scripts/*.sh scripts/lib/*.sh scripts/test/*.sh .ci/run; else echo "shellcheck not installed: skipped"; fi
	@if [ -d frontend/node_modules ]; then \
		cd frontend && npm run typecheck && \
		if grep -q '"lint":' package.json; then npm run lint; else echo "frontend has no lint script yet: ESLint skipped"; fi; \
	else echo "frontend/node_modules missing (cd frontend && npm ci): typecheck and ESLint skipped"; fi

bench:
	./scripts/bench-all.sh

fmt:
	cd backend && gofmt -w .

clean:
	rm -rf $(BIN) frontend/dist artifacts
	find $(WEBUI_DIST) -mindepth 1 ! -name README -delete
