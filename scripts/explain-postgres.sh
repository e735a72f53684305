#!/usr/bin/env bash
# EXPLAIN ANALYZE of the PostgreSQL store's hot queries on a database of 1,000,000 messages.
#
#   scripts/explain-postgres.sh                 # PGURL defaults to postgres://postgres@127.0.0.1:5432/postgres
#   PGURL=postgres://user@host:5432/postgres scripts/explain-postgres.sh
#   SKIP_LOAD=1 scripts/explain-postgres.sh     # reuse an existing natter_explain database
#
# Drops and recreates the database `natter_explain`, applies the store's migration, loads
# generated data (see "Data shape" in BENCHMARKS.md) and runs each query with
# EXPLAIN (ANALYZE, BUFFERS) three times, keeping the last (warm cache). The SQL is the
# store's (crates/natter-store-postgres/src/queries.rs) with literal values; every query
# is also run as a prepared statement with a forced generic plan, which is what sqlx's
# statement cache ends up executing. Full plans go to $OUT (default /tmp/natter-explain);
# a compact summary is printed at the end and written to $OUT/summary.txt.
#
# STALE (2026-12-06): this script applies only migration 0001 and runs copies of the
# store's early SQL (no threads, reaction flags, attachments or the
# current page statements). Its plans describe that early schema, not the store today;
# BENCHMARKS.md ("Thread pages by their index", "Looking for more of the same") has the
# audit of the statements the store runs now. Update it before trusting its figures.
set -euo pipefail
cd "$(dirname "$0")/.."
shopt -u patsub_replacement 2>/dev/null || true

PGURL="${PGURL:-postgres://postgres@127.0.0.1:5432/postgres}"
DB=natter_explain
OUT="${OUT:-/tmp/natter-explain}"
START=$SECONDS

# The URL of database $DB on the same server as $PGURL (the path replaced, query kept).
base="${PGURL%%\?*}"
query=""
[[ "$PGURL" == *\?* ]] && query="?${PGURL#*\?}"
DBURL="${base%/*}/$DB$query"

psql_admin() { psql "$PGURL" -X -q -v ON_ERROR_STOP=1 "$@"; }
psql_db() { psql "$DBURL" -X -q -v ON_ERROR_STOP=1 "$@"; }
step() { printf '\n==> %s (%ds)\n' "$*" $((SECONDS - START)) >&2; }

mkdir -p "$OUT"
rm -f "$OUT"/[a-ew][0-9]_*.txt "$OUT"/summary.txt "$OUT"/data.txt

if [ "${SKIP_LOAD:-0}" != "1" ]; then
  step "recreate database $DB"
  psql_admin -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
  psql_db -f crates/natter-store-postgres/migrations/0001_core.sql

  step "generate data (2,000 users, 10,000 conversations, ~50,000 participants, 1,000,000 messages, 1,010,000 events)"
  # One session: the temp functions and plan tables live until it ends.
  psql_db <<'SQL'
\timing on
SET synchronous_commit = off;
SET work_mem = '256MB';
SET maintenance_work_mem = '512MB';

-- A deterministic pseudo-random number 0..99 for (a, salt): Knuth's multiplicative hash.
CREATE FUNCTION pg_temp.h(a bigint, salt int) RETURNS int LANGUAGE sql IMMUTABLE AS
$$ SELECT (((a * 2654435761 + salt * 40503) % 4294967296) / 42949673)::int $$;
-- Participant j of conversation i: u0 is participant 0 of every conversation i with
-- i % 200 = 1 (50 conversations, conversation 1 among them); the rest are u1..u1998,
-- distinct within a conversation. u1999 (the "power user") is added separately.
CREATE FUNCTION pg_temp.uid(i int, j int) RETURNS text LANGUAGE sql IMMUTABLE AS
$$ SELECT CASE WHEN j = 0 AND i % 200 = 1 THEN 'u0' ELSE 'u' || (1 + ((i * 7919 + j * 101) % 1998)) END $$;

-- Timeline: conversations are created 10 minutes apart from T_START; the data ends at
-- T_END = 1760000000000000 (the "now" of the queries).
CREATE TEMP TABLE plan0 AS
SELECT i, md5('natter-conv-' || i)::uuid AS id,
       pg_temp.h(i, 1) AS r1, pg_temp.h(i, 2) AS r2, pg_temp.h(i, 3) AS r3,
       row_number() OVER (ORDER BY (i::bigint * 2246822519) % 4294967296, i) AS k,
       1753000000000000::bigint + (i - 1) * 600000000::bigint AS created_at
FROM generate_series(1, 10000) AS i;

-- Message counts: conversations 1..5 have 20,000 each; the other 900,000 follow a power
-- law over a shuffled rank (largest ~17,000, smallest ~30).
CREATE TEMP TABLE plan1 AS
SELECT *, CASE WHEN i <= 5 THEN 20000
               ELSE greatest(1, floor(900000 * power(k, -0.7) / sum(power(k, -0.7)) FILTER (WHERE i > 5) OVER ()))::bigint
          END AS n0
FROM plan0;

CREATE TEMP TABLE plan AS
SELECT i, id, r1, r2, r3, created_at, kind, n_part, n_msgs, power,
       (1760000000000000 - created_at) * (CASE WHEN i <= 5 THEN 100 ELSE 1 + r3 END) / 100 / n_msgs AS step
FROM (
  SELECT p.*,
         p.n0 + CASE WHEN p.i > 5 AND p.k = (SELECT min(k) FROM plan1 WHERE i > 5)
                     THEN 1000000 - (SELECT sum(n0) FROM plan1) ELSE 0 END AS n_msgs,
         kind.kind,
         CASE WHEN p.i <= 5 THEN 12
              WHEN kind.kind = 'direct' THEN 2
              WHEN kind.kind = 'group' THEN 3 + p.r2 % 13
              WHEN kind.kind = 'support' THEN 3
              ELSE 12 + p.r2 % 19 END AS n_part,
         kind.kind IN ('group', 'channel') AND p.i % 3 = 0 AS power
  FROM plan1 p
  CROSS JOIN LATERAL (SELECT CASE WHEN p.i <= 5 THEN 'group' WHEN p.r1 < 60 THEN 'direct'
                                  WHEN p.r1 < 88 THEN 'group' WHEN p.r1 < 95 THEN 'support'
                                  ELSE 'channel' END AS kind) AS kind
) AS x;
CREATE UNIQUE INDEX ON plan (i);
ANALYZE plan;

-- Participants, computed before the conversations so participant_count can be counted.
CREATE TEMP TABLE part_plan AS
SELECT pp.*,
       CASE WHEN pp.last_read_seq > 0 THEN pp.created_at + pp.last_read_seq * pp.step END AS last_read_at
FROM (
  SELECT x.i, x.conversation_id, x.j, x.user_id, x.role, x.created_at, x.step, x.left_at,
         CASE WHEN x.left_at IS NOT NULL THEN x.n_msgs / 2
              WHEN x.user_id = 'u0' THEN greatest(0, x.n_msgs - 2 * pg_temp.h(x.i * 100 + x.j, 5))
              WHEN x.i = 1 AND x.j = 1 THEN 0 -- the "lurker": 20,000 unread in conversation 1
              WHEN pg_temp.h(x.i * 100 + x.j, 5) < 70 THEN x.n_msgs
              ELSE greatest(0, x.n_msgs - 10 * pg_temp.h(x.i * 100 + x.j, 6)) END AS last_read_seq,
         CASE WHEN x.left_at IS NOT NULL THEN x.n_msgs / 2 ELSE x.n_msgs END AS last_delivered_seq,
         pg_temp.h(x.i * 100 + x.j, 7) < 10 AS muted,
         pg_temp.h(x.i * 100 + x.j, 8) < 5 AS pinned,
         pg_temp.h(x.i * 100 + x.j, 9) < 3 AS archived,
         CASE WHEN pg_temp.h(x.i * 100 + x.j, 10) < 5 THEN 'mentions' ELSE 'all' END AS notification_level
  FROM (
    SELECT p.i, p.id AS conversation_id, j, pg_temp.uid(p.i, j) AS user_id,
           CASE WHEN j = 0 THEN 'owner' WHEN j = 1 AND p.kind <> 'direct' THEN 'admin' ELSE 'member' END AS role,
           p.created_at, p.step, p.n_msgs,
           CASE WHEN p.kind <> 'direct' AND j >= 2
                     AND pg_temp.h(p.i * 100 + j, 4) < 3
                THEN p.created_at + p.step * (p.n_msgs / 2) END AS left_at
    FROM plan p CROSS JOIN LATERAL generate_series(0, p.n_part - 1) AS j
    UNION ALL
    SELECT p.i, p.id, p.n_part, 'u1999', 'member', p.created_at, p.step, p.n_msgs, NULL
    FROM plan p WHERE p.power
  ) AS x
) AS pp;

INSERT INTO users (id, display_name, role, created_at, last_seen_at)
SELECT 'u' || n, 'User ' || n, CASE WHEN n % 100 = 50 THEN 'agent' ELSE 'user' END,
       1750000000000000 + n * 1000000, 1760000000000000 - n * 1000000
FROM generate_series(0, 1999) AS n;

-- Messages in global time order (as they would arrive), so the heap is not clustered
-- by conversation. Every 50th is a system message (no sender), every 199th is deleted.
INSERT INTO messages (conversation_id, seq, id, sender_id, kind, content, client_message_id,
                      created_at, edited_at, edit_count, deleted_at, deleted_by)
SELECT p.id, s, md5('natter-msg-' || p.i || '-' || s)::uuid,
       CASE WHEN s % 50 = 0 THEN NULL ELSE pg_temp.uid(p.i, ((s * 7) % p.n_part)::int) END,
       CASE WHEN s % 50 = 0 THEN 'system' WHEN s % 23 = 0 THEN 'image' WHEN s % 97 = 0 THEN 'file' ELSE 'text' END,
       CASE WHEN s % 199 = 0 THEN NULL
            ELSE substr(repeat('Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor. ', 6),
                        (1 + s % 37)::int, (20 + ((s * 2654435761 + p.i * 40503) % 4294967296) % 281)::int) END,
       CASE WHEN s % 50 = 0 THEN NULL ELSE 'cm-' || p.i || '-' || s END,
       p.created_at + s * p.step,
       CASE WHEN s % 61 = 0 THEN p.created_at + s * p.step + 30000000 END,
       CASE WHEN s % 61 = 0 THEN 1 ELSE 0 END,
       CASE WHEN s % 199 = 0 THEN p.created_at + s * p.step + 60000000 END,
       CASE WHEN s % 199 = 0 AND s % 50 <> 0 THEN pg_temp.uid(p.i, ((s * 7) % p.n_part)::int) END
FROM plan p CROSS JOIN LATERAL generate_series(1::bigint, p.n_msgs) AS s
ORDER BY p.created_at + s * p.step;

-- Denormalised counters and the last-message preview, consistent with the rows above.
INSERT INTO conversations (id, kind, status, title, context_kind, context_id, unique_key,
                           created_by, created_at, updated_at, last_activity_at, last_event_at,
                           trusted, encrypted, message_count, last_message_seq, last_event_seq,
                           last_message_sender, last_message_kind, last_message_text,
                           last_message_at, participant_count)
SELECT p.id, p.kind, CASE WHEN p.r2 >= 97 THEN 'archived' ELSE 'active' END,
       CASE WHEN p.kind = 'direct' THEN NULL ELSE initcap(p.kind) || ' ' || p.i END,
       CASE WHEN p.r2 < 30 THEN (ARRAY['order', 'booking', 'event'])[1 + p.r2 % 3] END,
       CASE WHEN p.r2 < 30 THEN 'ctx-' || p.i END,
       CASE WHEN p.kind = 'direct' THEN 'direct:' || pg_temp.uid(p.i, 0) || ':' || pg_temp.uid(p.i, 1) || ':' || p.i END,
       pg_temp.uid(p.i, 0), p.created_at, p.created_at, m.created_at, m.created_at,
       p.kind = 'support', FALSE, p.n_msgs, p.n_msgs, p.n_msgs + 1,
       m.sender_id, m.kind, left(coalesce(m.content, ''), 100), m.created_at,
       (SELECT count(*) FROM part_plan pp WHERE pp.i = p.i AND pp.left_at IS NULL)
FROM plan p JOIN messages m ON m.conversation_id = p.id AND m.seq = p.n_msgs
ORDER BY p.created_at;

INSERT INTO participants (conversation_id, user_id, role, joined_at, left_at, last_read_seq,
                          last_read_at, last_delivered_seq, muted, pinned, archived,
                          notification_level)
SELECT conversation_id, user_id, role, created_at, left_at, last_read_seq, last_read_at,
       last_delivered_seq, muted, pinned, archived, notification_level
FROM part_plan ORDER BY created_at, j;

-- Gap-free event log: seq 1 is conversation.created, seq s + 1 is message s's message.created.
INSERT INTO events (conversation_id, seq, kind, message_seq, data, created_at)
SELECT conversation_id, seq, kind, message_seq, data, created_at FROM (
  SELECT c.id AS conversation_id, 1::bigint AS seq, 'conversation.created' AS kind,
         NULL::bigint AS message_seq,
         json_build_object('id', c.id, 'type', c.kind, 'title', c.title, 'created_at', c.created_at) AS data,
         c.created_at
  FROM conversations c
  UNION ALL
  SELECT m.conversation_id, m.seq + 1, 'message.created', m.seq, '{}'::json, m.created_at
  FROM messages m
) AS e
ORDER BY created_at, seq;
SQL

  step "VACUUM ANALYZE"
  psql_db -c "VACUUM (ANALYZE)" -c "CHECKPOINT"
fi

step "check the data"
psql_db -At -F ' | ' <<'SQL' | tee "$OUT/data.txt"
SELECT 'users', count(*) FROM users
UNION ALL SELECT 'conversations', count(*) FROM conversations
UNION ALL SELECT 'participants (active)', count(*) FILTER (WHERE left_at IS NULL) FROM participants
UNION ALL SELECT 'participants (all)', count(*) FROM participants
UNION ALL SELECT 'messages', count(*) FROM messages
UNION ALL SELECT 'events', count(*) FROM events
UNION ALL SELECT 'max messages in a conversation', max(message_count) FROM conversations
UNION ALL SELECT 'conversations with >= 10000 messages', count(*) FROM conversations WHERE message_count >= 10000
UNION ALL SELECT 'median messages per conversation', percentile_disc(0.5) WITHIN GROUP (ORDER BY message_count) FROM conversations
UNION ALL SELECT 'u0 conversations', count(*) FROM participants WHERE user_id = 'u0' AND left_at IS NULL
UNION ALL SELECT 'u1999 conversations', count(*) FROM participants WHERE user_id = 'u1999' AND left_at IS NULL
UNION ALL SELECT 'counters consistent (0 = yes)', count(*) FROM conversations c
  WHERE c.last_message_seq <> (SELECT max(seq) FROM messages m WHERE m.conversation_id = c.id)
     OR c.last_event_seq <> (SELECT max(seq) FROM events e WHERE e.conversation_id = c.id)
     OR c.participant_count <> (SELECT count(*) FROM participants p WHERE p.conversation_id = c.id AND p.left_at IS NULL)
UNION ALL SELECT 'size messages (MB)', pg_total_relation_size('messages') / 1048576
UNION ALL SELECT 'size events (MB)', pg_total_relation_size('events') / 1048576
UNION ALL SELECT 'size database (MB)', pg_database_size(current_database()) / 1048576;
SQL

# Literal values the queries name.
C1="'$(psql_db -Atc "SELECT md5('natter-conv-1')::uuid")'"
LURKER="'$(psql_db -Atc "SELECT user_id FROM participants WHERE conversation_id = md5('natter-conv-1')::uuid AND user_id <> 'u0' AND last_read_seq = 0 ORDER BY user_id LIMIT 1")'"
NOW=1760000000000000
BIG=9223372036854775807

# The store's column lists (crates/natter-store-postgres/src/rows.rs).
CONVERSATION_COLUMNS="c.id, c.kind, c.status, c.title, c.description, c.avatar_url, c.context_kind, c.context_id, c.created_by, c.created_at, c.updated_at, c.last_activity_at, c.trusted, c.encrypted, c.message_count, c.last_message_seq, c.last_event_seq, c.last_message_sender, c.last_message_kind, c.last_message_text, c.last_message_at, c.participant_count"
PARTICIPANT_COLUMNS="p.conversation_id, p.user_id, p.role, p.joined_at, p.left_at, p.last_read_seq, p.last_read_at, p.last_delivered_seq, p.muted, p.muted_until, p.pinned, p.archived, p.notification_level, p.sound"
MESSAGE_COLUMNS="m.id, m.conversation_id, m.seq, m.sender_id, m.kind, m.content, m.client_message_id, m.reply_to_id, m.mentions, m.created_at, m.edited_at, m.edit_count, m.deleted_at, m.deleted_by, m.pii_masked"
UNREAD_SUBQUERY="(SELECT COUNT(*) FROM messages m WHERE m.conversation_id = p.conversation_id AND m.seq > p.last_read_seq AND m.deleted_at IS NULL AND m.sender_id IS DISTINCT FROM p.user_id)"

# list_conversations with no filters: binds $1 user, $2 now, then the limit.
LIST_INNER="SELECT $CONVERSATION_COLUMNS, $PARTICIPANT_COLUMNS, $UNREAD_SUBQUERY AS unread, CASE WHEN c.kind = 'direct' THEN (SELECT p2.user_id FROM participants p2 WHERE p2.conversation_id = c.id AND p2.user_id <> p.user_id ORDER BY p2.user_id LIMIT 1) END AS peer, c.last_activity_at AS sort_at, c.id AS sort_id FROM participants p JOIN conversations c ON c.id = p.conversation_id WHERE p.user_id = \$1 AND p.left_at IS NULL"
LIST_SQL="SELECT * FROM ($LIST_INNER) AS t WHERE TRUE ORDER BY t.sort_at DESC, t.sort_id DESC LIMIT \$3"
LIST_UNREAD_SQL="SELECT * FROM ($LIST_INNER) AS t WHERE TRUE AND (t.unread > 0) = \$3 ORDER BY t.sort_at DESC, t.sort_id DESC LIMIT \$4"
MESSAGES_DESC_SQL="SELECT $MESSAGE_COLUMNS FROM messages m WHERE m.conversation_id = \$1 AND m.seq < \$2 AND m.seq > \$3 ORDER BY m.seq DESC LIMIT \$4"
EVENTS_SQL="SELECT e.seq, e.kind, e.data::text, e.created_at, $MESSAGE_COLUMNS FROM events e LEFT JOIN messages m ON m.conversation_id = e.conversation_id AND m.seq = e.message_seq WHERE e.conversation_id = \$1 AND e.seq > \$2 ORDER BY e.seq LIMIT \$3"
COUNT_UNREAD_SQL="SELECT $UNREAD_SUBQUERY FROM participants p WHERE p.conversation_id = \$1 AND p.user_id = \$2 AND p.left_at IS NULL"
UNREAD_COUNTS_SQL="SELECT conversation_id, unread FROM ( SELECT p.conversation_id, $UNREAD_SUBQUERY AS unread FROM participants p WHERE p.user_id = \$1 AND p.left_at IS NULL) AS t WHERE unread > 0 ORDER BY conversation_id"
UNREAD_SPLIT_SQL="SELECT COUNT(*) FILTER (WHERE m.seq <= \$3), COUNT(*) FILTER (WHERE m.seq > \$3) FROM messages m WHERE m.conversation_id = \$1 AND m.seq > \$2 AND m.seq <= \$4 AND m.deleted_at IS NULL AND m.sender_id IS DISTINCT FROM \$5"
SYNC_SQL="SELECT c.id, c.last_event_seq, p.left_at IS NOT NULL FROM participants p JOIN conversations c ON c.id = p.conversation_id WHERE p.user_id = \$1 AND ((p.left_at IS NULL AND c.last_event_at >= \$2) OR (p.left_at IS NOT NULL AND p.left_at >= \$2)) ORDER BY c.last_event_at, c.id"
# append_message, in order: seqs (locks the row), duplicate check, message, sender's marker, event.
APPEND_UPDATE_SQL="UPDATE conversations SET last_message_seq = last_message_seq + 1, message_count = message_count + 1, last_message_sender = \$2, last_message_kind = \$3, last_message_text = \$4, last_message_at = \$5, last_activity_at = GREATEST(last_activity_at, \$5), last_event_seq = last_event_seq + 1, last_event_at = GREATEST(last_event_at, \$5) WHERE id = \$1 RETURNING last_message_seq, last_event_seq"
APPEND_DUP_SQL="SELECT $MESSAGE_COLUMNS FROM messages m WHERE m.sender_id = \$1 AND m.client_message_id = \$2"
APPEND_INSERT_SQL="INSERT INTO messages (conversation_id, seq, id, sender_id, kind, content, client_message_id, reply_to_id, mentions, created_at, pii_masked) VALUES (\$1, \$2, \$3, \$4, \$5, \$6, \$7, \$8, \$9, \$10, \$11)"
APPEND_MARKER_SQL="UPDATE participants SET last_read_seq = \$3, last_read_at = \$4, last_delivered_seq = GREATEST(last_delivered_seq, \$3) WHERE conversation_id = \$1 AND user_id = \$2 AND last_read_seq < \$3"
APPEND_EVENT_SQL="INSERT INTO events (conversation_id, seq, kind, message_seq, data, created_at) VALUES (\$1, \$2, \$3, \$4, \$5::json, \$6)"

# $1 with the values substituted for $n (highest first, so $1 does not eat $10).
literal() {
  local sql=$1; shift
  local vals=("$@") k
  for ((k = ${#vals[@]}; k >= 1; k--)); do
    sql=${sql//\$$k/${vals[k - 1]}}
  done
  printf '%s' "$sql"
}

EXPLAIN="EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)"

# explain NAME TYPES SQL VALUES...: a read, three runs with literals (last kept), then three
# runs of the prepared statement with a generic plan (last kept).
explain() {
  local name=$1 types=$2 sql=$3; shift 3
  local lit vals
  lit=$(literal "$sql" "$@")
  vals=$(IFS=,; printf '%s' "$*")
  {
    echo "\\o /dev/null"
    echo "$EXPLAIN $lit;"
    echo "$EXPLAIN $lit;"
    echo "\\o $OUT/$name.txt"
    echo "$EXPLAIN $lit;"
    echo "\\o /dev/null"
    echo "SET plan_cache_mode = force_generic_plan;"
    echo "PREPARE q($types) AS $sql;"
    echo "$EXPLAIN EXECUTE q($vals);"
    echo "$EXPLAIN EXECUTE q($vals);"
    echo "\\o $OUT/$name.generic.txt"
    echo "$EXPLAIN EXECUTE q($vals);"
  } | psql_db
}

# explain_write NAME SETUP SQL: a statement of the append transaction; SETUP runs the
# earlier statements first. Three runs, each rolled back; the last is kept.
explain_write() {
  local name=$1 setup=$2 sql=$3 r target
  {
    for r in 1 2 3; do
      target=/dev/null
      [ "$r" = 3 ] && target="$OUT/$name.txt"
      echo "\\o /dev/null"
      echo "BEGIN;"
      [ -n "$setup" ] && echo "$setup"
      echo "\\o $target"
      echo "$EXPLAIN $sql;"
      echo "\\o /dev/null"
      echo "ROLLBACK;"
    done
  } | psql_db
}

step "EXPLAIN ANALYZE (3 runs each, the last kept)"
explain a1_list_conversations_u0 "text,bigint,bigint" "$LIST_SQL" "'u0'" "$NOW" 51
explain a2_list_conversations_u0_has_unread "text,bigint,boolean,bigint" "$LIST_UNREAD_SQL" "'u0'" "$NOW" true 51
explain a3_list_conversations_power_user "text,bigint,bigint" "$LIST_SQL" "'u1999'" "$NOW" 51
explain b1_list_messages_newest "uuid,bigint,bigint,bigint" "$MESSAGES_DESC_SQL" "$C1" "$BIG" 0 51
explain b2_list_messages_deep "uuid,bigint,bigint,bigint" "$MESSAGES_DESC_SQL" "$C1" 10000 0 51
explain c1_list_events_after_19900 "uuid,bigint,bigint" "$EVENTS_SQL" "$C1" 19900 100
explain d1_count_unread_u0 "uuid,text" "$COUNT_UNREAD_SQL" "$C1" "'u0'"
explain d2_list_unread_counts_u0 "text" "$UNREAD_COUNTS_SQL" "'u0'"
explain d3_count_unread_lurker "uuid,text" "$COUNT_UNREAD_SQL" "$C1" "$LURKER"
explain d4_list_unread_counts_power_user "text" "$UNREAD_COUNTS_SQL" "'u1999'"
explain d5_mark_read_split_lurker "uuid,bigint,bigint,bigint,text" "$UNREAD_SPLIT_SQL" "$C1" 0 20000 20000 "$LURKER"
explain d6_sync_u0 "text,bigint" "$SYNC_SQL" "'u0'" "$((NOW - 86400000000))"

# whatif NAME SETUP SQL: SQL after SETUP (a candidate index, say) in a transaction that is
# rolled back; three runs, the last kept. Nothing here changes the schema.
whatif() {
  local name=$1 setup=$2 sql=$3
  {
    echo "\\o /dev/null"
    echo "BEGIN;"
    echo "$setup"
    echo "$EXPLAIN $sql;"
    echo "$EXPLAIN $sql;"
    echo "\\o $OUT/$name.txt"
    echo "$EXPLAIN $sql;"
    echo "\\o /dev/null"
    echo "ROLLBACK;"
  } | psql_db
}

step "what-if: a covering index for unread counts; the unread subquery evaluated once"
UNREAD_INDEX="CREATE INDEX messages_unread ON messages (conversation_id, seq) INCLUDE (sender_id) WHERE deleted_at IS NULL;"
whatif w1_index_a1_list_conversations_u0 "$UNREAD_INDEX" "$(literal "$LIST_SQL" "'u0'" "$NOW" 51)"
whatif w2_index_a2_list_conversations_u0_has_unread "$UNREAD_INDEX" "$(literal "$LIST_UNREAD_SQL" "'u0'" "$NOW" true 51)"
whatif w3_index_d2_list_unread_counts_u0 "$UNREAD_INDEX" "$(literal "$UNREAD_COUNTS_SQL" "'u0'")"
whatif w4_index_d3_count_unread_lurker "$UNREAD_INDEX" "$(literal "$COUNT_UNREAD_SQL" "$C1" "$LURKER")"
whatif w5_index_d4_list_unread_counts_power_user "$UNREAD_INDEX" "$(literal "$UNREAD_COUNTS_SQL" "'u1999'")"
# The same queries with the derived table fenced (OFFSET 0), so the filter on `unread`
# reuses the computed column instead of evaluating the subquery a second time.
FENCED_LIST_UNREAD_SQL=${LIST_UNREAD_SQL/p.left_at IS NULL) AS t/p.left_at IS NULL OFFSET 0) AS t}
FENCED_UNREAD_COUNTS_SQL=${UNREAD_COUNTS_SQL/p.left_at IS NULL) AS t/p.left_at IS NULL OFFSET 0) AS t}
whatif w6_offset0_a2_list_conversations_u0_has_unread "" "$(literal "$FENCED_LIST_UNREAD_SQL" "'u0'" "$NOW" true 51)"
whatif w7_offset0_d4_list_unread_counts_power_user "" "$(literal "$FENCED_UNREAD_COUNTS_SQL" "'u1999'")"
whatif w8_index_offset0_d4_list_unread_counts_power_user "$UNREAD_INDEX" "$(literal "$FENCED_UNREAD_COUNTS_SQL" "'u1999'")"

step "EXPLAIN ANALYZE of the append path (each run rolled back)"
A_NOW=$((NOW + 1000000))
A_UPDATE=$(literal "$APPEND_UPDATE_SQL" "$C1" "'u0'" "'text'" "'hello from the benchmark'" "$A_NOW")
A_DUP=$(literal "$APPEND_DUP_SQL" "'u0'" "'cm-bench-1'")
A_INSERT=$(literal "$APPEND_INSERT_SQL" "$C1" 20001 "'00000000-0000-4000-8000-000000000001'" "'u0'" "'text'" "'hello from the benchmark'" "'cm-bench-1'" NULL NULL "$A_NOW" false)
A_MARKER=$(literal "$APPEND_MARKER_SQL" "$C1" "'u0'" 20001 "$A_NOW")
A_EVENT=$(literal "$APPEND_EVENT_SQL" "$C1" 20002 "'message.created'" 20001 "'{}'" "$A_NOW")
explain_write e1_append_update_conversation "" "$A_UPDATE"
explain_write e2_append_duplicate_check "$A_UPDATE;" "$A_DUP"
explain_write e3_append_insert_message "$A_UPDATE; $A_DUP;" "$A_INSERT"
explain_write e4_append_update_marker "$A_UPDATE; $A_DUP; $A_INSERT;" "$A_MARKER"
explain_write e5_append_insert_event "$A_UPDATE; $A_DUP; $A_INSERT; $A_MARKER;" "$A_EVENT"

step "summary"
{
  echo "PostgreSQL $(psql_db -Atc 'SHOW server_version'), database $DB; full plans in $OUT"
  for f in "$OUT"/[a-e][0-9]_*.txt "$OUT"/w[0-9]_*.txt; do
    case "$f" in *.generic.txt) continue ;; esac
    name=$(basename "$f" .txt)
    t=$(sed -n 's/.*Execution Time: \([0-9.]*\) ms.*/\1/p' "$f")
    g=""
    [ -f "$OUT/$name.generic.txt" ] && g=$(sed -n 's/.*Execution Time: \([0-9.]*\) ms.*/\1/p' "$OUT/$name.generic.txt")
    printf '\n%-40s %8s ms%s\n' "$name" "$t" "${g:+   (generic plan: $g ms)}"
    # Key lines: scans, joins, sorts, subplans, with their rows and loops; top-level buffers.
    grep -E 'Scan|Join|Nested Loop|Sort|SubPlan|Limit|Aggregate|Insert on|Update on|Filter|Index Cond|Result' "$f" \
      | grep -v -E 'Sort Key|Planning|Trigger' \
      | sed -E 's/\(actual time=[0-9.]+\.\.[0-9.]+ /(/; s/^ +/  /; s/  +->/  ->/' | head -20
    grep -m1 'Buffers:' "$f" | sed -E 's/^ +/  /'
  done
  echo
  echo "run time: $((SECONDS - START)) s"
} | tee "$OUT/summary.txt"
