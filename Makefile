# lambda — a Lambda-architecture prediction platform. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

BIN        := bin/lambda
VERSION    ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS    := -X main.version=$(VERSION)
GO_TEST    ?= go test -count=1 -timeout 12m
FUZZTIME   ?= 60s
DEMO_EVENTS ?= 200000

# The local servers started by scripts/services.sh; override any of them to use your own.
export LAMBDA_ORT_LIB        ?= $(CURDIR)/.cache/onnxruntime/libonnxruntime.so.1.30.0
export LAMBDA_POSTGRES_URL   ?= postgres://postgres@127.0.0.1:5432/lambda?sslmode=disable
export LAMBDA_CLICKHOUSE_ADDR ?= 127.0.0.1:9000

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## build bin/lambda
	go build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/lambda

.PHONY: services-up
services-up: ## install (if missing) and start ClickHouse, PostgreSQL and the ONNX Runtime library
	scripts/services.sh up

.PHONY: services-down
services-down: ## stop the servers that services-up started
	scripts/services.sh down

.PHONY: migrate
migrate: services-up build ## apply the PostgreSQL and ClickHouse migrations
	$(BIN) migrate

.PHONY: run
run: services-up build ## the whole platform with demo data on an embedded Kafka (Ctrl-C stops it)
	@test -s .run/admin-token || head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' > .run/admin-token
	LAMBDA_ADMIN_TOKEN=$${LAMBDA_ADMIN_TOKEN:-$$(cat .run/admin-token)} $(BIN) up --demo-events $(DEMO_EVENTS)

.PHONY: test
test: services-up vegeta ## every test, unit and integration, against the real servers (TestSoak's short form included)
	go vet ./...
	$(GO_TEST) ./...

.PHONY: bench
bench: services-up vegeta ## benchmarks of every hot path, each next to the raw dependency it stands on
	go test -run '^$$' -bench . -benchmem -benchtime 1s ./internal/... ./inference/...
	go test -run '^$$' -bench . -skip 'BenchmarkHandler' -benchtime 1x -v ./batchlayer/... ./speedlayer/... ./servinglayer/... | grep -v '^=== RUN'
	go test -run '^$$' -bench 'BenchmarkHandler' -benchmem -benchtime 1s ./servinglayer/...
	go test -run '^$$' -bench 'BenchmarkUp|BenchmarkReplayVsBatch' -benchtime 1x -timeout 45m ./tests/

.PHONY: growth
growth: services-up vegeta ## BenchmarkGrowth: batch run, peak RSS, view sizes and lookup p99 from 1M to 10M events, 100k to 1M entities (LAMBDA_GROWTH_POINTS)
	go test -count=1 -run '^$$' -bench '^BenchmarkGrowth$$' -benchtime 1x -timeout 90m ./tests/

VEGETA := $(CURDIR)/.cache/bin/vegeta

.PHONY: vegeta
vegeta: ## install the vegeta load generator into .cache/bin (BenchmarkUp's and TestSoak's load)
	@test -x $(VEGETA) || GOBIN=$(CURDIR)/.cache/bin go install github.com/tsenart/vegeta/v12@v12.13.0


.PHONY: soak
soak: services-up vegeta ## TestSoak's long form: 10 min of 2,000 req/s and 20,000 events/s, a batch run every 2 min
	LAMBDA_SOAK_DURATION=10m LAMBDA_SOAK_SAMPLE=30s LAMBDA_SOAK_RATE=2000 LAMBDA_SOAK_EVENTS_RATE=20000 \
	LAMBDA_SOAK_SCHEDULE='0 */2 * * * *' LAMBDA_SOAK_HISTORY=12000000 \
	go test -count=1 -timeout 30m -run '^TestSoak$$' -v ./tests/

.PHONY: fuzz
fuzz: ## run every fuzz target for FUZZTIME (default 60s) each
	@for pkg in $$(go list ./...); do \
	  for target in $$(go test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$target"; go test $$pkg -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) || exit 1; \
	  done; \
	done

.PHONY: lint
lint: ## gofmt and go vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	go vet ./...

.PHONY: fmt
fmt: ## format the code
	gofmt -w $$(git ls-files '*.go')

.PHONY: clean
clean: ## remove build outputs (not .run/ state or the .cache/ downloads)
	rm -rf bin
