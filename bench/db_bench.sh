#!/usr/bin/env bash
# RocksDB's own read-modify-write figure on this machine, with the options ferroflink's RocksDB
# backend uses, next to `ferroflink bench-state` (see BENCHMARKS.md). Installs Debian's
# rocksdb-tools (db_bench) when missing. Usage: bench/db_bench.sh [keys] [updates]
set -euo pipefail
keys=${1:-10000000}
updates=${2:-50000000}
if ! command -v db_bench >/dev/null 2>&1; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq rocksdb-tools >/dev/null
fi
db=$(mktemp -d)
trap 'rm -rf "$db"' EXIT
# Same shape as the backend: ~8-byte keys and values, 512 MiB block cache with index and filter
# blocks in it, 10-bit Bloom filters, 16 KiB blocks, LZ4, no write-ahead log, 2 background jobs.
common=(--db="$db" --num="$keys" --key_size=8 --value_size=8 --cache_size=536870912
  --cache_index_and_filter_blocks=1 --bloom_bits=10 --block_size=16384 --compression_type=lz4
  --disable_wal=1 --max_background_jobs=2 --threads=1 --statistics=0)
db_bench "${common[@]}" --benchmarks=fillrandom --use_existing_db=0 2>/dev/null | grep -E "^fillrandom"
/usr/bin/time -f 'updaterandom process: %e s wall, %U s user, %S s sys' \
  db_bench "${common[@]}" --benchmarks=updaterandom --use_existing_db=1 --reads="$updates" 2>&1 \
  | grep -E '^updaterandom|process:' | tee /dev/stderr | awk -v n="$updates" \
    '/process:/ { printf "db_bench updaterandom: %.0f updates per CPU-second\n", n / ($6 + $9) }'
