#!/usr/bin/env bash
# The soak (`make soak`): starts the Redis topology SOAK_REDIS (single,
# cluster or sentinel; default single) with scripts/redis-topology.sh in a
# temporary directory, runs cmd/handoff-load for SOAK_DURATION (default 5m)
# with three app instances, an 80 s token TTL and every kind of fault
# (upstream, emulator clock, Redis restart or failover), and stops the
# topology on exit. Extra arguments go to handoff-load (-browsers 64, ...).
# The status is handoff-load's: 0, 1 on a violation, 2 when it could not
# be set up.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
GO="${GO:-go}"
kind=${SOAK_REDIS:-single}
duration=${SOAK_DURATION:-5m}
case $kind in
single | cluster | sentinel) ;;
*)
	echo "soak: SOAK_REDIS=$kind: want single, cluster or sentinel" >&2
	exit 2
	;;
esac
topology=$PWD/scripts/redis-topology.sh
dir=$(mktemp -d "${TMPDIR:-/tmp}/handoffkit-soak.XXXXXX")
trap '"$topology" stop "$dir/redis"; rm -rf "$dir"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# Built, not run with go run, which turns every failing status into 1.
$GO build -o "$dir/handoff-load" ./cmd/handoff-load || exit 2
"$topology" start "$kind" "$dir/redis" || exit 2
# Only the topology started here: no address from the caller's environment.
unset HANDOFFKIT_REDIS_ADDR HANDOFFKIT_REDIS_CLUSTER HANDOFFKIT_REDIS_SENTINELS HANDOFFKIT_REDIS_MASTER
# shellcheck source=/dev/null
. "$dir/redis/env"
export HANDOFFKIT_REDIS_TOPOLOGY=$topology
echo "soak: $kind Redis, $duration"
"$dir/handoff-load" -duration "$duration" -faults upstream,clock,redis -token-ttl 80s "$@"
status=$?
exit "$status"
