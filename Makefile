# dingfluence developer tasks. Recipes are indented with tabs.

GO ?= go
BIN ?= bin/dingfluence

.PHONY: all run build generate lint test bench assets

all: build

# Builds, then runs the binary itself rather than `go run`: once interrupted,
# `go run` exits 1 whatever the program's status, so Ctrl-C after a clean
# shutdown made make report "Error 1". The binary's own status (0) is make's.
run: build
	$(BIN)

build:
	$(GO) build -o $(BIN) ./cmd/dingfluence

# Regenerates the *_templ.go files from views/*.templ (templ is a go.mod tool).
generate:
	$(GO) tool templ generate

# gofmt over the tracked Go files (xargs -r: gofmt with no files would read stdin), then go vet.
lint:
	@out="$$(git ls-files -z -- '*.go' | xargs -0 -r gofmt -l)"; \
		test -z "$$out" || { echo "not gofmt-ed:"; echo "$$out"; exit 1; }
	$(GO) vet ./...

# Tests against a throwaway MariaDB + headless Chromium; ARGS go to go test,
# e.g. make test ARGS="./models/... -run TestPage".
test:
	bash scripts/test.sh $(ARGS)

# Benchmarks (each once by default); override with BENCH_ARGS, see scripts/bench.sh.
bench:
	bash scripts/bench.sh $(ARGS)

# Re-vendors AUI, jQuery and htmx from npm into static/vendor (commit the result).
assets:
	bash scripts/vendor-assets.sh
