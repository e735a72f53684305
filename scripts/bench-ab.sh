#!/usr/bin/env bash
# Two (or more) builds of natter on one scenario, runs interleaved (A B A B …, so the
# machine's drift hits every build alike), medians at the end, with the server's CPU per
# operation and the machine's steal and iowait: on a guest whose throughput moves by half
# within an hour, a figure without them says little (BENCHMARKS.md, "Method").
#
#   scripts/bench-ab.sh NAME=NATTER_BINARY… -- NATTER-BENCH-ARGS…
#
# A binary may be a wrapper script that sets an environment variable and execs natter.
# Examples (BENCHMARKS.md, "History pages written by hand"):
#
#   cp "$CARGO_TARGET_DIR/release/natter" /tmp/natter-old     # before the change
#   cargo build --release -p natter-server                     # after it
#   RUNS=9 scripts/bench-ab.sh old=/tmp/natter-old new="$CARGO_TARGET_DIR/release/natter" \
#     -- history --messages 20000 --duration 8
#   POSTGRES=1 scripts/bench-ab.sh old=/tmp/natter-old new=… -- history --duration 8
#
# Environment: RUNS (5), POSTGRES (1: a fresh database natter_ab per run on PGURL, default
# postgres://postgres@127.0.0.1:5432), BENCH (the natter-bench binary; default: built in
# release from this tree), OUT (directory for results.jsonl, default /tmp/natter-ab),
# STEAL (cores; runs with more stolen are listed apart, default 0.1), CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS="${RUNS:-5}"
POSTGRES="${POSTGRES:-}"
PGURL="${PGURL:-postgres://postgres@127.0.0.1:5432}"
OUT="${OUT:-/tmp/natter-ab}"
STEAL="${STEAL:-0.1}"
DB=natter_ab
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/natter-target}"

NAMES=()
BINARIES=()
while [[ $# -gt 0 && "$1" != "--" ]]; do
  [[ "$1" == *=* ]] || { echo "a build is NAME=BINARY, got: $1" >&2; exit 2; }
  NAMES+=("${1%%=*}")
  BINARIES+=("${1#*=}")
  [[ -x "${1#*=}" ]] || { echo "not an executable: ${1#*=}" >&2; exit 2; }
  shift
done
[[ $# -gt 1 && ${#NAMES[@]} -gt 1 ]] || {
  echo "usage: $0 NAME=NATTER_BINARY NAME=NATTER_BINARY… -- natter-bench arguments" >&2
  exit 2
}
shift

mkdir -p "$OUT"
if [[ -z "${BENCH:-}" ]]; then
  cargo build --release -q -p natter-bench
  mkdir -p "$OUT/bin"
  cp "$CARGO_TARGET_DIR/release/natter-bench" "$OUT/bin/"
  BENCH="$OUT/bin/natter-bench"
fi
RESULTS="$OUT/results.jsonl"
: > "$RESULTS"

for run in $(seq "$RUNS"); do
  for i in "${!NAMES[@]}"; do
    database=()
    if [[ -n "$POSTGRES" ]]; then
      psql -q "$PGURL/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" \
        -c "CREATE DATABASE $DB" >/dev/null
      database=(--database-url "$PGURL/$DB")
    fi
    echo "--- ${NAMES[$i]}, run $run/$RUNS (load $(cut -d' ' -f1 /proc/loadavg))" >&2
    # A run that fails says why and stops the comparison (its stderr is kept).
    if ! "$BENCH" --spawn "${BINARIES[$i]}" "${database[@]}" "$@" \
      > "$OUT/run.json" 2> "$OUT/run.log"; then
      tail -20 "$OUT/run.log" >&2
      exit 1
    fi
    grep '^{' "$OUT/run.json" | while IFS= read -r line; do
      printf '{"build":"%s","run":%d,"report":%s}\n' "${NAMES[$i]}" "$run" "$line"
    done >> "$RESULTS"
    sleep 1
  done
done
if [[ -n "$POSTGRES" ]]; then
  psql -q "$PGURL/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null
fi

python3 - "$RESULTS" "$STEAL" <<'EOF'
import json, statistics, sys

rows = [json.loads(line) for line in open(sys.argv[1])]
# With --baseline, natter-bench reports the baseline first: only natter's reports count.
rows = [r for r in rows if r["report"].get("server") != "baseline"]
steal_limit = float(sys.argv[2])
# The scenario's own rate first: a history report also has messages_per_s (pages × 50).
rates = ["pages_per_s", "deliveries_per_s", "operations_per_s", "messages_per_s"]

def get(report, key):
    for part in key.split("."):
        report = report.get(part) if isinstance(report, dict) else None
    return report

def rate(report):
    return next(((k, report[k]) for k in rates if isinstance(report.get(k), (int, float))),
                (None, None))

def stolen(report):
    return get(report, "cpu.machine.steal_cores") or 0.0

def cell(values, digits=1):
    values = [v for v in values if isinstance(v, (int, float))]
    if not values:
        return "—"
    return (f"{statistics.median(values):,.{digits}f} "
            f"({min(values):,.{digits}f}–{max(values):,.{digits}f})")

builds = list(dict.fromkeys(r["build"] for r in rows))
key = rate(rows[0]["report"])[0] if rows else None
print(f"| build | runs | {key} | p50 ms | p99 ms | server µs per op | server / bench cores "
      f"| steal / iowait cores |")
print("|---|---:|---|---|---|---|---|---|")
for build in builds:
    reports = [r["report"] for r in rows if r["build"] == build]
    values = [rate(r)[1] for r in reports]
    per_op = [get(r, "cpu.server_cores") / v * 1e6
              for r, v in zip(reports, values) if v and get(r, "cpu.server_cores")]
    print(f"| {build} | {len(reports)} | {cell(values)} | {cell([get(r, 'latency.p50_ms') for r in reports], 3)} "
          f"| {cell([get(r, 'latency.p99_ms') for r in reports], 3)} | {cell(per_op)} "
          f"| {cell([get(r, 'cpu.server_cores') for r in reports], 2)} / "
          f"{cell([get(r, 'cpu.bench_cores') for r in reports], 2)} "
          f"| {cell([get(r, 'cpu.machine.steal_cores') for r in reports], 2)} / "
          f"{cell([get(r, 'cpu.machine.iowait_cores') for r in reports], 2)} |")

# Pairs: run k of each build against run k of the first.
first = builds[0]
by_run = {(r["build"], r["run"]): r["report"] for r in rows}
for build in builds[1:]:
    pairs = [(by_run[(first, k)], by_run[(build, k)]) for (b, k) in by_run
             if b == build and (first, k) in by_run]
    clean = [(a, b) for a, b in pairs if stolen(a) <= steal_limit and stolen(b) <= steal_limit]
    higher = sum(1 for a, b in clean if rate(b)[1] > rate(a)[1])
    print(f"\n{build} against {first}: higher in {higher} of {len(clean)} pairs "
          f"with at most {steal_limit} cores stolen ({len(pairs) - len(clean)} pairs set apart)")
    if clean:
        print(f"  medians of those pairs: {statistics.median(rate(a)[1] for a, _ in clean):,.1f} → "
              f"{statistics.median(rate(b)[1] for _, b in clean):,.1f} {key}")
EOF
