#!/usr/bin/env bash
# Runs a command with throwaway Redis topologies on loopback, started by
# scripts/redis-topology.sh in a temporary directory and stopped when the
# command ends, whatever its status (which is passed through):
#
#   single    HANDOFFKIT_REDIS_ADDR, HANDOFFKIT_REDIS_SINGLE_DIR
#   cluster   HANDOFFKIT_REDIS_CLUSTER, HANDOFFKIT_REDIS_CLUSTER_DIR
#   sentinel  HANDOFFKIT_REDIS_SENTINELS, HANDOFFKIT_REDIS_MASTER,
#             HANDOFFKIT_REDIS_SENTINEL_DIR
#
# plus HANDOFFKIT_REDIS_<KIND>_NODES (its data nodes), HANDOFFKIT_REDIS_SERVER
# (redis-server, for tests that start their own) and HANDOFFKIT_REDIS_TOPOLOGY
# (redis-topology.sh, for tests that fail over, restart or crash a node of a
# *_DIR). WITH_REDIS=single|cluster|sentinel starts only that one (default
# all); then its generic HANDOFFKIT_REDIS_DIR, _KIND and _NODES are set too.
# HANDOFFKIT_REDIS_KEEP=1 keeps the directory (configs, logs) afterwards.
#
# With HANDOFFKIT_REDIS_ADDR already set the command uses that Redis and
# nothing starts. Without redis-server the command runs without Redis (the
# Redis tests then skip loudly, or fail under CI=true).
set -u
if ! command -v redis-server >/dev/null 2>&1; then
	echo "with-redis: no redis-server (scripts/deps.sh installs it): running without Redis" >&2
elif [ -z "${HANDOFFKIT_REDIS_ADDR:-}" ]; then
	case ${WITH_REDIS:-all} in
	all) kinds=(single cluster sentinel) ;;
	single | cluster | sentinel) kinds=("$WITH_REDIS") ;;
	*)
		echo "with-redis: WITH_REDIS=$WITH_REDIS: want single, cluster, sentinel or all" >&2
		exit 2
		;;
	esac
	topology=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)/redis-topology.sh
	dir=$(mktemp -d "${TMPDIR:-/tmp}/handoffkit-redis.XXXXXX")
	starting=()
	cleanup() {
		# Starts still under way (when a signal came) stop what they began.
		for pid in "${starting[@]}"; do kill -TERM "$pid" 2>/dev/null; done
		wait
		for kind in "${kinds[@]}"; do "$topology" stop "$dir/$kind"; done
		if [ "${HANDOFFKIT_REDIS_KEEP:-}" = 1 ]; then
			echo "with-redis: kept $dir" >&2
		else
			rm -rf "$dir"
		fi
	}
	trap cleanup EXIT
	trap 'exit 129' HUP
	trap 'exit 130' INT
	trap 'exit 143' TERM

	# The topologies start side by side; each takes a couple of seconds.
	for kind in "${kinds[@]}"; do
		"$topology" start "$kind" "$dir/$kind" &
		starting+=($!)
	done
	failed=()
	for i in "${!kinds[@]}"; do
		wait "${starting[$i]}" || failed+=("${kinds[$i]}")
		starting[i]=
	done
	starting=()
	if [ ${#failed[@]} -gt 0 ]; then
		echo "with-redis: could not start Redis ${failed[*]} (messages above)" >&2
		exit 1
	fi

	summary=()
	for kind in "${kinds[@]}"; do
		# shellcheck source=/dev/null # written by redis-topology.sh start
		. "$dir/$kind/env"
		upper=$(tr '[:lower:]' '[:upper:]' <<<"$kind")
		# shellcheck disable=SC2153 # set by the env file
		export "HANDOFFKIT_REDIS_${upper}_DIR=$HANDOFFKIT_REDIS_DIR"
		export "HANDOFFKIT_REDIS_${upper}_NODES=$HANDOFFKIT_REDIS_NODES"
		summary+=("$kind $HANDOFFKIT_REDIS_NODES${HANDOFFKIT_REDIS_SENTINELS:+ (sentinels $HANDOFFKIT_REDIS_SENTINELS)}")
	done
	# Each topology's env sets these; with several they would name the last.
	[ ${#kinds[@]} -eq 1 ] || unset HANDOFFKIT_REDIS_DIR HANDOFFKIT_REDIS_KIND HANDOFFKIT_REDIS_NODES
	# Tests that stop Redis mid-test start their own from this path.
	HANDOFFKIT_REDIS_SERVER=$(command -v redis-server)
	export HANDOFFKIT_REDIS_SERVER
	export HANDOFFKIT_REDIS_TOPOLOGY=$topology
	echo "with-redis: Redis for the tests (in $dir):"
	printf '  %s\n' "${summary[@]}"
fi
"$@"
