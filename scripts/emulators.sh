#!/usr/bin/env bash
# Local AWS emulators for repartd tests and benchmarks, without Docker.
#
#   scripts/emulators.sh install
#   scripts/emulators.sh start NAME KIND PORT [extra args]
#   scripts/emulators.sh stop NAME
#   scripts/emulators.sh stop-all
#   scripts/emulators.sh status
#
# KIND is one of
#   kinesalite     fast Kinesis emulator (deploy/local/kinesalite-local.js);
#                  extra args: --path DIR, --shardLimit N, --createStreamMs MS, ...
#   kinesis-local  LocalStack's Kinesis engine; plain HTTP on PORT, TLS on
#                  PORT+1000; configured through its environment variables
#                  (SHARD_LIMIT, CREATE_STREAM_DURATION, LOG_LEVEL, ...)
#   dynalite       DynamoDB emulator; extra args: --path DIR, ...
#
# Every emulator listens on 127.0.0.1 only. Its log is $EMU_DIR/NAME.log and
# its pid $EMU_DIR/NAME.pid. EMU_DIR defaults to .emulators at the repository
# root (a relative EMU_DIR is taken from the current directory).
# EMU_START_TIMEOUT (seconds, default and maximum 15) bounds the wait for the
# port. Versions are pinned in deploy/local/package-lock.json.
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd -P)
LOCAL_DIR=$REPO_ROOT/deploy/local
MODULES=$LOCAL_DIR/node_modules
HOST=127.0.0.1
# dynalite 4.0.0 declares node >= 20 (npm may warn EBADENGINE on 18), but all
# three emulators run on Debian 12's node 18.20; older majors are untested.
MIN_NODE_MAJOR=18

EMU_DIR=${EMU_DIR:-$REPO_ROOT/.emulators}
[[ $EMU_DIR == /* ]] || EMU_DIR=$PWD/$EMU_DIR
START_TIMEOUT=${EMU_START_TIMEOUT:-15}
if ! [[ $START_TIMEOUT =~ ^[0-9]+$ ]] || ((START_TIMEOUT < 1 || START_TIMEOUT > 15)); then
	START_TIMEOUT=15
fi
STOP_TIMEOUT=5 # seconds between SIGTERM and SIGKILL

# Set while start has launched a process that is not yet known to be up; the
# EXIT trap kills it, so a failed or interrupted start leaves nothing behind.
STARTING_PID=
STARTING_NAME=

log() { printf 'emulators: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

usage() {
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
}

# ---------------------------------------------------------------- install ---

node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null; }

ensure_node() {
	if ! command -v node >/dev/null 2>&1; then
		if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
			log "node not found; installing Debian's nodejs and npm packages"
			DEBIAN_FRONTEND=noninteractive apt-get update -qq
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
		fi
	fi
	command -v node >/dev/null 2>&1 ||
		die "node is not installed (need Node.js >= $MIN_NODE_MAJOR and npm); install it, e.g. 'apt-get install nodejs npm'"
	command -v npm >/dev/null 2>&1 ||
		die "npm is not installed (node is: $(command -v node)); install npm, e.g. 'apt-get install npm'"
	local major
	major=$(node_major)
	if ! [[ $major =~ ^[0-9]+$ ]] || ((major < MIN_NODE_MAJOR)); then
		log "warning: node $(node --version 2>/dev/null || true) is older than $MIN_NODE_MAJOR; the emulators may not run"
	fi
}

# node_modules is current when npm's own record of the install
# (node_modules/.package-lock.json) is newer than the lock file.
installed_current() {
	local marker=$MODULES/.package-lock.json
	[[ -f $marker ]] &&
		! [[ $LOCAL_DIR/package-lock.json -nt $marker ]] &&
		! [[ $LOCAL_DIR/package.json -nt $marker ]]
}

cmd_install() {
	(($# == 0)) || die "usage: $0 install"
	ensure_node
	[[ -f $LOCAL_DIR/package-lock.json ]] || die "missing $LOCAL_DIR/package-lock.json"
	if installed_current; then
		log "deploy/local/node_modules is up to date"
		return 0
	fi
	log "npm ci in deploy/local (node $(node --version), npm $(npm --version))"
	(cd -- "$LOCAL_DIR" && npm ci --no-audit --no-fund) ||
		die "npm ci failed in $LOCAL_DIR"
	# npm ci rewrites the marker; touch it so a clock skew cannot leave the
	# lock file looking newer.
	touch -- "$MODULES/.package-lock.json"
}

require_installed() {
	command -v node >/dev/null 2>&1 || die "node is not installed; run: $0 install"
	[[ -d $MODULES ]] || die "emulators are not installed; run: $0 install"
	installed_current || log "warning: deploy/local/node_modules is older than the lock file; run: $0 install"
}

# ------------------------------------------------------------ processes ---

# alive PID: the process exists and is not a zombie.
alive() {
	local pid=$1 state
	kill -0 "$pid" 2>/dev/null || return 1
	if [[ -r /proc/$pid/stat ]]; then
		state=$(<"/proc/$pid/stat") 2>/dev/null || return 1
		state=${state##*) } # fields after "pid (comm) "; the first is the state
	else
		state=$(ps -o stat= -p "$pid" 2>/dev/null) || return 1
	fi
	[[ -n $state && $state != Z* ]]
}

# ours PID NAME: PID is alive and is the emulator started as NAME (guards
# against a stale pid file whose pid was reused by another process).
ours() {
	local pid=$1 name=$2
	alive "$pid" || return 1
	if [[ -r /proc/$pid/environ ]]; then
		tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qxF "REPARTD_EMULATOR=$name"
	else
		ps -o command= -p "$pid" 2>/dev/null | grep -q node
	fi
}

# terminate PID: SIGTERM, up to STOP_TIMEOUT s, then SIGKILL. Returns 0 once
# the process is gone.
terminate() {
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
		alive "$pid" || return 0
		sleep 0.1
	done
	log "pid $pid did not exit within ${STOP_TIMEOUT}s of SIGTERM; sending SIGKILL"
	kill -KILL "$pid" 2>/dev/null || true
	for ((i = 0; i < 20; i++)); do
		alive "$pid" || return 0
		sleep 0.1
	done
	return 1
}

# now_ms: wall-clock milliseconds ($SECONDS only ticks whole seconds).
now_ms() {
	local t=${EPOCHREALTIME:-}
	if [[ -n $t ]]; then
		t=${t//[!0-9]/} # microseconds, whatever the locale's decimal point
		printf '%s\n' "$((10#$t / 1000))"
	else
		printf '%s\n' "$((SECONDS * 1000))"
	fi
}

# port_open PORT: something accepts TCP connections on 127.0.0.1:PORT.
port_open() {
	(exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

port_owner() {
	if command -v ss >/dev/null 2>&1; then
		ss -Hltnp "sport = :$1" 2>/dev/null || true
	fi
}

check_name() {
	[[ $1 =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] ||
		die "invalid NAME '$1' (letters, digits, '.', '_', '-'; not starting with '.')"
}

pid_file() { printf '%s/%s.pid' "$EMU_DIR" "$1"; }
log_file() { printf '%s/%s.log' "$EMU_DIR" "$1"; }

ensure_emu_dir() {
	mkdir -p -- "$EMU_DIR"
	# Self-ignoring run directory: nothing in it belongs in git.
	[[ -e $EMU_DIR/.gitignore ]] || printf '*\n' >"$EMU_DIR/.gitignore"
}

# ------------------------------------------------------------------ start ---

on_exit() {
	local rc=$?
	if [[ -n $STARTING_PID ]]; then
		log "start of '$STARTING_NAME' aborted; stopping pid $STARTING_PID"
		terminate "$STARTING_PID" || log "pid $STARTING_PID could not be killed"
		wait "$STARTING_PID" 2>/dev/null || true
		rm -f -- "$(pid_file "$STARTING_NAME")"
		STARTING_PID=
	fi
	exit "$rc"
}

fail_start() {
	local name=$1 msg=$2 logf
	logf=$(log_file "$name")
	log "error: $msg"
	if [[ -s $logf ]]; then
		log "last lines of $logf:"
		tail -n 25 -- "$logf" | sed 's/^/    /' >&2
	fi
	exit 1 # the EXIT trap stops the process
}

cmd_start() {
	(($# >= 3)) || die "usage: $0 start NAME kinesalite|kinesis-local|dynalite PORT [extra args]"
	local name=$1 kind=$2 port=$3
	shift 3
	check_name "$name"
	if ! [[ $port =~ ^[0-9]{1,5}$ ]] || ((10#$port < 1 || 10#$port > 65535)); then
		die "invalid PORT '$port' (1-65535)"
	fi
	port=$((10#$port))

	local -a cmd ports=("$port") envs=("REPARTD_EMULATOR=$name")
	case $kind in
	kinesalite)
		cmd=(node "$LOCAL_DIR/kinesalite-local.js" --port "$port" "$@")
		;;
	kinesis-local)
		local tls_port=$((port + 1000))
		((tls_port <= 65535)) || die "kinesis-local needs PORT+1000 ($tls_port) for TLS; pick a lower PORT"
		ports+=("$tls_port")
		envs+=("KINESIS_MOCK_CERT_PATH=$MODULES/kinesis-local/server.json"
			"KINESIS_MOCK_PLAIN_PORT=$port" "KINESIS_MOCK_TLS_PORT=$tls_port")
		cmd=(node -r "$LOCAL_DIR/force-loopback.js" "$MODULES/kinesis-local/main.js" "$@")
		;;
	dynalite)
		cmd=("$MODULES/.bin/dynalite" --host "$HOST" --port "$port"
			--createTableMs 0 --deleteTableMs 0 --updateTableMs 0 "$@")
		;;
	*) die "unknown KIND '$kind' (kinesalite | kinesis-local | dynalite)" ;;
	esac

	require_installed
	ensure_emu_dir
	local pidf logf old p
	pidf=$(pid_file "$name")
	logf=$(log_file "$name")
	if [[ -f $pidf ]]; then
		old=$(<"$pidf")
		if [[ $old =~ ^[0-9]+$ ]] && ours "$old" "$name"; then
			die "'$name' is already running (pid $old); stop it first: $0 stop $name"
		fi
		rm -f -- "$pidf"
	fi
	for p in "${ports[@]}"; do
		if port_open "$p"; then
			log "error: cannot start '$name': $HOST:$p is already accepting connections (another process)"
			port_owner "$p" | sed 's/^/    /' >&2
			exit 1
		fi
	done

	printf '=== %s: start %s %s on %s:%s: %s\n' "$(date -u +%FT%TZ)" "$name" "$kind" "$HOST" "$port" \
		"${cmd[*]}" >"$logf"
	trap on_exit EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	STARTING_NAME=$name
	# nohup: survive the end of the terminal session; env: the pid of $! is node.
	nohup env "${envs[@]}" "${cmd[@]}" </dev/null >>"$logf" 2>&1 &
	STARTING_PID=$!
	printf '%s\n' "$STARTING_PID" >"$pidf"

	local deadline
	deadline=$(($(now_ms) + START_TIMEOUT * 1000))
	while :; do
		if ! alive "$STARTING_PID"; then
			local rc=0
			wait "$STARTING_PID" 2>/dev/null || rc=$?
			STARTING_PID=
			rm -f -- "$pidf"
			fail_start "$name" "'$name' ($kind) exited with status $rc before listening on $HOST:$port"
		fi
		if port_open "$port"; then
			break
		fi
		if (($(now_ms) >= deadline)); then
			fail_start "$name" "'$name' ($kind) is not accepting connections on $HOST:$port after ${START_TIMEOUT}s"
		fi
		sleep 0.1
	done
	# A process that lost a bind race would be exiting now.
	sleep 0.2
	alive "$STARTING_PID" ||
		fail_start "$name" "'$name' ($kind) exited right after $HOST:$port opened (port taken by another process?)"

	log "started '$name' ($kind) pid $STARTING_PID on $HOST:$port (log: $logf)"
	STARTING_PID=
	trap - EXIT INT TERM
}

# ------------------------------------------------------------------- stop ---

cmd_stop() {
	(($# == 1)) || die "usage: $0 stop NAME"
	local name=$1 pidf pid
	check_name "$name"
	pidf=$(pid_file "$name")
	if [[ ! -f $pidf ]]; then
		log "'$name' is not running"
		return 0
	fi
	pid=$(<"$pidf")
	if [[ $pid =~ ^[0-9]+$ ]] && ours "$pid" "$name"; then
		terminate "$pid" || die "could not stop '$name' (pid $pid)"
		log "stopped '$name' (pid $pid)"
	else
		log "'$name' was not running (stale pid file removed)"
	fi
	rm -f -- "$pidf"
}

cmd_stop_all() {
	(($# == 0)) || die "usage: $0 stop-all"
	local f rc=0
	shopt -s nullglob
	local -a files=("$EMU_DIR"/*.pid)
	shopt -u nullglob
	if ((${#files[@]} == 0)); then
		log "no emulators to stop in $EMU_DIR"
		return 0
	fi
	for f in "${files[@]}"; do
		f=${f##*/}
		(cmd_stop "${f%.pid}") || rc=1
	done
	return "$rc"
}

cmd_status() {
	(($# == 0)) || die "usage: $0 status"
	local f name pid
	shopt -s nullglob
	for f in "$EMU_DIR"/*.pid; do
		name=${f##*/}
		name=${name%.pid}
		pid=$(<"$f")
		if [[ $pid =~ ^[0-9]+$ ]] && ours "$pid" "$name"; then
			printf '%s\trunning\tpid %s\n' "$name" "$pid"
		else
			printf '%s\tstale pid file\n' "$name"
		fi
	done
	shopt -u nullglob
}

main() {
	local sub=${1:-}
	(($# > 0)) && shift
	case $sub in
	install) cmd_install "$@" ;;
	start) cmd_start "$@" ;;
	stop) cmd_stop "$@" ;;
	stop-all) cmd_stop_all "$@" ;;
	status) cmd_status "$@" ;;
	-h | --help | help) usage ;;
	*)
		usage >&2
		exit 2
		;;
	esac
}

main "$@"
