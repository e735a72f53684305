#!/usr/bin/env bash
# Every natter-bench measurement of BENCHMARKS.md, RUNS times each, on a release build, and a
# table of medians (min–max) at the end.
#
#   scripts/bench-all.sh                 # ~15 minutes with the defaults
#   RUNS=5 DURATION=20 scripts/bench-all.sh
#   ONLY=send scripts/bench-all.sh       # only the series whose label contains "send"
#
# Environment: RUNS (3), DURATION seconds per run (10), CONNECTIONS (10000), SCALE (1 adds
# history at 10k, 100k and 1M messages, and 20k beside 1M in other conversations), OUT (directory
# for results.jsonl and summary.md, default /tmp/natter-bench-all), PGURL (the PostgreSQL
# server, default postgres://postgres@127.0.0.1:5432; the database natter_bench is dropped
# and created before each PostgreSQL run; set PGURL= to skip PostgreSQL), ONLY (a substring
# of the labels to run), CARGO_TARGET_DIR.
#
# Each line of results.jsonl is {"label", "run", "load1" (load average at the start of the
# run), "report": <natter-bench's JSON line>}. With --baseline, natter-bench prints the
# baseline's report first ("server": "baseline"), then the scenario's with ratio_to_baseline.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS="${RUNS:-3}"
DURATION="${DURATION:-10}"
CONNECTIONS="${CONNECTIONS:-10000}"
OUT="${OUT:-/tmp/natter-bench-all}"
PGURL="${PGURL-postgres://postgres@127.0.0.1:5432}"
ONLY="${ONLY:-}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/natter-target}"
mkdir -p "$OUT"

cargo build --release -q -p natter-server -p natter-bench
# The shared target directory's release/ is overwritten by builds of other checkouts: measure
# private copies of the binaries just built.
mkdir -p "$OUT/bin"
cp "$CARGO_TARGET_DIR/release/natter" "$CARGO_TARGET_DIR/release/natter-bench" "$OUT/bin/"
B="$OUT/bin"
# Both the generator and the spawned server inherit this; each idle connection costs one
# file descriptor on each side.
ulimit -n "$(ulimit -Hn)" || true
RESULTS="$OUT/results.jsonl"
: > "$RESULTS"
echo "natter-bench all: $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $RUNS runs of ${DURATION}s, ulimit -n $(ulimit -n), results in $RESULTS" >&2

# series LABEL ARGS…: runs natter-bench RUNS times with ARGS, appending labelled lines. When
# PREPARE names a command, it runs before each run.
PREPARE=""
series() {
  local label="$1"
  shift
  if [[ -n "$ONLY" && "$label" != *"$ONLY"* ]]; then return; fi
  for run in $(seq "$RUNS"); do
    if [[ -n "$PREPARE" ]]; then "$PREPARE"; fi
    local load
    load="$(cut -d' ' -f1 /proc/loadavg)"
    echo "--- $label, run $run/$RUNS (load $load)" >&2
    "$B/natter-bench" "$@" | while IFS= read -r line; do
      printf '{"label":"%s","run":%d,"load1":%s,"report":%s}\n' "$label" "$run" "$load" "$line"
    done >> "$RESULTS"
    sleep 2
  done
}

fresh_postgres_database() {
  psql -q "$PGURL/postgres" -c 'DROP DATABASE IF EXISTS natter_bench' \
    -c 'CREATE DATABASE natter_bench' >/dev/null
}

# postgres_series LABEL ARGS…: as series, with the server on a fresh database each run.
postgres_series() {
  local label="$1"
  shift
  if [[ -z "$PGURL" ]]; then echo "--- $label SKIPPED: PGURL is empty" >&2; return; fi
  PREPARE=fresh_postgres_database
  series "$label" --spawn "$B/natter" --database-url "$PGURL/natter_bench" "$@"
  PREPARE=""
}

D="$DURATION"
series "sqlite batch 16 full" baseline sqlite --batch 16 --duration "$D"
series "sqlite batch 256 full" baseline sqlite --batch 256 --duration "$D"
series "sqlite batch 16 full, search index, savepoint per row" baseline sqlite --batch 16 --search-index --savepoint-per-row --duration "$D"
series "send 16 -> 1 group, full" --baseline --spawn "$B/natter" --durability full send --senders 16 --conversations 1 --duration "$D"
series "send 16 -> 1 group, normal" --spawn "$B/natter" --durability normal send --senders 16 --conversations 1 --duration "$D"
# The realistic shape: every sender in a conversation of its own (each adds its own pages
# to a commit).
series "send 16 -> 16 groups, full" --spawn "$B/natter" --durability full send --senders 16 --conversations 16 --duration "$D"
series "fanout 1 x 100 closed loop" --baseline --spawn "$B/natter" fanout --receivers 100 --closed-loop --duration "$D"
series "fanout 1 x 100 at 100 msg/s" --spawn "$B/natter" fanout --receivers 100 --rate 100 --duration "$D"
# Capacity: 1,000 receivers offered 1,200 msg/s (1.2M deliveries/s), both servers at the
# same offered load; what each delivers with 0 missed is what it sustains.
series "fanout 1 x 1000 at 1200 msg/s" --baseline --spawn "$B/natter" fanout --receivers 1000 --rate 1200 --duration "$D"
series "history 20k" --baseline --spawn "$B/natter" history --messages 20000 --duration "$D"
# The same in a group of 1,000 more members, whose read markers every page summarises.
series "history 20k, 1000 members" --spawn "$B/natter" history --messages 20000 --members 1000 --duration "$D"
# A thread's pages: every 100th message of the 20,000 a reply in one thread (200 replies).
series "history 20k, thread" --spawn "$B/natter" history --messages 20000 --thread-every 100 --duration "$D"
# Reactions on the pages: three on every 5th message (the common case), then 1,000 on
# every 100th of 2,000 (what a page costs when one message drew a crowd).
series "history 20k, reactions" --spawn "$B/natter" history --messages 20000 --reactions-every 5 --reactors 3 --duration "$D"
series "history 2k, 1000 reactions" --spawn "$B/natter" history --messages 2000 --reactions-every 100 --reactors 1000 --duration "$D"
series "connections $CONNECTIONS" --spawn "$B/natter" connections --connections "$CONNECTIONS"
series "mixed 100 users" --spawn "$B/natter" mixed --users 100 --duration "$D"
series "members 10" --spawn "$B/natter" members --members 10 --rounds 200
series "members 1000" --spawn "$B/natter" members --members 1000 --rounds 200
# Storage scale (opt-in: SCALE=1; the 1M fill alone takes several minutes through the API).
# One conversation filled to each size; page latency and the posts of the last 10 % of
# the fill (fill_tail_latency) show whether reading and sending stay flat as it grows.
# Then the same 20,000-message conversation beside 1M messages of 10,000 other
# conversations (the search corpus: realistic texts, 2–6 members each).
if [[ "${SCALE:-0}" == "1" ]]; then
  for size in 10000 100000 1000000; do
    series "history scale $size" --spawn "$B/natter" history --messages "$size" --duration "$D"
  done
  series "history 20k beside 1M" --spawn "$B/natter" history --messages 20000 --background-messages 1000000 --duration "$D"
fi
postgres_series "postgres send 16 -> 1 group" send --senders 16 --conversations 1 --duration "$D"
postgres_series "postgres send 16 -> 16 groups" send --senders 16 --conversations 16 --duration "$D"
postgres_series "postgres history 20k" history --messages 20000 --duration "$D"
postgres_series "postgres history 20k, thread" history --messages 20000 --thread-every 100 --duration "$D"
# The only PostgreSQL line that exhausts the pool (100 users, 16 connections): what caught
# the connection shelf holding connections that callers waiting in the pool needed.
postgres_series "postgres mixed 100 users" mixed --users 100 --duration "$D"

python3 - "$RESULTS" > "$OUT/summary.md" <<'EOF'
import json, statistics, sys
from collections import OrderedDict

series = OrderedDict()
for line in open(sys.argv[1]):
    row = json.loads(line)
    report = row["report"]
    key = (row["label"], report.get("server", "natter"))
    series.setdefault(key, []).append((row["load1"], report))

def figure(report):
    scenario = report["scenario"]
    if scenario == "send":
        return "msg/s", report["messages_per_s"], report["latency"]
    if scenario == "fanout":
        return "deliveries/s", report["deliveries_per_s"], report["latency"]
    if scenario == "history":
        return "pages/s", report["pages_per_s"], report["latency"]
    if scenario == "baseline_sqlite":
        return "rows/s", report["rows_per_s"], report["commit_latency"]
    if scenario == "mixed":
        return "ops/s", report["operations_per_s"], None
    if scenario == "connections":
        return "KB/connection", report["kb_per_connection"], report["connect_latency"]
    if scenario == "members":
        return "GET message ms", report["get_message"]["p50_ms"], report["get_message"]
    return "?", None, None

def cell(values, digits=1):
    values = [v for v in values if v is not None]
    if not values:
        return "—"
    if all(isinstance(v, int) for v in values):
        digits = 0
    fmt = lambda v: f"{v:,.{digits}f}"
    if len(values) == 1:
        return fmt(values[0])
    return f"{fmt(statistics.median(values))} ({fmt(min(values))}–{fmt(max(values))})"

print("| series | server | runs | figure | median (min–max) | p50 ms | p99 ms | ratio to baseline | server / bench cores | steal / iowait cores | load |")
print("|---|---|---:|---|---|---|---|---|---|---|---|")
for (label, server), runs in series.items():
    unit = figure(runs[0][1])[0]
    values = [figure(r)[1] for _, r in runs]
    latencies = [figure(r)[2] for _, r in runs]
    p50 = cell([l and l["p50_ms"] for l in latencies], 2)
    p99 = cell([l and l["p99_ms"] for l in latencies], 2)
    ratios = cell([(r.get("ratio_to_baseline") or {}).get("ratio") for _, r in runs], 3)
    cpu = [r.get("cpu") or {} for _, r in runs]
    cores = f'{cell([c.get("server_cores") for c in cpu], 2)} / {cell([c.get("bench_cores") for c in cpu], 2)}'
    machine = [c.get("machine") or {} for c in cpu]
    waits = f'{cell([m.get("steal_cores") for m in machine], 2)} / {cell([m.get("iowait_cores") for m in machine], 2)}'
    loads = ", ".join(f"{load:.1f}" for load, _ in runs)
    digits = 2 if unit in ("KB/connection", "GET message ms") else 0
    print(f"| {label} | {server} | {len(runs)} | {unit} | {cell(values, digits)} | {p50} | {p99} | {ratios} | {cores} | {waits} | {loads} |")

for (label, server), runs in series.items():
    report = runs[0][1]
    if report["scenario"] == "mixed":
        print(f"\n{label}, per operation (median of {len(runs)} runs, min–max):\n")
        print("| operation | per s | p50 ms | p99 ms | errors |")
        print("|---|---|---|---|---|")
        for name in report["by_operation"]:
            ops = [r["by_operation"][name] for _, r in runs]
            print(f'| {name} | {cell([o["per_s"] for o in ops], 0)} | {cell([o["latency"]["p50_ms"] for o in ops], 2)} | {cell([o["latency"]["p99_ms"] for o in ops], 2)} | {sum(o["errors"] for o in ops)} |')
    if report["scenario"] == "members":
        print(f"\n{label}, p50 / p99 ms per request (median of {len(runs)} runs, min–max):\n")
        print("| request | p50 ms | p99 ms |")
        print("|---|---|---|")
        for name in ["get_reactions", "get_reactors_page", "get_participants_page", "get_conversation", "get_message", "send_with_mention"]:
            print(f'| {name} | {cell([r[name]["p50_ms"] for _, r in runs], 3)} | {cell([r[name]["p99_ms"] for _, r in runs], 3)} |')
    if report["scenario"] == "baseline_sqlite":
        print(f'\n{label}: {cell([r["rows_per_cpu_s"] for _, r in runs], 0)} rows per CPU-second')
    if report["scenario"] == "connections":
        print(f"\n{label} (median of {len(runs)} runs, min–max):\n")
        for field in ["connected", "failed", "connect_s", "rss_fresh_kb", "rss_before_kb", "rss_after_kb", "kb_per_connection"]:
            print(f"- {field}: {cell([r[field] for _, r in runs], 2)}")
        print(f'- open files limit: {report["open_files_limit"]}')
EOF
cat "$OUT/summary.md"
