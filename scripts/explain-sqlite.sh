#!/usr/bin/env bash
# The SQLite store's hot queries on a database of 1,000,000 messages: EXPLAIN QUERY PLAN
# and timings; the data has the shape scripts/explain-postgres.sh generates.
#
#   scripts/explain-sqlite.sh                  # database file $OUT/natter_explain.sqlite
#   SKIP_LOAD=1 scripts/explain-sqlite.sh      # reuse the existing file
#
# Generation and plans use the sqlite3 CLI. Timings use Python's sqlite3 module (the same
# libsqlite3) with time.perf_counter: the CLI's `.timer on` reports wall time in whole
# milliseconds, too coarse for most of these queries. Each query runs 3 times (median
# kept) on one connection with the store's pragmas (crates/natter-store-sqlite/src/lib.rs)
# and the store's SQL with bound parameters, as rusqlite runs it. Writes are rolled back.
# Like the store, the script never runs ANALYZE: the planner has no sqlite_stat1.
#
# STALE (2026-12-06): this script applies only migration 0001 and runs copies of the
# store's early SQL (no threads, reaction flags, attachments, read-marker indexes or the
# current page statements). Its plans describe that early schema, not the store today;
# BENCHMARKS.md ("Thread pages by their index", "Looking for more of the same") has the
# audit of the statements the store runs now. Update it before trusting its figures.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT="${OUT:-/tmp/natter-explain}"
DB="${SQLITE_DB:-$OUT/natter_explain.sqlite}"
START=$SECONDS
step() { printf '\n==> %s (%ds)\n' "$*" $((SECONDS - START)) >&2; }
command -v sqlite3 >/dev/null || { echo "sqlite3 CLI missing (apt-get install -y sqlite3)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "python3 missing" >&2; exit 1; }
mkdir -p "$OUT"

if [ "${SKIP_LOAD:-0}" != "1" ]; then
  step "recreate $DB"
  rm -f "$DB" "$DB-wal" "$DB-shm"
  sqlite3 "$DB" "PRAGMA journal_mode = WAL;" >/dev/null
  sqlite3 -bail "$DB" < crates/natter-store-sqlite/migrations/0001_core.sql

  step "generate data (same shape as scripts/explain-postgres.sh)"
  # Same formulas as the PostgreSQL script; ids are the first 16 bytes of sha3 (a CLI
  # function) of the same names.
  sqlite3 -bail "$DB" <<'SQL'
PRAGMA synchronous = OFF;
PRAGMA cache_size = -1000000;
PRAGMA temp_store = MEMORY;
.timer on
BEGIN;
CREATE TEMP TABLE plan0 AS
SELECT i, substr(sha3('natter-conv-' || i), 1, 16) AS id,
       ((i * 2654435761 + 1 * 40503) % 4294967296) / 42949673 AS r1,
       ((i * 2654435761 + 2 * 40503) % 4294967296) / 42949673 AS r2,
       ((i * 2654435761 + 3 * 40503) % 4294967296) / 42949673 AS r3,
       row_number() OVER (ORDER BY (i * 2246822519) % 4294967296, i) AS k,
       1753000000000000 + (i - 1) * 600000000 AS created_at
FROM (SELECT value AS i FROM generate_series(1, 10000));

CREATE TEMP TABLE plan1 AS
SELECT *, CASE WHEN i <= 5 THEN 20000
               ELSE max(1, CAST(floor(900000 * pow(k, -0.7) / (SELECT sum(pow(k, -0.7)) FROM plan0 WHERE i > 5)) AS INTEGER))
          END AS n0
FROM plan0;

CREATE TEMP TABLE plan AS
SELECT i, id, r1, r2, r3, created_at, kind, n_part, n_msgs, power,
       (1760000000000000 - created_at) * (CASE WHEN i <= 5 THEN 100 ELSE 1 + r3 END) / 100 / n_msgs AS step
FROM (
  SELECT p.*,
         p.n0 + CASE WHEN p.i > 5 AND p.k = (SELECT min(k) FROM plan1 WHERE i > 5)
                     THEN 1000000 - (SELECT sum(n0) FROM plan1) ELSE 0 END AS n_msgs,
         kind,
         CASE WHEN p.i <= 5 THEN 12 WHEN kind = 'direct' THEN 2 WHEN kind = 'group' THEN 3 + p.r2 % 13
              WHEN kind = 'support' THEN 3 ELSE 12 + p.r2 % 19 END AS n_part,
         kind IN ('group', 'channel') AND p.i % 3 = 0 AS power
  FROM (SELECT *, CASE WHEN i <= 5 THEN 'group' WHEN r1 < 60 THEN 'direct' WHEN r1 < 88 THEN 'group'
                       WHEN r1 < 95 THEN 'support' ELSE 'channel' END AS kind FROM plan1) AS p
);
CREATE UNIQUE INDEX temp.plan_i ON plan (i);

CREATE TEMP TABLE part_plan AS
SELECT pp.*, CASE WHEN pp.last_read_seq > 0 THEN pp.created_at + pp.last_read_seq * pp.step END AS last_read_at
FROM (
  SELECT x.*,
         CASE WHEN x.left_at IS NOT NULL THEN x.n_msgs / 2
              WHEN x.user_id = 'u0' THEN max(0, x.n_msgs - 2 * (((x.i * 100 + x.j) * 2654435761 + 5 * 40503) % 4294967296 / 42949673))
              WHEN x.i = 1 AND x.j = 1 THEN 0
              WHEN ((x.i * 100 + x.j) * 2654435761 + 5 * 40503) % 4294967296 / 42949673 < 70 THEN x.n_msgs
              ELSE max(0, x.n_msgs - 10 * (((x.i * 100 + x.j) * 2654435761 + 6 * 40503) % 4294967296 / 42949673)) END AS last_read_seq,
         CASE WHEN x.left_at IS NOT NULL THEN x.n_msgs / 2 ELSE x.n_msgs END AS last_delivered_seq,
         ((x.i * 100 + x.j) * 2654435761 + 7 * 40503) % 4294967296 / 42949673 < 10 AS muted,
         ((x.i * 100 + x.j) * 2654435761 + 8 * 40503) % 4294967296 / 42949673 < 5 AS pinned,
         ((x.i * 100 + x.j) * 2654435761 + 9 * 40503) % 4294967296 / 42949673 < 3 AS archived,
         CASE WHEN ((x.i * 100 + x.j) * 2654435761 + 10 * 40503) % 4294967296 / 42949673 < 5 THEN 'mentions' ELSE 'all' END AS notification_level
  FROM (
    SELECT p.i, p.id AS conversation_id, j.value AS j,
           CASE WHEN j.value = 0 AND p.i % 200 = 1 THEN 'u0'
                ELSE 'u' || (1 + ((p.i * 7919 + j.value * 101) % 1998)) END AS user_id,
           CASE WHEN j.value = 0 THEN 'owner' WHEN j.value = 1 AND p.kind <> 'direct' THEN 'admin' ELSE 'member' END AS role,
           p.created_at, p.step, p.n_msgs,
           CASE WHEN p.kind <> 'direct' AND j.value >= 2
                     AND ((p.i * 100 + j.value) * 2654435761 + 4 * 40503) % 4294967296 / 42949673 < 3
                THEN p.created_at + p.step * (p.n_msgs / 2) END AS left_at
    FROM plan p JOIN generate_series(0, p.n_part - 1) AS j
    UNION ALL
    SELECT p.i, p.id, p.n_part, 'u1999', 'member', p.created_at, p.step, p.n_msgs, NULL
    FROM plan p WHERE p.power
  ) AS x
) AS pp;
CREATE INDEX temp.part_plan_i ON part_plan (i, j);

INSERT INTO users (id, display_name, role, created_at, last_seen_at)
SELECT 'u' || value, 'User ' || value, CASE WHEN value % 100 = 50 THEN 'agent' ELSE 'user' END,
       1750000000000000 + value * 1000000, 1760000000000000 - value * 1000000
FROM generate_series(0, 1999);

INSERT INTO messages (conversation_id, seq, id, sender_id, kind, content, client_message_id,
                      created_at, edited_at, edit_count, deleted_at, deleted_by)
SELECT p.id, s.value, substr(sha3('natter-msg-' || p.i || '-' || s.value), 1, 16),
       CASE WHEN s.value % 50 = 0 THEN NULL
            WHEN (s.value * 7) % p.n_part = 0 AND p.i % 200 = 1 THEN 'u0'
            ELSE 'u' || (1 + ((p.i * 7919 + ((s.value * 7) % p.n_part) * 101) % 1998)) END,
       CASE WHEN s.value % 50 = 0 THEN 'system' WHEN s.value % 23 = 0 THEN 'image' WHEN s.value % 97 = 0 THEN 'file' ELSE 'text' END,
       CASE WHEN s.value % 199 = 0 THEN NULL
            ELSE substr('Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor. Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor. Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor. Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor. Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor. Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor. ',
                        1 + s.value % 37, 20 + ((s.value * 2654435761 + p.i * 40503) % 4294967296) % 281) END,
       CASE WHEN s.value % 50 = 0 THEN NULL ELSE 'cm-' || p.i || '-' || s.value END,
       p.created_at + s.value * p.step,
       CASE WHEN s.value % 61 = 0 THEN p.created_at + s.value * p.step + 30000000 END,
       CASE WHEN s.value % 61 = 0 THEN 1 ELSE 0 END,
       CASE WHEN s.value % 199 = 0 THEN p.created_at + s.value * p.step + 60000000 END,
       CASE WHEN s.value % 199 = 0 AND s.value % 50 <> 0 THEN
            CASE WHEN (s.value * 7) % p.n_part = 0 AND p.i % 200 = 1 THEN 'u0'
                 ELSE 'u' || (1 + ((p.i * 7919 + ((s.value * 7) % p.n_part) * 101) % 1998)) END END
FROM plan p JOIN generate_series(1, p.n_msgs) AS s
ORDER BY p.created_at + s.value * p.step;

INSERT INTO conversations (id, kind, status, title, context_kind, context_id, unique_key,
                           created_by, created_at, updated_at, last_activity_at, last_event_at,
                           trusted, encrypted, message_count, last_message_seq, last_event_seq,
                           last_message_sender, last_message_kind, last_message_text,
                           last_message_at, participant_count)
SELECT p.id, p.kind, CASE WHEN p.r2 >= 97 THEN 'archived' ELSE 'active' END,
       CASE WHEN p.kind = 'direct' THEN NULL ELSE upper(substr(p.kind, 1, 1)) || substr(p.kind, 2) || ' ' || p.i END,
       CASE WHEN p.r2 < 30 THEN CASE p.r2 % 3 WHEN 0 THEN 'order' WHEN 1 THEN 'booking' ELSE 'event' END END,
       CASE WHEN p.r2 < 30 THEN 'ctx-' || p.i END,
       CASE WHEN p.kind = 'direct' THEN 'direct:' || (SELECT user_id FROM part_plan pp WHERE pp.i = p.i AND pp.j = 0)
            || ':' || (SELECT user_id FROM part_plan pp WHERE pp.i = p.i AND pp.j = 1) || ':' || p.i END,
       (SELECT user_id FROM part_plan pp WHERE pp.i = p.i AND pp.j = 0),
       p.created_at, p.created_at, m.created_at, m.created_at,
       p.kind = 'support', 0, p.n_msgs, p.n_msgs, p.n_msgs + 1,
       m.sender_id, m.kind, substr(coalesce(m.content, ''), 1, 100), m.created_at,
       (SELECT count(*) FROM part_plan pp WHERE pp.i = p.i AND pp.left_at IS NULL)
FROM plan p JOIN messages m ON m.conversation_id = p.id AND m.seq = p.n_msgs
ORDER BY p.created_at;

INSERT INTO participants (conversation_id, user_id, role, joined_at, left_at, last_read_seq,
                          last_read_at, last_delivered_seq, muted, pinned, archived,
                          notification_level)
SELECT conversation_id, user_id, role, created_at, left_at, last_read_seq, last_read_at,
       last_delivered_seq, muted, pinned, archived, notification_level
FROM part_plan ORDER BY created_at, j;

INSERT INTO events (conversation_id, seq, kind, message_seq, data, created_at)
SELECT conversation_id, seq, kind, message_seq, data, created_at FROM (
  SELECT c.id AS conversation_id, 1 AS seq, 'conversation.created' AS kind, NULL AS message_seq,
         json_object('id', lower(hex(c.id)), 'type', c.kind, 'title', c.title, 'created_at', c.created_at) AS data,
         c.created_at
  FROM conversations c
  UNION ALL
  SELECT m.conversation_id, m.seq + 1, 'message.created', m.seq, '{}', m.created_at FROM messages m
) ORDER BY created_at, seq;
COMMIT;
PRAGMA wal_checkpoint(TRUNCATE);
SQL
fi

step "queries"
OUT="$OUT" DB="$DB" python3 - <<'PY' | tee "$OUT/sqlite-summary.txt"
import os, sqlite3, statistics, subprocess, time

db, out = os.environ["DB"], os.environ["OUT"]
conn = sqlite3.connect(db, isolation_level=None)
# The store's pragmas (crates/natter-store-sqlite/src/lib.rs); synchronous as configured
# by default (NORMAL in WAL mode).
conn.executescript("""PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY; PRAGMA cache_size = -16000;""")
one = lambda sql, *a: conn.execute(sql, a).fetchone()[0]

print(f"SQLite {sqlite3.sqlite_version}, {db} ({os.path.getsize(db) // 1048576} MB); plans in {out}/sqlite-*.txt")
checks = [
    ("users", "SELECT count(*) FROM users"),
    ("conversations", "SELECT count(*) FROM conversations"),
    ("participants (active)", "SELECT count(*) FROM participants WHERE left_at IS NULL"),
    ("messages", "SELECT count(*) FROM messages"),
    ("events", "SELECT count(*) FROM events"),
    ("max messages in a conversation", "SELECT max(message_count) FROM conversations"),
    ("u0 conversations", "SELECT count(*) FROM participants WHERE user_id = 'u0' AND left_at IS NULL"),
    ("u1999 conversations", "SELECT count(*) FROM participants WHERE user_id = 'u1999' AND left_at IS NULL"),
    ("counters consistent (0 = yes)", """SELECT count(*) FROM conversations c
        WHERE c.last_message_seq <> (SELECT max(seq) FROM messages m WHERE m.conversation_id = c.id)
           OR c.last_event_seq <> (SELECT max(seq) FROM events e WHERE e.conversation_id = c.id)
           OR c.participant_count <> (SELECT count(*) FROM participants p WHERE p.conversation_id = c.id AND p.left_at IS NULL)"""),
]
for name, sql in checks:
    print(f"  {name}: {one(sql)}")

C1 = one("SELECT id FROM conversations WHERE title = 'Group 1'")
LURKER = one("SELECT user_id FROM participants WHERE conversation_id = ? AND user_id <> 'u0' AND last_read_seq = 0 ORDER BY user_id LIMIT 1", C1)
NOW, BIG = 1760000000000000, 9223372036854775807

# The store's SQL (crates/natter-store-sqlite/src/queries.rs and rows.rs).
CONV = ("c.id, c.kind, c.status, c.title, c.description, c.avatar_url, c.context_kind, c.context_id, c.created_by, "
        "c.created_at, c.updated_at, c.last_activity_at, c.trusted, c.encrypted, c.message_count, c.last_message_seq, "
        "c.last_event_seq, c.last_message_sender, c.last_message_kind, c.last_message_text, c.last_message_at, c.participant_count")
PART = ("p.conversation_id, p.user_id, p.role, p.joined_at, p.left_at, p.last_read_seq, p.last_read_at, "
        "p.last_delivered_seq, p.muted, p.muted_until, p.pinned, p.archived, p.notification_level, p.sound")
MSG = ("m.id, m.conversation_id, m.seq, m.sender_id, m.kind, m.content, m.client_message_id, m.reply_to_id, "
       "m.mentions, m.created_at, m.edited_at, m.edit_count, m.deleted_at, m.deleted_by, m.pii_masked")
LIST_INNER = (f"SELECT {CONV}, {PART}, (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id "
              "AND m.seq > p.last_read_seq AND m.deleted_at IS NULL AND (m.sender_id IS NULL OR m.sender_id <> p.user_id)) AS unread, "
              "CASE WHEN c.kind = 'direct' THEN (SELECT p2.user_id FROM participants p2 WHERE p2.conversation_id = c.id "
              "AND p2.user_id <> p.user_id LIMIT 1) END AS peer, c.last_activity_at AS sort_at, c.id AS sort_id "
              "FROM participants p JOIN conversations c ON c.id = p.conversation_id WHERE p.user_id = ?1 AND p.left_at IS NULL")
LIST = f"SELECT * FROM ({LIST_INNER}) AS t WHERE 1 = 1 ORDER BY t.sort_at DESC, t.sort_id DESC LIMIT ?3"
LIST_UNREAD = f"SELECT * FROM ({LIST_INNER}) AS t WHERE 1 = 1 AND (t.unread > 0) = ?3 ORDER BY t.sort_at DESC, t.sort_id DESC LIMIT ?4"
MESSAGES = f"SELECT {MSG} FROM messages m WHERE m.conversation_id = ?1 AND m.seq < ?2 AND m.seq > ?3 ORDER BY m.seq DESC LIMIT ?4"
EVENTS = (f"SELECT e.seq, e.kind, e.data, e.created_at, {MSG} FROM events e LEFT JOIN messages m "
          "ON m.conversation_id = e.conversation_id AND m.seq = e.message_seq "
          "WHERE e.conversation_id = ?1 AND e.seq > ?2 ORDER BY e.seq LIMIT ?3")
MARKERS = ("SELECT p.last_read_seq, c.last_message_seq FROM participants p JOIN conversations c ON c.id = p.conversation_id "
           "WHERE p.conversation_id = ?1 AND p.user_id = ?2 AND p.left_at IS NULL")
UNREAD_COUNT = ("SELECT COUNT(*) FROM messages m WHERE m.conversation_id = ?1 AND m.seq > ?2 AND m.seq <= ?3 "
                "AND m.deleted_at IS NULL AND (m.sender_id IS NULL OR m.sender_id <> ?4)")
UNREAD_COUNTS = ("SELECT conversation_id, unread FROM ( SELECT p.conversation_id, (SELECT COUNT(*) FROM messages m "
                 "WHERE m.conversation_id = p.conversation_id AND m.seq > p.last_read_seq AND m.deleted_at IS NULL "
                 "AND (m.sender_id IS NULL OR m.sender_id <> p.user_id)) AS unread FROM participants p "
                 "WHERE p.user_id = ?1 AND p.left_at IS NULL) WHERE unread > 0")
DUP = f"SELECT {MSG} FROM messages m WHERE m.sender_id = ?1 AND m.client_message_id = ?2"
APPEND_UPDATE = ("UPDATE conversations SET last_message_seq = last_message_seq + 1, message_count = message_count + 1, "
                 "last_message_sender = ?2, last_message_kind = ?3, last_message_text = ?4, last_message_at = ?5, "
                 "last_activity_at = MAX(last_activity_at, ?5) WHERE id = ?1 RETURNING last_message_seq")
APPEND_INSERT = ("INSERT INTO messages (conversation_id, seq, id, sender_id, kind, content, client_message_id, "
                 "reply_to_id, mentions, created_at, pii_masked) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)")
APPEND_MARKER = ("UPDATE participants SET last_read_seq = ?3, last_read_at = ?4, last_delivered_seq = MAX(last_delivered_seq, ?3) "
                 "WHERE conversation_id = ?1 AND user_id = ?2 AND last_read_seq < ?3")
EVENT_SEQ = ("UPDATE conversations SET last_event_seq = last_event_seq + 1, last_event_at = MAX(last_event_at, ?2) "
             "WHERE id = ?1 RETURNING last_event_seq")
EVENT_INSERT = ("INSERT INTO events (conversation_id, seq, kind, message_seq, data, created_at) "
                "VALUES (?1, ?2, ?3, ?4, ?5, ?6)")

def plan(sql, params):
    rows = conn.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
    depth, lines = {0: -1}, []
    for node, parent, _, detail in rows:
        depth[node] = depth.get(parent, -1) + 1
        lines.append("  " * depth[node] + detail)
    return lines

def timed(fn, runs=3):
    """Median wall time of `runs` calls (ms), the last result, and per-statement medians."""
    times, pers = [], []
    for _ in range(runs):
        t = time.perf_counter(); per, result = fn(); times.append((time.perf_counter() - t) * 1000)
        pers.append(per)
    return statistics.median(times), [statistics.median(x) for x in zip(*pers)], result

def report(name, steps, write=False):
    """steps: [(sql, params)], run in order (one use case); timed as a whole, per statement too."""
    def run():
        per = []
        if write: conn.execute("BEGIN IMMEDIATE")
        try:
            result = None
            for sql, params in steps:
                t = time.perf_counter()
                result = conn.execute(sql, params(result) if callable(params) else params).fetchall()
                per.append((time.perf_counter() - t) * 1000)
        finally:
            if write: conn.execute("ROLLBACK")
        return per, result
    ms, per, result = timed(run)
    with open(f"{out}/sqlite-{name}.txt", "w") as f:
        for i, (sql, params) in enumerate(steps):
            f.write(f"-- {sql}\n")
            if not write:
                f.write("\n".join(plan(sql, params if not callable(params) else params(None))) + "\n\n")
    print(f"\n{name:<40} {ms:8.3f} ms" + (f"   (statements: {', '.join(f'{p:.3f}' for p in per)})" if len(steps) > 1 else ""))
    if not write:
        for sql, params in steps:
            for line in plan(sql, params if not callable(params) else params(None)):
                print("  " + line)
    else:
        # The plans of the write statements (EXPLAIN QUERY PLAN does not execute them).
        for sql, params in steps:
            p = params if not callable(params) else params([(20001,)])
            for line in plan(sql, p):
                print("  " + line)
    print(f"  rows: {len(result) if result is not None else 0}")

# Warm the cache like the PostgreSQL runs: every query runs 3 times, the median is kept.
report("a1_list_conversations_u0", [(LIST, ("u0", NOW, 51))])
report("a2_list_conversations_u0_has_unread", [(LIST_UNREAD, ("u0", NOW, True, 51))])
report("a3_list_conversations_power_user", [(LIST, ("u1999", NOW, 51))])
report("b1_list_messages_newest", [(MESSAGES, (C1, BIG, 0, 51))])
report("b2_list_messages_deep", [(MESSAGES, (C1, 10000, 0, 51))])
report("c1_list_events_after_19900", [(EVENTS, (C1, 19900, 100))])
marker = lambda user: conn.execute(MARKERS, (C1, user)).fetchone()
r, l = marker("u0")
report("d1_count_unread_u0", [(MARKERS, (C1, "u0")), (UNREAD_COUNT, (C1, r, l, "u0"))])
report("d2_list_unread_counts_u0", [(UNREAD_COUNTS, ("u0",))])
r, l = marker(LURKER)
report("d3_count_unread_lurker", [(MARKERS, (C1, LURKER)), (UNREAD_COUNT, (C1, r, l, LURKER))])
report("d4_list_unread_counts_power_user", [(UNREAD_COUNTS, ("u1999",))])
A_NOW = NOW + 1000000
report("e_append_message", [
    (DUP, ("u0", "cm-bench-1")),
    (APPEND_UPDATE, (C1, "u0", "text", "hello from the benchmark", A_NOW)),
    (APPEND_INSERT, lambda prev: (C1, prev[0][0] if prev else 20001, bytes(range(16)), "u0", "text",
                                  "hello from the benchmark", "cm-bench-1", None, None, A_NOW, False)),
    (APPEND_MARKER, (C1, "u0", 20001, A_NOW)),
    (EVENT_SEQ, (C1, A_NOW)),
    (EVENT_INSERT, lambda prev: (C1, prev[0][0] if prev else 20002, "message.created", 20001, "{}", A_NOW)),
], write=True)
PY
echo "run time: $((SECONDS - START)) s" | tee -a "$OUT/sqlite-summary.txt"
