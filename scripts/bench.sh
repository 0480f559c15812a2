#!/usr/bin/env bash
# Runs the benchmarks, the kit's beside their hand-written baselines, in one
# `go test -bench` run per package, COUNT rounds (default 6):
#
#   scripts/bench.sh [COUNT]          # make bench BENCH_COUNT=10
#
# Writes the raw output to $BENCH_OUT (default a new file under $TMPDIR),
# prints benchstat's summary (installing benchstat if missing and the module
# proxy is reachable), then the kit/baseline ratios of time, CPU time, bytes
# and allocations per operation (internal/baseline/cmd/benchratio).
# BENCH selects benchmarks (default all), BENCH_PKGS the packages,
# BENCH_TIME the -benchtime (default 1s), BENCH_MAX the time or allocs
# ratio marked "over" (default 1.10); with BENCH_STRICT=1 a ratio over it
# makes the script exit non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."

count="${1:-6}"
bench="${BENCH:-.}"
pkgs="${BENCH_PKGS:-./handlers ./session ./urlbuild ./bluenexus ./middleware}"
benchtime="${BENCH_TIME:-1s}"
max="${BENCH_MAX:-1.10}"
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
# round runs a kit benchmark and its baseline one right after the other, so
# both see the same machine load (benchratio pairs them run by run).
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
	echo "bench: installing benchstat (golang.org/x/perf/cmd/benchstat@latest)"
	if $GO install golang.org/x/perf/cmd/benchstat@latest; then
		benchstat="$($GO env GOPATH)/bin/benchstat"
	else
		echo "bench: benchstat unavailable; skipping its summary" >&2
	fi
fi
if [ -n "$benchstat" ]; then
	echo
	"$benchstat" "$out"
fi

echo
status=0
$GO run ./internal/baseline/cmd/benchratio -max "$max" "$out" || status=$?
if [ "$status" -gt 1 ] || { [ "$status" -ne 0 ] && [ "${BENCH_STRICT:-0}" = 1 ]; }; then
	exit "$status"
fi
