#!/usr/bin/env bash
# Type-checks the Expo example (examples/expo: App.tsx and src/) with tsc
# against the expo, expo-web-browser, expo-linking and react-native types,
# installed from the committed lockfile (about 390 MB; CI runs it, `make
# test` does not). It runs `npm install`, not `npm ci`: the lockfile lacks
# the prebuilt binaries of other systems that some Expo packages list as
# optional (the registry it was made against did not serve them), which
# `npm ci` refuses. npm install keeps every locked version; the script
# fails if it changed the lockfile. No install scripts run: types only.
set -euo pipefail
cd "$(dirname "$0")/../examples/expo"
if ! command -v npm >/dev/null 2>&1; then
	echo "expo-typecheck: MISSING node and npm (scripts/deps.sh installs them as root)" >&2
	exit 1
fi
locked="$(mktemp)"
trap 'rm -f "$locked"' EXIT
cp package-lock.json "$locked"
npm install --no-audit --no-fund --ignore-scripts --loglevel=error
if ! cmp -s "$locked" package-lock.json; then
	cp "$locked" package-lock.json
	echo "expo-typecheck: npm install changed package-lock.json: update it with npm install and commit it" >&2
	exit 1
fi
npx tsc --noEmit
echo "expo-typecheck: examples/expo type-checks against the Expo types"
