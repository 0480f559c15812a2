#!/usr/bin/env bash
# Runs the benchmarks, the kit's beside their hand-written baselines, COUNT
# rounds (default 6), then summarizes them with benchstat:
#
#   scripts/bench.sh [COUNT]          # make bench BENCH_COUNT=10
#
# Writes the raw output to $BENCH_OUT (default a new file under $TMPDIR) and
# prints two benchstat summaries of it:
#   - the handler benchmarks, one column per implementation
#     (`benchstat -col /impl@(lean kit)`): medians of time, process CPU
#     time, bytes and allocations per operation, the kit compared with the
#     lean baseline (+50% is 1.5x lean);
#   - every other benchmark, by name (`benchstat -filter '-/impl:/./'`).
# BENCH selects benchmarks (default all), BENCH_PKGS the packages,
# BENCH_TIME the -benchtime (default 1s). benchstat is installed with
# `go install golang.org/x/perf/cmd/benchstat@latest` when missing; without
# it the script says so and leaves the raw output.
set -euo pipefail
cd "$(dirname "$0")/.."

count="${1:-6}"
bench="${BENCH:-.}"
pkgs="${BENCH_PKGS:-./handlers ./internal/flow ./internal/urlbuild ./bluenexus ./middleware}"
benchtime="${BENCH_TIME:-1s}"
out="${BENCH_OUT:-${TMPDIR:-/tmp}/handoffkit-bench-$(date +%Y%m%d-%H%M%S).txt}"
GO="${GO:-go}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

{
	echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $($GO version), nproc $(nproc), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
	echo "# for each of $count rounds, for each of $pkgs: PKG.test -test.run '^\$' -test.bench '$bench' -test.benchmem -test.benchtime $benchtime"
} >"$out"
echo "bench: writing $out"

# One test binary per package, run COUNT times in rounds rather than with
# -count: `go test -count` repeats each sub-benchmark back to back, while a
# round runs impl=kit and impl=lean one right after the other, so that both
# see the same machine load in every round.
bins=()
for pkg in $pkgs; do
	bin="$work/$(echo "$pkg" | tr -c 'a-zA-Z0-9\n' _).test"
	$GO test -c -o "$bin" "$pkg"
	[ -x "$bin" ] && bins+=("$pkg=$bin") # a package without tests builds nothing
done
for round in $(seq "$count"); do
	echo "bench: round $round of $count"
	for entry in "${bins[@]}"; do
		(cd "${entry%%=*}" && "${entry#*=}" -test.run '^$' -test.bench "$bench" -test.benchmem \
			-test.benchtime "$benchtime" -test.timeout 60m) | tee -a "$out"
	done
done

benchstat="$(command -v benchstat || true)"
if [ -z "$benchstat" ] && [ -x "$($GO env GOPATH)/bin/benchstat" ]; then
	benchstat="$($GO env GOPATH)/bin/benchstat"
fi
if [ -z "$benchstat" ]; then
	echo "bench: installing benchstat (go install golang.org/x/perf/cmd/benchstat@latest)"
	if $GO install golang.org/x/perf/cmd/benchstat@latest; then
		benchstat="$($GO env GOPATH)/bin/benchstat"
	else
		echo "bench: benchstat could not be installed (is the Go module proxy reachable?): no summary." >&2
		echo "bench: the raw results are in $out; summarize them later with" >&2
		echo "bench:   benchstat -col '/impl@(lean kit)' $out" >&2
		exit 1
	fi
fi

echo
echo "bench: handlers, kit against lean: $(basename "$benchstat") -col '/impl@(lean kit)' $out"
"$benchstat" -col '/impl@(lean kit)' "$out"
if grep -v '/impl=' "$out" | grep -q '^Benchmark'; then
	echo
	echo "bench: the other benchmarks: $(basename "$benchstat") -filter '-/impl:/./' $out"
	"$benchstat" -filter '-/impl:/./' "$out"
fi
