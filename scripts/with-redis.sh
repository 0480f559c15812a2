#!/usr/bin/env bash
# Runs a command with a throwaway redis-server on a loopback port, its address
# in HANDOFFKIT_REDIS_ADDR. Without redis-server the command runs without it.
set -u
port=${HANDOFFKIT_REDIS_PORT:-6399}
if command -v redis-server >/dev/null 2>&1 && [ -z "${HANDOFFKIT_REDIS_ADDR:-}" ]; then
	dir=$(mktemp -d)
	redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
		--daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --dir "$dir" >/dev/null
	for _ in $(seq 50); do
		redis-cli -p "$port" ping >/dev/null 2>&1 && break
		sleep 0.1
	done
	export HANDOFFKIT_REDIS_ADDR=127.0.0.1:$port
	# Tests that stop Redis mid-test use these to find and restart it.
	export HANDOFFKIT_REDIS_SERVER=$(command -v redis-server)
	trap 'kill "$(cat "$dir/redis.pid" 2>/dev/null)" 2>/dev/null; rm -rf "$dir"' EXIT
fi
"$@"
