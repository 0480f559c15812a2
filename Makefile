# handoffkit. `make demo` runs the example app on the embedded BlueNexus
# emulator; `make test` installs what the tests need (Chromium, Redis,
# PostgreSQL), starts throwaway servers on loopback and runs every test.
#
# The repository is a workspace (go.work) of seven modules: the root (the
# library), session/redisflow (Redis), pgtokens (PostgreSQL), metrics
# (Prometheus), tracing (OpenTelemetry), cmd (the commands, the demo app
# and the browser tests) and interop (the kit against ory/fosite, an OAuth
# 2.0 server). With go.work the pattern below names the packages of all
# seven; `./...` would stop at the root's.
GO ?= go
PKGS := github.com/handoffkit/handoffkit/...
BENCH_COUNT ?= 6
FUZZTIME ?= 30s

.PHONY: demo test vet bench fuzz load load-http soak capacity deps emulator expo-test expo-typecheck

ADDR ?= 127.0.0.1:8080
EMULATOR_ADDR ?= 127.0.0.1:8081

demo:
	$(GO) run ./cmd/handoff-demo -insecure-dev-cookies -addr $(ADDR) -emulator-addr $(EMULATOR_ADDR)

emulator:
	$(GO) run ./cmd/bluenexus-emulator

deps:
	@scripts/deps.sh

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo 'gofmt: files above are not formatted'; exit 1; }
	$(GO) vet $(PKGS)
	@GO=$(GO) scripts/modules.sh

SCREENSHOTS ?= $(or $(HANDOFFKIT_SCREENSHOTS),/tmp/handoffkit-screenshots)

test: deps vet
	@echo "browser test screenshots: $(SCREENSHOTS)"
	GORACE=atexit_sleep_ms=0 HANDOFFKIT_SCREENSHOTS=$(SCREENSHOTS) GO=$(GO) scripts/with-redis.sh scripts/with-postgres.sh scripts/test.sh -race -timeout 8m -skip '^TestDefaultCapacityMemory$$'
	@echo "the replay guard's memory budget, without -race (the race detector changes what it measures)"
	PKGS=./internal/replay GO=$(GO) scripts/test.sh -count=1 -run '^TestDefaultCapacityMemory$$'
	GO=$(GO) scripts/consumer-modules.sh
	GO=$(GO) scripts/expo-tests.sh
	@echo "brief fuzzing of the client-IP parsers (longer: make fuzz)"
	@# A count, not a duration: Go 1.26's fuzzer can fail a -fuzztime run with
	@# "context deadline exceeded" as its time ends (go.dev/issue/75804).
	FUZZ_PKGS=./middleware scripts/fuzz.sh 30000x

# The Expo example (docs/mobile.md): its flow logic against the demo (part
# of `make test`), and the app type-checked against the expo,
# expo-web-browser and expo-linking types (CI runs it; its install fetches
# about 390 MB, so `make test` leaves it out).
expo-test:
	GO=$(GO) scripts/expo-tests.sh

expo-typecheck: deps
	scripts/expo-typecheck.sh

bench:
	scripts/bench.sh $(BENCH_COUNT)

fuzz:
	scripts/fuzz.sh $(FUZZTIME)

load: deps
	scripts/with-redis.sh $(GO) run ./cmd/handoff-load

# The soak: three app instances, the emulator with a short token TTL and one
# Redis topology (single, cluster or sentinel), with faults injected at
# random; it ends with `soak: N flows, M violations` and fails when M > 0.
SOAK_DURATION ?= 5m
SOAK_REDIS ?= single

soak: deps
	SOAK_DURATION=$(SOAK_DURATION) SOAK_REDIS=$(SOAK_REDIS) GO=$(GO) scripts/soak.sh

# Capacity figures of docs/scale.md, on a throwaway redis-server.
capacity: deps
	WITH_REDIS=single scripts/with-redis.sh $(GO) run ./cmd/handoff-capacity

load-http:
	@scripts/deps.sh --load
	scripts/load-http.sh
