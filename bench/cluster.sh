#!/usr/bin/env bash
# Throughput per core of Nexmark tumble-count whose key_by crosses the network between two
# TaskManager processes (one slot each, parallelism 2: half of the records go to the other
# TaskManager), next to the same job in one process. "Per core" = events / user+sys CPU seconds of
# every process involved (JobManager and both TaskManagers; /usr/bin/time), release build.
#
#   cargo build --release -p ferroflink && bench/cluster.sh [events]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/ferroflink}
EVENTS=${1:-10000000}
tmp=$(mktemp -d)
pids=()
# The pids are /usr/bin/time's, which passes no signal on: signal its child (SIGTERM: background
# jobs of a script ignore SIGINT).
stop() { for p in "$@"; do pkill -TERM -P "$p" 2>/dev/null || true; done; wait "$@" 2>/dev/null || true; }
cleanup() { stop "${pids[@]}"; rm -rf "$tmp"; }
trap cleanup EXIT

cpu() { awk '/^cpu/ {print $2 + $3}' "$1"; }

/usr/bin/time -f "cpu %U %S" -o "$tmp/jm.time" "$BIN" jobmanager --bind 127.0.0.1 --rpc-port 0 --rest-port 0 2> "$tmp/jm.log" &
pids+=($!)
until grep -q "REST API and web UI on" "$tmp/jm.log"; do sleep 0.1; done
line=$(grep "REST API and web UI on" "$tmp/jm.log")
rpc=$(sed -E 's/.*RPC on ([^,]+),.*/\1/' <<< "$line")
rest=$(sed -E 's/.*web UI on (.*)/\1/' <<< "$line")
for i in 1 2; do
  /usr/bin/time -f "cpu %U %S" -o "$tmp/tm$i.time" "$BIN" taskmanager --jobmanager-address "$rpc" --slots 1 \
    --bind 127.0.0.1 --metrics-port 0 2> "$tmp/tm$i.log" &
  pids+=($!)
done
until [ "$(curl -s "$rest/overview" | grep -o '"taskmanagers":[0-9]*' | cut -d: -f2)" = 2 ]; do sleep 0.1; done
id=$("$BIN" submit --jobmanager "$rest" nexmark --query tumble-count --events "$EVENTS" --parallelism 2)
until curl -s "$rest/jobs/$id" | grep -q '"state":"FINISHED"'; do
  if curl -s "$rest/jobs/$id" | grep -q '"state":"FAILED"'; then echo "the job failed"; exit 1; fi
  sleep 0.2
done
wall_ms=$(curl -s "$rest/jobs/$id" | grep -o '"duration":[0-9]*' | cut -d: -f2)
stop "${pids[@]}"
pids=()
cluster_cpu=$(cat "$tmp"/jm.time "$tmp"/tm1.time "$tmp"/tm2.time | awk '/^cpu/ {s += $2 + $3} END {print s}')

/usr/bin/time -f "cpu %U %S %e" -o "$tmp/local.time" "$BIN" run nexmark --query tumble-count --events "$EVENTS" \
  --parallelism 2 > /dev/null
local_cpu=$(cpu "$tmp/local.time")
local_wall=$(awk '/^cpu/ {print $4}' "$tmp/local.time")

awk -v e="$EVENTS" -v cc="$cluster_cpu" -v cw="$wall_ms" -v lc="$local_cpu" -v lw="$local_wall" 'BEGIN {
  printf "%-44s %10s %10s %16s\n", "tumble-count, parallelism 2", "cpu s", "wall s", "events/s/core";
  printf "%-44s %10.2f %10.2f %16.0f\n", "two TaskManagers (key_by over the network)", cc, cw / 1000, e / cc;
  printf "%-44s %10.2f %10.2f %16.0f\n", "one process (ferroflink run)", lc, lw, e / lc;
  printf "network / local per core: %.0f%%\n", 100 * (e / cc) / (e / lc);
}'
