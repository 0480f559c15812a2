#!/usr/bin/env bash
# Installs what the tests need when it is missing and this machine can:
# Chromium (browser tests) and redis-server (multi-instance tests), from
# Debian's packages. Without root or apt-get it says so and goes on: the
# tests that need them then skip loudly, except under CI=true where they fail.
set -u
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
if [ "${1:-}" = "--load" ]; then command -v wrk >/dev/null 2>&1 || need+=(wrk); fi
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "deps: installing ${need[*]} from Debian's packages"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null && apt-get install -y -qq "${need[@]}" >/dev/null || {
		echo "deps: could not install ${need[*]}" >&2
		exit 1
	}
else
	echo "deps: MISSING ${need[*]} (not root or no apt-get): tests that need them will skip" >&2
fi
