#!/usr/bin/env bash
# repartd demo: one DMS-style hot shard spread over a 16-shard stream on a
# local kinesalite, then a kill -9 in the middle of a run, checked by verify.
# Started by `make demo` (which builds bin/repartd and installs kinesalite).
# Everything runs on 127.0.0.1 and stops when the script ends.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=${DEMO_PORT:-4599}
RECORDS=${DEMO_RECORDS:-60000}
BIN=bin/repartd
WORK=$(mktemp -d "${TMPDIR:-/tmp}/repartd-demo.XXXXXX")
export EMU_DIR=$WORK/emulators
export AWS_ENDPOINT_URL=http://127.0.0.1:$PORT AWS_REGION=us-east-1 \
	AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN

RUN_PID=
cleanup() {
	[[ -n $RUN_PID ]] && kill -9 "$RUN_PID" 2>/dev/null || true
	scripts/emulators.sh stop-all >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
# show the lag and lifecycle lines of a run log (console format)
show() { grep -E ' (lag|relay starting|reading shard|drained|relay stopped|final checkpoint|caught up)|key columns learned' "$1" | grep -v lag_summary | cut -c1-220 || true; }
run_args=(run --source dms-cdc --dest dms-cdc-wide --checkpoint "$WORK/checkpoint"
	--log-format console --log-interval 2s --stop-when-idle 2s --metrics-addr 127.0.0.1:0)

[[ -x $BIN ]] || { echo "demo: $BIN missing: run 'make demo'" >&2; exit 1; }
say "kinesalite on 127.0.0.1:$PORT"
scripts/emulators.sh start demo-kinesis kinesalite "$PORT"

say "streams: dms-cdc (1 shard, like a DMS target) and dms-cdc-wide (16 shards)"
$BIN streams create --stream dms-cdc --shards 1
$BIN streams create --stream dms-cdc-wide --shards 16

say "load: $RECORDS DMS CDC records, all under one partition key (the hot shard)"
$BIN load --stream dms-cdc --records "$RECORDS" --rows 6000 --tables 4

say "run: relay until caught up (lag lines every 2 s)"
$BIN "${run_args[@]}" 2>"$WORK/run1.log"
show "$WORK/run1.log"
rate=$(grep -o 'records_out_per_busy_s=[0-9.]*' "$WORK/run1.log" | cut -d= -f2)
busy=$(grep -o 'busy_s=[0-9.]*' "$WORK/run1.log" | head -1 | cut -d= -f2)
printf '\nthroughput: %s records in %.2f s of relaying = %.0f records/s (source and destination on one kinesalite)\n' "$RECORDS" "$busy" "$rate"

say "crash test: load 30000 more while repartd runs, kill -9 it after 1.5 s, restart"
$BIN load --stream dms-cdc --records 30000 --rows 6000 --tables 4 --seed 2 >/dev/null &
LOAD_PID=$!
$BIN "${run_args[@]}" 2>"$WORK/run2.log" &
RUN_PID=$!
sleep 1.5
kill -9 "$RUN_PID" && wait "$RUN_PID" 2>/dev/null || true
RUN_PID=
echo "killed with SIGKILL; checkpoint on disk:"
sed 's/^/  /' "$WORK/checkpoint/dms-cdc.json"
wait "$LOAD_PID"
$BIN "${run_args[@]}" 2>"$WORK/run3.log"
show "$WORK/run3.log" | grep -E 'relay starting|relay stopped'

say "verify: every source record in the destination, each row's changes in order"
$BIN verify --source dms-cdc --dest dms-cdc-wide --histogram | tee "$WORK/verify.json"
grep -q '"ok":true' "$WORK/verify.json"
echo
echo "demo ok: one hot shard spread over 16 shards; 0 missing, 0 order violations (duplicates only from the kill -9)"
