# handoffkit. `make demo` runs the example app on the embedded BlueNexus
# emulator; `make test` installs what the tests need and runs them all.
GO ?= go
PKGS := ./...
BENCH_COUNT ?= 6
FUZZTIME ?= 30s

.PHONY: demo test vet bench fuzz load load-http deps emulator

demo:
	$(GO) run ./cmd/handoff-demo -insecure-dev-cookies

emulator:
	$(GO) run ./cmd/bluenexus-emulator

deps:
	@scripts/deps.sh

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo 'gofmt: files above are not formatted'; exit 1; }
	$(GO) vet $(PKGS)

SCREENSHOTS ?= $(or $(HANDOFFKIT_SCREENSHOTS),/tmp/handoffkit-screenshots)

test: deps vet
	@echo "browser test screenshots: $(SCREENSHOTS)"
	HANDOFFKIT_SCREENSHOTS=$(SCREENSHOTS) scripts/with-redis.sh $(GO) test -race -timeout 8m $(PKGS)
	@echo "brief fuzzing of the client-IP parsers (longer: make fuzz)"
	FUZZ_PKGS=./middleware scripts/fuzz.sh 3s

bench:
	scripts/bench.sh $(BENCH_COUNT)

fuzz:
	scripts/fuzz.sh $(FUZZTIME)

load: deps
	scripts/with-redis.sh $(GO) run ./cmd/handoff-load

load-http:
	@scripts/deps.sh --load
	scripts/load-http.sh
