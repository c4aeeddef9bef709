# repartd: the two set-up commands are `make demo` and `make test`.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)

export AWS_EC2_METADATA_DISABLED := true

.PHONY: all build test unit lint emulators demo fuzz clean

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

# Unit tests only (no emulator): quick inner loop.
unit:
	$(GO) test -race -count=1 -short ./repartition/... ./bench/...

# One DMS hot shard spread over 16 shards on a local kinesalite, end to end.
demo: build emulators
	scripts/demo.sh

# Fuzz the DMS parser and key extractor (new crashers land in testdata/fuzz).
FUZZTIME ?= 60s
fuzz:
	$(GO) test -run='^$$' -fuzz=FuzzRoute -fuzztime=$(FUZZTIME) ./repartition/
	$(GO) test -run='^$$' -fuzz=FuzzScannerSkip -fuzztime=$(FUZZTIME) ./repartition/

clean:
	rm -rf bin .emulators
