#!/usr/bin/env bash
# Runs a command with a throwaway redis-server on a free loopback port, its
# address in HANDOFFKIT_REDIS_ADDR. Without redis-server the command runs
# without it (the Redis tests then skip loudly, or fail under CI=true).
set -u
if command -v redis-server >/dev/null 2>&1 && [ -z "${HANDOFFKIT_REDIS_ADDR:-}" ]; then
	dir=$(mktemp -d)
	trap 'kill "$(cat "$dir/redis.pid" 2>/dev/null)" 2>/dev/null; rm -rf "$dir"' EXIT
	port=${HANDOFFKIT_REDIS_PORT:-6399}
	for _ in $(seq 20); do
		# A port something else answers on is taken: try the next one.
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
				--daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --dir "$dir" >/dev/null
			for _ in $(seq 50); do
				redis-cli -p "$port" ping >/dev/null 2>&1 && break
				sleep 0.1
			done
			[ -s "$dir/redis.pid" ] && break
		fi
		port=$((port + 1))
	done
	export HANDOFFKIT_REDIS_ADDR=127.0.0.1:$port
	# Tests that stop Redis mid-test start their own from this path.
	export HANDOFFKIT_REDIS_SERVER=$(command -v redis-server)
	echo "redis-server for the tests: $HANDOFFKIT_REDIS_ADDR"
fi
"$@"
