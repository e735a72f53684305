#!/usr/bin/env bash
# What a change to the PostgreSQL schema or settings would do to a scenario, before writing
# the migration: `natter-bench` against the same release build on a fresh database per run,
# the database altered by each variant's SQL right after `natter migrate`, variants
# interleaved run by run (the machine's drift hits all alike), medians at the end.
#
#   scripts/bench-postgres-schema-ab.sh VARIANT… -- NATTER-BENCH-SCENARIO-ARGS…
#
# A VARIANT is NAME=SQL, run in the database natter_schema_ab (empty SQL: the schema as
# migrated). Examples (BENCHMARKS.md, "Where a send's time goes now"):
#
#   scripts/bench-postgres-schema-ab.sh base= 'no_trigram=DROP INDEX messages_search_trgm' \
#     -- send --senders 16 --conversations 16 --duration 10
#   scripts/bench-postgres-schema-ab.sh base= \
#     'generic=ALTER DATABASE natter_schema_ab SET plan_cache_mode = force_generic_plan' \
#     -- history --duration 8
#
# Environment: RUNS (3), PGURL (postgres://postgres@127.0.0.1:5432), OUT (directory for
# results.jsonl, default /tmp/natter-schema-ab), CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS="${RUNS:-3}"
PGURL="${PGURL:-postgres://postgres@127.0.0.1:5432}"
OUT="${OUT:-/tmp/natter-schema-ab}"
DB=natter_schema_ab
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/natter-target}"

NAMES=()
SQL=()
while [[ $# -gt 0 && "$1" != "--" ]]; do
  [[ "$1" == *=* ]] || { echo "a variant is NAME=SQL, got: $1" >&2; exit 2; }
  NAMES+=("${1%%=*}")
  SQL+=("${1#*=}")
  shift
done
[[ $# -gt 1 && ${#NAMES[@]} -gt 0 ]] || {
  echo "usage: $0 NAME=SQL… -- natter-bench scenario arguments" >&2
  exit 2
}
shift

cargo build --release -q -p natter-server -p natter-bench
mkdir -p "$OUT/bin"
cp "$CARGO_TARGET_DIR/release/natter" "$CARGO_TARGET_DIR/release/natter-bench" "$OUT/bin/"
RESULTS="$OUT/results.jsonl"
: > "$RESULTS"

for run in $(seq "$RUNS"); do
  for i in "${!NAMES[@]}"; do
    psql -q "$PGURL/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" \
      -c "CREATE DATABASE $DB" >/dev/null
    "$OUT/bin/natter" migrate --database-url "$PGURL/$DB" > "$OUT/migrate.log" 2>&1 ||
      { cat "$OUT/migrate.log" >&2; exit 1; }
    if [[ -n "${SQL[$i]}" ]]; then
      psql -q -v ON_ERROR_STOP=1 "$PGURL/$DB" -c "${SQL[$i]}" >/dev/null
    fi
    load="$(cut -d' ' -f1 /proc/loadavg)"
    echo "--- ${NAMES[$i]}, run $run/$RUNS (load $load)" >&2
    # A run that fails says why and stops the series (its stderr is kept, not dropped).
    if ! "$OUT/bin/natter-bench" --spawn "$OUT/bin/natter" --database-url "$PGURL/$DB" "$@" \
      > "$OUT/run.json" 2> "$OUT/run.log"; then
      tail -20 "$OUT/run.log" >&2
      exit 1
    fi
    grep '^{' "$OUT/run.json" | while IFS= read -r line; do
      printf '{"variant":"%s","run":%d,"load1":%s,"report":%s}\n' \
        "${NAMES[$i]}" "$run" "$load" "$line"
    done >> "$RESULTS"
    sleep 2
  done
done
psql -q "$PGURL/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null

python3 - "$RESULTS" <<'EOF'
import json, statistics, sys
# With --baseline, natter-bench reports the baseline first: only natter's reports count.
rows = [json.loads(line) for line in open(sys.argv[1])]
rows = [r for r in rows if r["report"].get("server") != "baseline"]
keys = ["messages_per_s", "pages_per_s", "deliveries_per_s", "latency.p50_ms",
        "latency.p99_ms", "latency.p99_9_ms"]
def get(report, key):
    for part in key.split("."):
        report = report.get(part) if isinstance(report, dict) else None
    return report
order = list(dict.fromkeys(r["variant"] for r in rows))
for key in keys:
    for variant in order:
        values = [get(r["report"], key) for r in rows if r["variant"] == variant]
        values = [v for v in values if isinstance(v, (int, float))]
        if values:
            print(f"{key:18} {variant:18} median {statistics.median(values):10.1f}"
                  f"  ({min(values):.1f}–{max(values):.1f}, {len(values)} runs)")
EOF
