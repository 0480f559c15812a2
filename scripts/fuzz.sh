#!/usr/bin/env bash
# Runs every native fuzz target of the workspace's modules (or of the packages in
# FUZZ_PKGS) for $1 (default 30s) each: a duration, or a count of runs such as 30000x.
set -euo pipefail
fuzztime=${1:-30s}
for pkg in $(go list ${FUZZ_PKGS:-github.com/handoffkit/handoffkit/...}); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	targets=$(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u || true)
	for t in $targets; do
		echo "== $pkg $t ($fuzztime)"
		go test -run '^$' -fuzz "^$t\$" -fuzztime "$fuzztime" "$pkg"
	done
done
