#!/usr/bin/env bash
# Starts and drives real Redis topologies on loopback for the tests and the
# soak, from Debian's redis-server and redis-sentinel.
#
#   redis-topology.sh start KIND DIR   KIND: single, cluster or sentinel
#   redis-topology.sh stop DIR         stops every process start began; idempotent
#   redis-topology.sh restart DIR PORT graceful SHUTDOWN (AOF keeps the data), start again
#   redis-topology.sh crash DIR PORT   kill -9 the node, no restart
#   redis-topology.sh revive DIR PORT  start a crashed node again from its config
#   redis-topology.sh failover DIR     SENTINEL FAILOVER; prints the new master's address
#
# start writes DIR/env, a file of export lines, once the topology is ready:
#   every KIND  HANDOFFKIT_REDIS_KIND, HANDOFFKIT_REDIS_DIR (absolute),
#               HANDOFFKIT_REDIS_NODES=127.0.0.1:P,... (every data node)
#   single      HANDOFFKIT_REDIS_ADDR=127.0.0.1:P
#   cluster     HANDOFFKIT_REDIS_CLUSTER=127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3
#               (three masters, no replicas, all 16384 slots assigned)
#   sentinel    HANDOFFKIT_REDIS_SENTINELS=127.0.0.1:S1,127.0.0.1:S2,127.0.0.1:S3
#               HANDOFFKIT_REDIS_MASTER=handoffkit (a master and one replica)
#
# Each node has its config DIR/PORT.conf, pidfile DIR/PORT.pid, log
# DIR/PORT.log and data directory DIR/PORT; DIR/nodes lists "PORT data" and
# "PORT sentinel" lines. Sentinels and a failover rewrite the configs
# (CONFIG REWRITE), so a node restarted from its config keeps its current role.
#
# Ports: data nodes from HANDOFFKIT_REDIS_PORT_BASE, else 6400 (single), 6410
# (cluster, whose bus ports are +10000) or 6420 (sentinel); sentinels from
# that base + 20000. Busy ports, and ports a live topology started from this
# TMPDIR holds (even of a crashed node), are skipped. Every wait gives up
# after HANDOFFKIT_REDIS_TIMEOUT seconds (default 30).
set -euo pipefail

MASTER=handoffkit
TIMEOUT=${HANDOFFKIT_REDIS_TIMEOUT:-30}
REGISTRY=${TMPDIR:-/tmp}/handoffkit-redis-ports
PROG=redis-topology

say() { echo "$PROG: $*" >&2; }
die() {
	echo "$PROG: $*" >&2
	exit 1
}
usage() {
	sed -n '4,10s/^# \{0,1\}//p' "$0" >&2
	exit 2
}

# cli PORT ARGS... runs a command on 127.0.0.1:PORT; a node that does not
# answer within 3 s fails it. Carriage returns of INFO replies are dropped.
cli() {
	local port=$1 out
	shift
	out=$(timeout 3 redis-cli -h 127.0.0.1 -p "$port" "$@" 2>/dev/null) || return 1
	printf '%s\n' "${out//$'\r'/}"
}

# field TEXT NAME prints the value of NAME in "name:value" lines (INFO).
field() { awk -v k="$2" 'index($0, k ":") == 1 { print substr($0, length(k) + 2); exit }' <<<"$1"; }

# pairfield TEXT NAME prints the value after the line NAME in a flat
# name/value reply (SENTINEL MASTER).
pairfield() { awk -v k="$2" 'NR % 2 == 1 && $0 == k { getline; print; exit }' <<<"$1"; }

logtail() {
	local port=$1
	echo "  log $DIR/$port.log (last lines):"
	tail -n 15 "$DIR/$port.log" 2>/dev/null | sed 's/^/    /' || true
}

# fail PORT MESSAGE exits naming the node, with its log tail.
fail() {
	local port=$1
	shift
	die "$* (node 127.0.0.1:$port of $DIR)
$(logtail "$port")"
}

# until_ok FN ARGS... retries FN every 50 ms until it succeeds or TIMEOUT passes.
until_ok() {
	local deadline=$((SECONDS + TIMEOUT))
	until "$@"; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.05
	done
}

# --- topology directory ---------------------------------------------------

# open_dir DIR sets DIR (absolute) and KIND of an existing topology.
open_dir() {
	[ -d "$1" ] || die "no topology directory $1"
	DIR=$(cd "$1" && pwd -P)
	{ [ -f "$DIR/nodes" ] && [ -f "$DIR/kind" ]; } || die "$DIR holds no topology (no nodes file)"
	KIND=$(cat "$DIR/kind")
}

# role_of PORT prints data or sentinel, or fails when PORT is not a node of DIR.
role_of() {
	local role
	role=$(awk -v p="$1" '$1 == p { print $2 }' "$DIR/nodes")
	[ -n "$role" ] || die "127.0.0.1:$1 is not a node of $DIR (nodes: $(ports_of all | tr '\n' ' '))"
	echo "$role"
}

# ports_of data|sentinel|all lists the nodes' ports in start order.
ports_of() { awk -v r="$1" 'r == "all" || $2 == r { print $1 }' "$DIR/nodes"; }

# pid_of PORT prints the pid of the running node on PORT, or fails. The pid
# must be a redis process serving that port (pids are reused); without a
# pidfile (a node just launched) the node answering on PORT is ours when it
# runs from our config.
pid_of() {
	local port=$1 pid cmd info
	pid=$(cat "$DIR/$port.pid" 2>/dev/null || true)
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		[ -r "/proc/$pid/cmdline" ] || {
			echo "$pid"
			return 0
		}
		cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline")
		if [[ $cmd == *redis* && $cmd == *":$port"* ]]; then
			echo "$pid"
			return 0
		fi
	fi
	info=$(cli "$port" info server) || return 1
	[ "$(field "$info" config_file)" = "$DIR/$port.conf" ] || return 1
	field "$info" process_id
}

running() { pid_of "$1" >/dev/null; }
gone() { ! running "$1"; }

# --- ports ----------------------------------------------------------------

busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# claimed PORT: a live topology (not stopped, directory still there) holds it.
claimed() {
	local owner
	owner=$(readlink "$REGISTRY/$1" 2>/dev/null) || return 1
	[ "$owner" != "$DIR" ] && [ -f "$owner/nodes" ] && [ ! -e "$owner/stopped" ]
}

PICKED=" "
# pick BASE [BUS] sets PORT to the first usable port from BASE; with BUS its
# cluster bus port (PORT + 10000) must be usable too.
pick() {
	local p=$1 bus=${2:-}
	while [ "$p" -lt $(($1 + 1000)) ]; do
		if [[ $PICKED != *" $p "* ]] && ! claimed "$p" && ! busy "$p" &&
			{ [ -z "$bus" ] || { ! claimed $((p + 10000)) && ! busy $((p + 10000)); }; }; then
			PICKED+="$p "
			PORT=$p
			return 0
		fi
		p=$((p + 1))
	done
	die "no free loopback port in $1-$(($1 + 999))"
}

claim() {
	mkdir -p "$REGISTRY"
	ln -sfn "$DIR" "$REGISTRY/$1"
}

unclaim() {
	local p
	for p in "$@"; do
		[ "$(readlink "$REGISTRY/$p" 2>/dev/null)" = "$DIR" ] && rm -f "$REGISTRY/$p"
	done
	return 0
}

# lock serialises picking ports and binding them across concurrent starts.
lock() {
	mkdir -p "$REGISTRY"
	exec 9>"$REGISTRY/.lock"
	if command -v flock >/dev/null 2>&1; then
		flock -w "$TIMEOUT" 9 || die "could not lock $REGISTRY/.lock within ${TIMEOUT}s"
	fi
}
unlock() {
	if command -v flock >/dev/null 2>&1; then flock -u 9; fi
	exec 9>&-
}

# --- nodes ----------------------------------------------------------------

# write_conf PORT ROLE [MASTERPORT] writes DIR/PORT.conf.
write_conf() {
	local port=$1 role=$2 master=${3:-}
	mkdir -p "$DIR/$port"
	{
		echo "# $PROG $KIND $role node; restart with: $PROG restart $DIR $port"
		echo "port $port"
		echo "bind 127.0.0.1"
		echo "protected-mode no"
		echo "daemonize yes"
		echo "pidfile \"$DIR/$port.pid\""
		echo "logfile \"$DIR/$port.log\""
		echo "dir \"$DIR/$port\""
		if [ "$role" = sentinel ]; then
			echo "sentinel resolve-hostnames no"
			echo "sentinel announce-ip 127.0.0.1"
			echo "sentinel monitor $MASTER 127.0.0.1 $master 2"
			echo "sentinel down-after-milliseconds $MASTER 1000"
			echo "sentinel failover-timeout $MASTER 10000"
			echo "sentinel parallel-syncs $MASTER 1"
		else
			echo 'save ""'
			echo "appendonly yes"
			echo "appendfsync everysec"
			echo "enable-debug-command local"
			echo "maxmemory 256mb"
			echo "maxmemory-policy noeviction"
			# The first full sync starts at once, not 5 s later.
			echo "repl-diskless-sync-delay 0"
			case $KIND in
			cluster)
				echo "cluster-enabled yes"
				echo "cluster-config-file nodes.conf"
				echo "cluster-node-timeout 2000"
				;;
			sentinel)
				echo "replica-announce-ip 127.0.0.1"
				echo "min-replicas-to-write 0"
				[ -z "$master" ] || echo "replicaof 127.0.0.1 $master"
				;;
			esac
		fi
	} >"$DIR/$port.conf"
}

# launch PORT starts the node from DIR/PORT.conf (it daemonizes) and waits
# until it answers PING. It fails (status 1) when the node died, status 2
# when that was because its port was taken.
launch() {
	local port=$1 role
	role=$(awk -v p="$port" '$1 == p { print $2 }' "$DIR/nodes" 2>/dev/null || true)
	rm -f "$DIR/$port.pid"
	# fd 9 (the port lock) must not live on in the daemon.
	if [ "$role" = sentinel ]; then
		if command -v redis-sentinel >/dev/null 2>&1; then
			redis-sentinel "$DIR/$port.conf" >>"$DIR/$port.log" 2>&1 9>&- || return 1
		else
			redis-server "$DIR/$port.conf" --sentinel >>"$DIR/$port.log" 2>&1 9>&- || return 1
		fi
	else
		redis-server "$DIR/$port.conf" >>"$DIR/$port.log" 2>&1 9>&- || return 1
	fi
	local deadline=$((SECONDS + TIMEOUT)) started=$SECONDS
	until [ "$(cli "$port" ping || true)" = PONG ] && running "$port"; do
		# The daemon writes its pidfile at once; no live pid a moment
		# after start means it died.
		if [ $((SECONDS - started)) -ge 2 ] && ! running "$port"; then
			grep -q 'Address already in use' "$DIR/$port.log" 2>/dev/null && return 2
			return 1
		fi
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.05
	done
}

# new_node BASE ROLE [MASTERPORT] picks a port from BASE, starts a fresh node
# on it and sets PORT; a port something else took meanwhile is skipped.
new_node() {
	local base=$1 role=$2 master=${3:-} bus="" try rc
	[ "$KIND" = cluster ] && bus=yes
	for try in 1 2 3 4 5; do
		pick "$base" $bus
		claim "$PORT"
		[ -z "$bus" ] || claim $((PORT + 10000))
		write_conf "$PORT" "$role" "$master"
		echo "$PORT $role" >>"$DIR/nodes"
		rc=0
		launch "$PORT" || rc=$?
		[ "$rc" -eq 0 ] && return 0
		[ "$rc" -eq 2 ] || fail "$PORT" "$KIND $role node did not start"
		say "port $PORT was taken meanwhile (try $try); picking another"
		sed -i "/^$PORT /d" "$DIR/nodes"
		unclaim "$PORT" $((PORT + 10000))
		rm -rf "${DIR:?}/$PORT" "$DIR/$PORT.conf" "$DIR/$PORT.pid"
		mv "$DIR/$PORT.log" "$DIR/$PORT.log.taken" 2>/dev/null || true
	done
	die "could not start a $KIND $role node: ports keep being taken"
}

# --- readiness ------------------------------------------------------------

cluster_node_ok() {
	local info
	info=$(cli "$1" cluster info) || return 1
	[ "$(field "$info" cluster_state)" = ok ] &&
		[ "$(field "$info" cluster_slots_assigned)" = 16384 ] &&
		[ "$(field "$info" cluster_known_nodes)" = "$(ports_of data | wc -l)" ]
}

# wait_cluster waits until every running cluster node says cluster_state:ok.
wait_cluster() {
	local p
	[ -n "$(ports_of data)" ] || die "$DIR lists no cluster nodes"
	for p in $(ports_of data); do
		running "$p" || continue
		until_ok cluster_node_ok "$p" ||
			fail "$p" "cluster_state is not ok (or not all 16384 slots assigned) after ${TIMEOUT}s: $(cli "$p" cluster info | grep -E 'cluster_state|slots_assigned|known_nodes' | tr '\n' ' ' || true)"
	done
}

replica_link_up() {
	local info
	info=$(cli "$1" info replication) || return 1
	[ "$(field "$info" role)" = slave ] && [ "$(field "$info" master_link_status)" = up ]
}

# replicas_of SENTINELPORT prints "ip:port flags link" per replica it knows.
replicas_of() {
	local out
	out=$(cli "$1" sentinel replicas "$MASTER") || return 1
	awk 'NR % 2 == 1 { k = $0; next }
		k == "name" && n++ { print ip ":" port, flags, link }
		k == "ip" { ip = $0 } k == "port" { port = $0 } k == "flags" { flags = $0 }
		k == "master-link-status" { link = $0 }
		END { if (n) print ip ":" port, flags, link }' <<<"$out"
}

# sentinel_ready SENTINELPORT MASTERPORT REPLICAPORT: the sentinel monitors
# the master there, knows the two other sentinels and the replica, healthy.
sentinel_ready() {
	local s=$1 m=$2 r=$3 out reps
	out=$(cli "$s" sentinel master "$MASTER") || return 1
	[ "$(pairfield "$out" ip):$(pairfield "$out" port)" = "127.0.0.1:$m" ] &&
		[ "$(pairfield "$out" flags)" = master ] &&
		[ "$(pairfield "$out" num-other-sentinels)" = 2 ] &&
		[ "$(pairfield "$out" num-slaves)" = 1 ] || return 1
	reps=$(replicas_of "$s") || return 1
	[ "$reps" = "127.0.0.1:$r slave ok" ]
}

# master_of SENTINELPORT prints the master address the sentinel reports.
master_of() {
	local out
	out=$(cli "$1" sentinel get-master-addr-by-name "$MASTER") || return 1
	[ "$(wc -l <<<"$out")" = 2 ] || return 1
	echo "$(head -n 1 <<<"$out"):$(tail -n 1 <<<"$out")"
}

# wait_sentinels MASTERPORT REPLICAPORT waits until every sentinel is ready.
wait_sentinels() {
	local s m=$1 r=$2
	[ -n "$(ports_of sentinel)" ] || die "$DIR lists no sentinels"
	for s in $(ports_of sentinel); do
		until_ok sentinel_ready "$s" "$m" "$r" || {
			local out
			out=$(cli "$s" sentinel master "$MASTER" | paste -sd' ' || true)
			fail "$s" "sentinel not ready after ${TIMEOUT}s (want master 127.0.0.1:$m, 2 other sentinels, replica 127.0.0.1:$r ok; it says: $out; replicas: $(replicas_of "$s" | paste -sd' ' || true))"
		}
	done
}

# --- subcommands ----------------------------------------------------------

write_env() {
	local var
	{
		printf 'export HANDOFFKIT_REDIS_KIND=%s\n' "$KIND"
		printf 'export HANDOFFKIT_REDIS_DIR=%q\n' "$DIR"
		printf 'export HANDOFFKIT_REDIS_NODES=%s\n' "$(ports_of data | sed 's/^/127.0.0.1:/' | paste -sd,)"
		for var in "$@"; do printf 'export %s\n' "$var"; done
	} >"$DIR/env.tmp"
	mv "$DIR/env.tmp" "$DIR/env"
}

cmd_start() {
	[ $# -eq 2 ] || usage
	KIND=$1
	case $KIND in single | cluster | sentinel) ;; *) die "unknown KIND $KIND (single, cluster or sentinel)" ;; esac
	command -v redis-server >/dev/null 2>&1 || die "redis-server is not installed (scripts/deps.sh installs it)"
	mkdir -p "$2"
	DIR=$(cd "$2" && pwd -P)
	[[ $DIR != *[\"\\]* ]] || die "$DIR: a directory name with quotes or backslashes does not fit a redis config"
	[ ! -e "$DIR/nodes" ] || die "$DIR already holds a topology; stop it and remove the directory first"
	echo "$KIND" >"$DIR/kind"
	: >"$DIR/nodes"
	local t0=$SECONDS base
	case $KIND in
	single) base=${HANDOFFKIT_REDIS_PORT_BASE:-6400} ;;
	cluster) base=${HANDOFFKIT_REDIS_PORT_BASE:-6410} ;;
	sentinel) base=${HANDOFFKIT_REDIS_PORT_BASE:-6420} ;;
	esac
	# Stops what started so far when start fails or is stopped half way.
	CHILD=
	trap 'rc=$?; [ "$rc" -eq 0 ] || {
		[ -z "$CHILD" ] || kill "$CHILD" 2>/dev/null || true
		say "start failed; stopping what it started in $DIR"; (cmd_stop "$DIR") || true; }' EXIT
	trap 'exit 129' HUP
	trap 'exit 130' INT
	trap 'exit 143' TERM

	lock
	case $KIND in
	single)
		new_node "$base" data
		unlock
		write_env "HANDOFFKIT_REDIS_ADDR=127.0.0.1:$PORT"
		;;
	cluster)
		local ports=() p
		for _ in 1 2 3; do
			new_node "$base" data
			ports+=("127.0.0.1:$PORT")
		done
		unlock
		say "cluster: creating on ${ports[*]}"
		# In the background, so that a signal stops the start at once.
		timeout "$TIMEOUT" redis-cli --cluster create "${ports[@]}" --cluster-replicas 0 --cluster-yes \
			>"$DIR/cluster-create.log" 2>&1 </dev/null &
		CHILD=$!
		if ! wait "$CHILD"; then
			die "redis-cli --cluster create ${ports[*]} failed:
$(tail -n 15 "$DIR/cluster-create.log" | sed 's/^/    /')"
		fi
		CHILD=
		wait_cluster
		write_env "HANDOFFKIT_REDIS_CLUSTER=$(
			IFS=,
			echo "${ports[*]}"
		)"
		;;
	sentinel)
		local m r sents=()
		new_node "$base" data
		m=$PORT
		new_node "$base" data "$m"
		r=$PORT
		# A sentinel learns the replica from the master's INFO, which it
		# reads on connecting and then only every 10 s: link up first.
		until_ok replica_link_up "$r" || fail "$r" "replica's master_link_status is not up after ${TIMEOUT}s"
		for _ in 1 2 3; do
			new_node $((base + 20000)) sentinel "$m"
			sents+=("127.0.0.1:$PORT")
		done
		unlock
		wait_sentinels "$m" "$r"
		write_env "HANDOFFKIT_REDIS_SENTINELS=$(
			IFS=,
			echo "${sents[*]}"
		)" "HANDOFFKIT_REDIS_MASTER=$MASTER"
		;;
	esac
	trap - EXIT HUP INT TERM
	say "$KIND ready in $((SECONDS - t0))s: $(ports_of all | sed 's/^/127.0.0.1:/' | paste -sd' '); env in $DIR/env"
}

cmd_stop() {
	[ $# -eq 1 ] || usage
	if [ ! -f "$1/nodes" ]; then
		say "nothing to stop in $1"
		return 0
	fi
	open_dir "$1"
	local p pid ports=() alive
	# Sentinels first, so none fails over while the data nodes go.
	for p in $(ports_of sentinel) $(ports_of data); do
		running "$p" && ports+=("$p")
	done
	local deadline=$((SECONDS + TIMEOUT)) next=0
	while :; do
		alive=()
		for p in "${ports[@]}"; do
			running "$p" && alive+=("$p")
		done
		[ ${#alive[@]} -gt 0 ] || break
		if [ "$SECONDS" -ge "$deadline" ]; then
			for p in "${alive[@]}"; do
				say "127.0.0.1:$p did not exit on SIGTERM within ${TIMEOUT}s; killing it"
				if pid=$(pid_of "$p"); then kill -KILL "$pid" 2>/dev/null || true; fi
			done
			deadline=$((SECONDS + 5))
			continue
		fi
		# Redis drops a SIGTERM it cannot act on yet ("Writing initial
		# AOF, can't exit" just after a full sync): send it again each second.
		if [ "$SECONDS" -ge "$next" ]; then
			for p in "${alive[@]}"; do
				if pid=$(pid_of "$p"); then kill -TERM "$pid" 2>/dev/null || true; fi
			done
			next=$((SECONDS + 1))
		fi
		sleep 0.05
	done
	touch "$DIR/stopped"
	# shellcheck disable=SC2046 # the port lists are words
	unclaim $(ports_of all) $(ports_of data | awk '{ print $1 + 10000 }')
	say "stopped ${#ports[@]} process(es) of $DIR"
}

# usable DIR PORT opens DIR for restart, crash and revive.
usable() {
	[ $# -eq 2 ] || usage
	open_dir "$1"
	[ ! -e "$DIR/stopped" ] || die "$DIR was stopped"
	ROLE=$(role_of "$2")
}

# healthy PORT reports whether the node is fully in service, for a restart
# to wait until it is again: a cluster node sees cluster_state:ok, a
# replica its master link up.
healthy() {
	local port=$1
	[ "$ROLE" = data ] || return 0
	case $KIND in
	cluster) cluster_node_ok "$port" ;;
	sentinel) replica_link_up "$port" ;;
	*) return 1 ;;
	esac
}

wait_healthy() {
	local port=$1
	case $KIND in
	cluster) wait_cluster ;;
	sentinel) until_ok replica_link_up "$port" || fail "$port" "replica's master link not up after ${TIMEOUT}s" ;;
	esac
}

cmd_restart() {
	usable "$@"
	local port=$2 was=no
	if ! running "$port"; then
		say "127.0.0.1:$port was not running; starting it"
		cmd_revive "$@"
		return
	fi
	healthy "$port" && was=yes
	say "restart: SHUTDOWN 127.0.0.1:$port"
	# Redis refuses a SHUTDOWN it cannot do yet ("Writing initial AOF,
	# can't exit" just after a full sync): ask again each second.
	local deadline=$((SECONDS + TIMEOUT)) reply=""
	while running "$port"; do
		[ "$SECONDS" -lt "$deadline" ] || fail "$port" "did not exit within ${TIMEOUT}s of SHUTDOWN${reply:+ (it said: $reply)}"
		reply=$(timeout "$TIMEOUT" redis-cli -h 127.0.0.1 -p "$port" shutdown 2>&1 || true)
		for _ in $(seq 20); do
			gone "$port" && break
			sleep 0.05
		done
	done
	local rc=0
	launch "$port" || rc=$?
	[ "$rc" -eq 0 ] || fail "$port" "did not start again from $DIR/$port.conf"
	[ "$was" = no ] || wait_healthy "$port"
	say "restart: 127.0.0.1:$port is back"
}

cmd_crash() {
	usable "$@"
	local port=$2 pid
	pid=$(pid_of "$port") || die "127.0.0.1:$port of $DIR is not running"
	kill -KILL "$pid"
	until_ok gone "$port" || die "127.0.0.1:$port (pid $pid) did not die on SIGKILL"
	rm -f "$DIR/$port.pid"
	say "crash: killed 127.0.0.1:$port (pid $pid)"
}

cmd_revive() {
	usable "$@"
	local port=$2 rc=0
	if running "$port"; then
		say "revive: 127.0.0.1:$port is already running"
		return 0
	fi
	launch "$port" || rc=$?
	[ "$rc" -eq 0 ] || fail "$port" "did not start again from $DIR/$port.conf"
	say "revive: 127.0.0.1:$port answers PING"
	# With every node back a cluster can serve again: wait until it does.
	if [ "$KIND" = cluster ] && [ "$ROLE" = data ]; then
		local p
		for p in $(ports_of data); do running "$p" || return 0; done
		wait_cluster
		say "revive: cluster_state:ok on every node"
	fi
}

# agreed OLD: every sentinel reports one master address other than OLD, and
# that node says it is a master. Sets NEW.
agreed() {
	local old=$1 s addr first="" role
	for s in $(ports_of sentinel); do
		addr=$(master_of "$s") || return 1
		[ "$addr" != "$old" ] || return 1
		[ -z "$first" ] || [ "$addr" = "$first" ] || return 1
		first=$addr
	done
	role=$(cli "${first##*:}" role) || return 1
	[ "$(head -n 1 <<<"$role")" = master ] || return 1
	NEW=$first
}

# demoted OLD NEW: the old master is a replica of NEW with its link up, and
# every sentinel lists it as a replica.
demoted() {
	local old=$1 new=$2 info s
	info=$(cli "${old##*:}" info replication) || return 1
	[ "$(field "$info" role)" = slave ] &&
		[ "$(field "$info" master_port)" = "${new##*:}" ] &&
		[ "$(field "$info" master_link_status)" = up ] || return 1
	for s in $(ports_of sentinel); do
		[[ "$(replicas_of "$s" || true)" == "$old slave "* ]] || return 1
	done
}

# demote OLD NEW makes the old master a replica of NEW the way a sentinel
# does (REPLICAOF, CONFIG REWRITE so a restart keeps the role, and dropping
# its clients so they look the master up again), without the sentinel's wait.
demote() {
	local old=$1 new=$2
	printf '%s\n' MULTI "REPLICAOF ${new%:*} ${new##*:}" "CONFIG REWRITE" \
		"CLIENT KILL TYPE normal" "CLIENT KILL TYPE pubsub" EXEC |
		timeout 3 redis-cli -h 127.0.0.1 -p "${old##*:}" >/dev/null 2>&1 || true
}

cmd_failover() {
	[ $# -eq 1 ] || usage
	open_dir "$1"
	[ "$KIND" = sentinel ] || die "failover needs a sentinel topology; $DIR is $KIND"
	[ ! -e "$DIR/stopped" ] || die "$DIR was stopped"
	local s1 old reply deadline=$((SECONDS + TIMEOUT))
	s1=$(ports_of sentinel | head -n 1)
	old=$(master_of "$s1") || fail "$s1" "sentinel does not report a master for $MASTER"
	say "failover: SENTINEL FAILOVER $MASTER on 127.0.0.1:$s1 (master now $old)"
	# INPROG (a failover still running) and NOGOODSLAVE (no replica in sync
	# yet) pass: retry them.
	until reply=$(cli "$s1" sentinel failover "$MASTER") && [ "$reply" = OK ]; do
		case $reply in
		*INPROG* | *NOGOODSLAVE*) [ "$SECONDS" -lt "$deadline" ] || fail "$s1" "SENTINEL FAILOVER: $reply for ${TIMEOUT}s" ;;
		*) fail "$s1" "SENTINEL FAILOVER: ${reply:-no answer}" ;;
		esac
		sleep 0.2
	done
	until_ok agreed "$old" || fail "$s1" "sentinels did not agree on a new master (other than $old) within ${TIMEOUT}s: $(for s in $(ports_of sentinel); do master_of "$s" || echo '?'; done | paste -sd' ')"
	say "failover: sentinels report $NEW"
	# The sentinels demote a live old master only 10 s or more after the
	# switch, when they see it still claiming to be a master: until then
	# there are two masters. Demote it now, as they would, so the next
	# failover (and every client) meets one master with one replica.
	if running "${old##*:}"; then
		demote "$old" "$NEW"
		until_ok demoted "$old" "$NEW" || fail "${old##*:}" "old master did not become a replica of $NEW within ${TIMEOUT}s"
		say "failover: $old is a replica of $NEW"
	fi
	echo "$NEW"
}

case ${1:-} in
start | stop | restart | crash | revive | failover)
	sub=$1
	shift
	"cmd_$sub" "$@"
	;;
*) usage ;;
esac
