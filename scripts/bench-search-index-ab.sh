#!/usr/bin/env bash
# What the SQLite search index costs the send path: two `natter serve` of the same release
# build side by side, one with the `messages_search_*` triggers dropped (migration
# 0011_search_queue.sql: they queue each change for the indexer thread, so without them
# nothing is queued or indexed), and `natter-bench send` against each in turn, RUNS rounds
# (default 3). Prints msg/s, p50 and p99 ms per run. Needs sqlite3.
#
#   scripts/bench-search-index-ab.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-3}"
OUT="${OUT:-/tmp/natter-search-index-ab}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/natter-target}"
command -v sqlite3 >/dev/null || { echo "sqlite3 CLI missing" >&2; exit 1; }

cargo build --release -q -p natter-server -p natter-bench
rm -rf "$OUT"
mkdir -p "$OUT/bin"
cp "$CARGO_TARGET_DIR/release/natter" "$CARGO_TARGET_DIR/release/natter-bench" "$OUT/bin/"
KEY="nk_bench_$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
SECRET="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true' EXIT

start() { # NAME PORT
  mkdir -p "$OUT/$1"
  NATTER_API_KEYS="$KEY" NATTER_JWT_SECRET="$SECRET" NATTER_LISTEN="127.0.0.1:$2" \
    NATTER_DATA_DIR="$OUT/$1" "$OUT/bin/natter" serve > "$OUT/$1/log" 2>&1 &
  PIDS+=($!)
}
start indexed 18301
start unindexed 18302
for _ in $(seq 100); do
  curl -sf http://127.0.0.1:18301/readyz >/dev/null && curl -sf http://127.0.0.1:18302/readyz >/dev/null && break
  sleep 0.1
done
sqlite3 "$OUT/unindexed/natter.db" \
  "DROP TRIGGER messages_search_insert; DROP TRIGGER messages_search_update; DROP TRIGGER messages_search_delete;"

for run in $(seq "$RUNS"); do
  for side in indexed:18301 unindexed:18302; do
    printf 'run %d, %-9s (load %s): ' "$run" "${side%%:*}" "$(cut -d' ' -f1 /proc/loadavg)"
    NATTER_BENCH_API_KEY="$KEY" "$OUT/bin/natter-bench" --url "http://127.0.0.1:${side##*:}" \
      send --senders 16 --duration 10 2>/dev/null |
      python3 -c 'import json, sys; r = json.load(sys.stdin); print(r["messages_per_s"], "msg/s, p50", r["latency"]["p50_ms"], "ms, p99", r["latency"]["p99_ms"], "ms,", r["errors"], "errors")'
    sleep 2
  done
done
