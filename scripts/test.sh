#!/usr/bin/env bash
# Runs go test -json with the given flags on every package of every module
# of the workspace (go.work: the root, session/redisflow, pgtokens, metrics,
# tracing, cmd, interop) and prints what plain go test prints, through
# internal/testkit/testcount. It fails when a test fails or a package with
# test files did not pass (a module or a package left out of the run must
# not pass silently); with CI=true, also when a test skipped or a package
# with test files ran none. The last line is "N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")/.."
GO="${GO:-go}"
pkgs="${PKGS:-$(awk '/^module /{print $2; exit}' go.mod)/...}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
$GO build -o "$tmp/testcount" ./internal/testkit/testcount || exit 1
# shellcheck disable=SC2086 # PKGS may name several patterns
$GO list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}}{{end}}' $pkgs >"$tmp/expect" || exit 1
flags=(-expect "$tmp/expect")
[ "${CI:-}" = true ] && flags+=(-ci)
for a in "$@"; do
	case "$a" in -v | -v=true | -test.v) flags+=(-v) ;; esac
done
# shellcheck disable=SC2086
$GO test -json "$@" $pkgs 2>&1 | "$tmp/testcount" "${flags[@]}"
status=("${PIPESTATUS[@]}")
[ "${status[1]}" -ne 0 ] && exit "${status[1]}"
exit "${status[0]}"
