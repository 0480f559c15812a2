#!/usr/bin/env bash
# Installs what the tests need when it is missing and this machine can:
# Chromium (browser tests), redis-server and redis-sentinel (multi-instance,
# cluster and sentinel tests, started by scripts/redis-topology.sh),
# postgresql (the pgtokens tests, started by scripts/with-postgres.sh) and
# node with npm (the Expo example's tests, scripts/expo-tests.sh), from
# Debian's packages. Without root or apt-get it says so and goes on: the
# tests that need them then skip loudly, except under CI=true where they fail.
#
# Debian's redis and postgresql packages start a default service
# (redis-server on 6379, redis-sentinel on 26379, the PostgreSQL cluster
# "main" on 5432) where the init system lets them. Our scripts never
# use those ports; the services of packages installed here are stopped (and
# disabled under systemd) so nothing of them lingers. Services of packages
# that were already installed are left alone.
set -u
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v redis-sentinel >/dev/null 2>&1 || need+=(redis-sentinel)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || command -v initdb >/dev/null 2>&1 || need+=(postgresql)
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || need+=(nodejs npm)
if [ "${1:-}" = "--load" ]; then command -v wrk >/dev/null 2>&1 || need+=(wrk); fi
[ ${#need[@]} -eq 0 ] && exit 0

# stop_service NAME stops the default service a package just installed started.
stop_service() {
	if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
		systemctl disable --now "$1" >/dev/null 2>&1 || true
	elif command -v service >/dev/null 2>&1; then
		service "$1" stop >/dev/null 2>&1 || true
	fi
}

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "deps: installing ${need[*]} from Debian's packages"
	export DEBIAN_FRONTEND=noninteractive
	if ! { apt-get update -qq >/dev/null && apt-get install -y -qq "${need[@]}" >/dev/null; }; then
		echo "deps: could not install ${need[*]}" >&2
		exit 1
	fi
	for pkg in "${need[@]}"; do
		case $pkg in
		redis-server | redis-sentinel | postgresql)
			stop_service "$pkg"
			echo "deps: stopped the $pkg default service (the tests use their own ports)"
			;;
		esac
	done
else
	echo "deps: MISSING ${need[*]} (not root or no apt-get): tests that need them will skip" >&2
fi
