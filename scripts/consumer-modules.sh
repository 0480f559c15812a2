#!/usr/bin/env bash
# The module graph an app gets from the kit: builds a throwaway consumer
# module that imports only github.com/handoffkit/handoffkit/handlers (the
# root module replaced by this checkout), prints its `go list -m all` and
# fails when it lists more than MAX_MODULES (default 20) modules besides the
# consumer. Redis, PostgreSQL, Prometheus, OpenTelemetry, the browser tests
# and the OAuth server the interop tests run against live in modules of their
# own (session/redisflow, pgtokens, metrics, tracing, cmd, interop) so that
# they stay out of this list.
set -euo pipefail
cd "$(dirname "$0")/.."
GO="${GO:-go}"
max="${MAX_MODULES:-20}"
root="$(pwd)"
mod="$(awk '/^module /{print $2; exit}' go.mod)"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cat >"$work/main.go" <<GO
package main

import _ "$mod/handlers"

func main() {}
GO
cd "$work"
export GOWORK=off GOFLAGS=-mod=mod
$GO mod init example.com/consumer >/dev/null 2>&1
$GO mod edit -require="$mod@v0.0.0-00010101000000-000000000000" -replace="$mod=$root"
$GO mod tidy
$GO list -m all >"$work/modules"
n=$(($(wc -l <"$work/modules") - 1))
echo "consumer-modules: an app importing only $mod/handlers gets $n modules besides its own (at most $max):"
sed '1d; s/^/  /' "$work/modules"
if [ "$n" -gt "$max" ]; then
	echo "consumer-modules: $n modules > $max: a root package (or its tests) requires a dependency that belongs in a module of its own" >&2
	exit 1
fi
