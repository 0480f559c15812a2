#!/usr/bin/env bash
# HTTP load test of /manage-connections, the kit against the hand-written
# baseline (`make load-http`). For each app in turn it starts
# cmd/handoff-benchserver (the app and an embedded BlueNexus emulator on
# loopback, behind the same middleware), runs wrk against it with the
# signed-in user's cookie, and reads the server's heap before and after, so
# that growth under load shows. Rounds alternate which app goes first.
# It prints each run, the median req/s of each app and their ratio (target:
# kit/baseline >= 0.9).
#
# DURATION (10s), THREADS (2), CONNS (16) and ROUNDS (2) tune the runs;
# LOAD_MIN (0.9) is the ratio below which the script exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."

duration="${DURATION:-10s}"
threads="${THREADS:-2}"
conns="${CONNS:-16}"
rounds="${ROUNDS:-2}"
min_ratio="${LOAD_MIN:-0.9}"
GO="${GO:-go}"

command -v wrk >/dev/null || { echo "load-http: wrk is not installed (scripts/deps.sh --load)" >&2; exit 1; }
command -v curl >/dev/null || { echo "load-http: curl is not installed" >&2; exit 1; }

work="$(mktemp -d)"
server_pid=""
cleanup() {
	if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

$GO build -o "$work/benchserver" ./cmd/handoff-benchserver
echo "load-http: $($GO version), nproc $(nproc), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "load-http: wrk -t$threads -c$conns -d$duration per run, $rounds rounds"

stat() { curl -fsS "$1" | sed -n 's/.*"heapInuse":\([0-9]*\).*/\1/p'; }
inits() { curl -fsS "$1" | sed -n 's/.*"handoffInits":\([0-9]*\).*/\1/p'; }

# run APP: one wrk run against a fresh server; appends "APP REQS" to results.
run() {
	local app="$1" out="$work/$1.out" url cookie stats
	"$work/benchserver" -app "$app" >"$out" 2>&1 &
	server_pid=$!
	# Up to 30 s: on a loaded machine a start has taken over 10 s.
	for _ in $(seq 300); do grep -q '^STATS ' "$out" && break; sleep 0.1; done
	url="$(sed -n 's/^URL //p' "$out")"
	cookie="$(sed -n 's/^COOKIE //p' "$out")"
	stats="$(sed -n 's/^STATS //p' "$out")"
	[ -n "$url" ] || { cat "$out" >&2; echo "load-http: $app server did not start within 30 s" >&2; exit 1; }
	wrk -t"$threads" -c"$conns" -d2s -H "Cookie: $cookie" "$url" >/dev/null # warm up
	local heap0 heap1 reqs errs lat
	heap0="$(stat "$stats")"
	wrk -t"$threads" -c"$conns" -d"$duration" --latency -H "Cookie: $cookie" "$url" >"$work/wrk.txt"
	heap1="$(stat "$stats")"
	reqs="$(awk '/^Requests\/sec:/ {print $2}' "$work/wrk.txt")"
	errs="$(awk '/Non-2xx or 3xx responses:/ {print $5}' "$work/wrk.txt")"
	lat="$(awk '$1 == "50%" {p50=$2} $1 == "99%" {p99=$2} END {print "p50 " p50 ", p99 " p99}' "$work/wrk.txt")"
	printf '%-9s %9s req/s  %s  non-3xx %s  handoff inits %s  heap %s -> %s MB\n' "$app" "$reqs" "$lat" "${errs:-0}" \
		"$(inits "$stats")" "$((heap0 / 1048576))" "$((heap1 / 1048576))"
	echo "$app $reqs" >>"$work/results"
	kill "$server_pid"
	wait "$server_pid" 2>/dev/null || true
	server_pid=""
}

for round in $(seq "$rounds"); do
	if [ $((round % 2)) -eq 1 ]; then run kit; run baseline; else run baseline; run kit; fi
done

awk -v min="$min_ratio" '
	{ v[$1] = v[$1] " " $2; n[$1]++ }
	function median(app,   a, k, i, j, t) {
		k = split(v[app], a, " ")
		for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
		return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
	}
	END {
		k = median("kit"); b = median("baseline")
		printf "median req/s: kit %.0f, baseline %.0f, kit/baseline %.2f (target >= %s)\n", k, b, k / b, min
		exit (k / b < min)
	}' "$work/results"
