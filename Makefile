# repartd: the two set-up commands are `make demo` and `make test`.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)

export AWS_EC2_METADATA_DISABLED := true

.PHONY: all build test unit lint emulators demo fuzz clean bench bench-peers

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/repartd ./cmd/repartd

# Pinned kinesalite/kinesis-local/dynalite from deploy/local (npm ci).
emulators:
	scripts/emulators.sh install

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './deploy/*')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...

# Every test: unit tests and fuzz seed corpora under -race, and integration
# tests that start real kinesalite processes on 127.0.0.1.
test: emulators lint
	$(GO) test -race -count=1 -timeout 15m ./...
	cd bench/jsoncmp && $(GO) vet ./... && $(GO) test -race -count=1 ./...

# Unit tests only (no emulator): quick inner loop.
unit:
	$(GO) test -race -count=1 -short ./repartition/... ./bench/...

# One DMS hot shard spread over 16 shards on a local kinesalite, end to end.
demo: build emulators
	scripts/demo.sh

# Fuzz the DMS parser, the key extractor and the Kinesis codec (new crashers
# land in testdata/fuzz).
FUZZTIME ?= 60s
fuzz:
	$(GO) test -run='^$$' -fuzz=FuzzRoute -fuzztime=$(FUZZTIME) ./repartition/
	$(GO) test -run='^$$' -fuzz=FuzzScannerSkip -fuzztime=$(FUZZTIME) ./repartition/
	$(GO) test -run='^$$' -fuzz=FuzzStopAt -fuzztime=$(FUZZTIME) ./repartition/
	$(GO) test -run='^$$' -fuzz='^FuzzCodec_GetRecords$$' -fuzztime=$(FUZZTIME) ./kinesisio/
	$(GO) test -run='^$$' -fuzz='^FuzzCodec_PutRecordsOutput$$' -fuzztime=$(FUZZTIME) ./kinesisio/
	$(GO) test -run='^$$' -fuzz='^FuzzCodec_PutRecordsBody$$' -fuzztime=$(FUZZTIME) ./kinesisio/

# End-to-end benchmarks (bench/README.md): start what they need on 127.0.0.1,
# run each workload 3 times, write bench/results/*.json and bench/RESULTS.md.
#   make bench                              kinesalite (two processes)
#   make bench ENDPOINT=http://localhost:4566 [BENCH_LABEL=localstack]
#   make bench ENDPOINT=aws                 real AWS, the SDK's default chain
#   make bench BENCH_QUICK=1                smoke run (results in bench/results/quick)
#   make bench BENCH_ONLY=relay,latency     a subset
#   make bench-peers                        Benthos v4.27.0 side by side
ENDPOINT    ?=
BENCH_LABEL ?=
BENCH_ONLY  ?=
BENCH_QUICK ?=
BENCH_FLAGS = --endpoint '$(ENDPOINT)' --label '$(BENCH_LABEL)' --only '$(BENCH_ONLY)' \
	$(if $(filter-out 0,$(BENCH_QUICK)),--quick)

bench:
	$(GO) run ./bench/cmd/harness --mode bench $(BENCH_FLAGS)

bench-peers:
	$(GO) run ./bench/cmd/harness --mode peers $(BENCH_FLAGS)

clean:
	rm -rf bin .emulators
