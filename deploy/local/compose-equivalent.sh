#!/usr/bin/env bash
# deploy/compose.yaml without Docker: the same repartd commands, with the
# same environments, in an order its depends_on allows, against kinesalite
# on 127.0.0.1 standing in for LocalStack.
#
#   deploy/local/compose-equivalent.sh
#
# REPARTD_BIN     the binary (default bin/repartd; `make build`)
# COMPOSE_EQ_PORT kinesalite's port (default 4598)
# COMPOSE_EQ_METRICS_PORT  run's metrics port (default 19090)
#
# Before each service it prints one line, `step SERVICE: VAR=VALUE ... --
# ARGS`, with the values exactly as compose.yaml has them;
# deploy/compose_test.go runs this script and compares those lines with
# compose.yaml. The values that only make sense inside Docker are mapped
# when the command runs, in one place (host_value): LocalStack's URL to
# kinesalite's, the checkpoint volume to a temporary directory, and run's
# 0.0.0.0:9090 to 127.0.0.1:COMPOSE_EQ_METRICS_PORT. Each command runs with
# only those variables (plus PATH and an empty HOME), as in a container.
# Everything it starts stops when it ends.
set -euo pipefail
cd "$(dirname "$0")/../.."

BIN=${REPARTD_BIN:-bin/repartd}
PORT=${COMPOSE_EQ_PORT:-4598}
METRICS_PORT=${COMPOSE_EQ_METRICS_PORT:-19090}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/repartd-compose.XXXXXX")
export EMU_DIR=$WORK/emulators
mkdir -p "$WORK/home" "$WORK/checkpoint"

RUN_PID=
cleanup() {
	if [[ -n $RUN_PID ]]; then kill -9 "$RUN_PID" 2>/dev/null || true; fi
	scripts/emulators.sh stop localstack >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT
die() {
	echo "compose-equivalent: $*" >&2
	if [[ -s $WORK/run.log ]]; then
		echo "last lines of run's log:" >&2
		tail -n 20 "$WORK/run.log" >&2
	fi
	exit 1
}
[[ -x $BIN ]] || die "$BIN missing: run 'make build' or set REPARTD_BIN"

# x-aws in compose.yaml
AWS=(AWS_ENDPOINT_URL=http://localstack:4566 AWS_REGION=us-east-1
	AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_EC2_METADATA_DISABLED=true)

# host_value VALUE: what a compose value becomes outside Docker.
host_value() {
	case $1 in
	http://localstack:4566) echo "http://127.0.0.1:$PORT" ;;
	/var/lib/repartd) echo "$WORK/checkpoint" ;;
	0.0.0.0:9090) echo "127.0.0.1:$METRICS_PORT" ;;
	*) echo "$1" ;;
	esac
}

# service NAME VAR=VALUE... -- ARGS...: print the step, then set CMD to the
# command that runs it (env with only those variables, mapped).
CMD=()
service() {
	local name=$1 kv
	shift
	local -a vars=()
	while [[ $1 != -- ]]; do
		vars+=("$1")
		shift
	done
	shift
	echo "step $name: ${vars[*]} -- $*"
	CMD=(env -i "PATH=$PATH" "HOME=$WORK/home")
	for kv in "${vars[@]}"; do
		CMD+=("${kv%%=*}=$(host_value "${kv#*=}")")
	done
	CMD+=("$BIN" "$@")
}

echo "step localstack: kinesalite on 127.0.0.1:$PORT"
scripts/emulators.sh start localstack kinesalite "$PORT" >/dev/null 2>&1 ||
	die "kinesalite did not start on 127.0.0.1:$PORT (scripts/emulators.sh install?)"

service create-source "${AWS[@]}" REPARTD_STREAM=dms-cdc REPARTD_SHARDS=1 -- streams create
"${CMD[@]}" || die "create-source failed"

service create-dest "${AWS[@]}" REPARTD_STREAM=dms-cdc-wide REPARTD_SHARDS=4 -- streams create
"${CMD[@]}" || die "create-dest failed"

# compose starts run and load together once the streams exist.
service run "${AWS[@]}" REPARTD_SOURCE=dms-cdc REPARTD_DEST=dms-cdc-wide \
	REPARTD_CHECKPOINT=/var/lib/repartd 'REPARTD_KEY=shop.*=id' REPARTD_LOG_INTERVAL=5s \
	REPARTD_METRICS_ADDR=0.0.0.0:9090 -- run
RUN_CMD=("${CMD[@]}")
"${RUN_CMD[@]}" 2>"$WORK/run.log" &
RUN_PID=$!

service load "${AWS[@]}" REPARTD_STREAM=dms-cdc REPARTD_RECORDS=20000 REPARTD_ROWS=2000 REPARTD_TABLES=4 -- load
"${CMD[@]}" >/dev/null || die "load failed"

# verify waits for run to be healthy: the image's HEALTHCHECK, run inside
# run's container (so with its environment).
healthy=
for ((i = 0; i < 50; i++)); do
	kill -0 "$RUN_PID" 2>/dev/null || die "run exited early"
	if "${RUN_CMD[@]:0:${#RUN_CMD[@]}-1}" healthcheck 2>/dev/null; then
		healthy=1
		break
	fi
	sleep 0.2
done
[[ -n $healthy ]] || die "run is not healthy after 10 s (/repartd healthcheck)"
echo "run is healthy"

# A user re-runs `docker compose --profile verify run --rm verify` until run
# has caught up; so does this script, for up to 60 s.
service verify "${AWS[@]}" REPARTD_SOURCE=dms-cdc REPARTD_DEST=dms-cdc-wide 'REPARTD_KEY=shop.*=id' -- verify
ok=
for ((i = 0; i < 60; i++)); do
	if "${CMD[@]}" >"$WORK/verify.json" 2>/dev/null; then
		ok=1
		break
	fi
	sleep 1
done
cat "$WORK/verify.json"
[[ -n $ok ]] || die "verify not ok after 60 s"

# docker compose down: SIGTERM; run drains and exits 0 within stop_grace_period.
kill -TERM "$RUN_PID"
rc=0
wait "$RUN_PID" || rc=$?
RUN_PID=
((rc == 0)) || die "run exited $rc after SIGTERM, want 0 (drained)"
grep '"lag_summary"' "$WORK/run.log" | tail -n 1
echo "compose-equivalent ok"
