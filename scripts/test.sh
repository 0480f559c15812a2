#!/usr/bin/env bash
# Runs go test with the given flags on every package of every module of the
# workspace (go.work: the root, session/redisflow, pgtokens, metrics,
# tracing, cmd, interop), then fails when a package that has test files did
# not report "ok": a module or a package left out of the run must not pass
# silently.
set -uo pipefail
cd "$(dirname "$0")/.."
GO="${GO:-go}"
pkgs="$(awk '/^module /{print $2; exit}' go.mod)/..."
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
$GO test "$@" "$pkgs" 2>&1 | tee "$out"
status=${PIPESTATUS[0]}
[ "$status" -eq 0 ] || exit "$status"
missing=()
for pkg in $($GO list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}}{{end}}' "$pkgs"); do
	grep -qE "^ok[[:space:]]+$pkg[[:space:]]" "$out" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "test: these packages have tests but reported no ok: ${missing[*]}" >&2
	exit 1
fi
echo "test: every package with tests passed ($($GO list -m | wc -l) modules)"
