#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL server on loopback, from
# Debian's packages (the newest /usr/lib/postgresql/*/bin, else initdb on
# the PATH), and removes it when the command ends, whatever its status
# (which is passed through):
#
#   HANDOFFKIT_POSTGRES_URL  postgres://handoffkit@127.0.0.1:PORT/handoffkit?sslmode=disable
#
# The server runs in a temporary directory (data, socket, log) on the first
# free port from HANDOFFKIT_POSTGRES_PORT (default 55432), with trust
# authentication on 127.0.0.1 only, and without fsync: it holds test data
# alone. PostgreSQL refuses to run as root, so under root it runs as the
# user postgres (which Debian's package creates), who owns the directory.
# HANDOFFKIT_POSTGRES_KEEP=1 keeps the directory (its log) afterwards.
#
# With HANDOFFKIT_POSTGRES_URL already set the command uses that server and
# nothing starts. Without PostgreSQL the command runs without it (the
# Postgres tests then skip loudly, or fail under CI=true).
set -u
PROG=with-postgres

pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$pgbin" ] && command -v initdb >/dev/null 2>&1; then
	pgbin=$(dirname "$(command -v initdb)")
fi
if [ -n "${HANDOFFKIT_POSTGRES_URL:-}" ]; then
	:
elif [ -z "$pgbin" ] || [ ! -x "$pgbin/initdb" ]; then
	echo "$PROG: no PostgreSQL server (scripts/deps.sh installs it): running without Postgres" >&2
else
	# as runs a command of the server as its owner, in its directory (the
	# owner may not be allowed into the caller's).
	as() { (cd "$dir" && "$@"); }
	if [ "$(id -u)" = 0 ]; then
		if ! id postgres >/dev/null 2>&1; then
			echo "$PROG: running as root and there is no user postgres to run the server as" >&2
			exit 1
		fi
		as() { (cd "$dir" && runuser -u postgres -- "$@"); }
	fi
	dir=$(mktemp -d "${TMPDIR:-/tmp}/handoffkit-postgres.XXXXXX")
	started=
	cleanup() {
		if [ -n "$started" ]; then
			as "$pgbin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 ||
				echo "$PROG: could not stop the server in $dir" >&2
		fi
		if [ "${HANDOFFKIT_POSTGRES_KEEP:-}" = 1 ]; then
			echo "$PROG: kept $dir" >&2
		else
			rm -rf "$dir"
		fi
	}
	trap cleanup EXIT
	trap 'exit 129' HUP
	trap 'exit 130' INT
	trap 'exit 143' TERM
	if [ "$(id -u)" = 0 ]; then
		chown postgres: "$dir"
		if ! runuser -u postgres -- test -w "$dir"; then
			# TMPDIR is closed to postgres (under /root, say): use /tmp.
			rmdir "$dir"
			dir=$(mktemp -d /tmp/handoffkit-postgres.XXXXXX)
			chown postgres: "$dir"
		fi
	fi
	chmod 700 "$dir"
	if ! as "$pgbin/initdb" -D "$dir/data" -U handoffkit -A trust -E UTF8 --no-locale --no-sync >"$dir/initdb.log" 2>&1; then
		echo "$PROG: initdb failed:" >&2
		cat "$dir/initdb.log" >&2
		exit 1
	fi

	# The first port that nothing answers on; a server that still cannot
	# bind it (taken meanwhile) moves on to the next.
	port=${HANDOFFKIT_POSTGRES_PORT:-55432}
	for _ in $(seq 20); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			port=$((port + 1))
			continue
		fi
		if as "$pgbin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 -s \
			-o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
			start >/dev/null 2>&1; then
			started=1
			break
		fi
		port=$((port + 1))
	done
	if [ -z "$started" ]; then
		echo "$PROG: could not start PostgreSQL; its log:" >&2
		tail -n 20 "$dir/server.log" >&2 2>/dev/null
		exit 1
	fi
	if ! as "$pgbin/createdb" -h 127.0.0.1 -p "$port" -U handoffkit handoffkit; then
		echo "$PROG: could not create the database handoffkit" >&2
		exit 1
	fi
	export HANDOFFKIT_POSTGRES_URL="postgres://handoffkit@127.0.0.1:$port/handoffkit?sslmode=disable"
	echo "$PROG: PostgreSQL $("$pgbin/postgres" --version | awk '{print $3}') for the tests on 127.0.0.1:$port (in $dir)"
fi
"$@"
