#!/usr/bin/env bash
# The Expo example's flow logic (examples/expo/src/connections.ts, the
# module its screen runs) in node's test runner, against the real demo and
# its embedded emulator, which the tests start on free loopback ports. Only
# typescript and @types/node are installed, from the committed lockfile.
# The Expo app's own type check is `make expo-typecheck` (388 MB of
# packages: CI runs it, `make test` does not).
set -euo pipefail
cd "$(dirname "$0")/.."
GO="${GO:-go}"
if ! command -v npm >/dev/null 2>&1; then
	echo "expo-tests: MISSING node and npm (scripts/deps.sh installs them as root)" >&2
	[ "${CI:-}" = true ] && exit 1
	exit 0
fi
dir=examples/expo/logic-tests
bin="$(mktemp -d)"
trap 'rm -rf "$bin"' EXIT
$GO build -o "$bin/handoff-demo" ./cmd/handoff-demo
cd "$dir"
npm ci --no-audit --no-fund --loglevel=error
rm -rf build
npx tsc -p .
HANDOFF_DEMO_BIN="$bin/handoff-demo" node --test build/logic-tests/connections.test.js
