//! [`SearchStore`] for SQLite: FTS5 lookups over the indexes of `migrations/0002_search.sql`.
//!
//! One search reads, in one snapshot:
//! 1. the caller's scope: active, unencrypted conversations, each with its docid range
//!    (`docbase * 2^32 + seq`, see the migration);
//! 2. the candidates: with at least one term of [`INDEXED_TERM_CHARS`] characters, the
//!    `message_trigrams` rows matching all such terms, one rowid-range lookup per
//!    conversation (so the cost follows the caller's conversations, not the whole
//!    database); otherwise every message of the scope. Newest first, joined with
//!    `messages` for the filters;
//! 3. the bm25 score of whole-word matches from `message_words`, by the same ranges.
//!
//! Every candidate is confirmed with [`natter_store::search::matches_all`] (short terms
//! and word-start prefixes are checked only there) until `max_matches` are found. The rank
//! is `-bm25(message_words) - bm25(message_trigrams)`: whole-word matches first, then
//! substring matches by trigram relevance.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use async_trait::async_trait;
use natter_proto::ConversationId;
use natter_store::search::{
    fold_char, folded_characters, matches_all, MessageSearch, SearchMatch, SearchTerm, TermKind,
    ATTACHMENT_TYPES,
};
use natter_store::{to_micros, SearchStore, StoreError};
use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection};

use crate::error::store_error;
use crate::rows::{self, MESSAGE_COLUMNS};
use crate::SqliteStore;

type Result<T> = std::result::Result<T, StoreError>;

/// Docids of one conversation are `docbase * DOCS_PER_CONVERSATION + seq`.
const DOCS_PER_CONVERSATION: i64 = 1 << 32;

/// Columns of the scope query, by position.
const SCOPE_SQL: &str = "SELECT p.conversation_id, s.docbase * 4294967296 FROM participants p \
    JOIN conversations c ON c.id = p.conversation_id \
    JOIN search_conversations s ON s.conversation_id = p.conversation_id \
    WHERE p.user_id = ?1 AND p.left_at IS NULL AND NOT c.encrypted";

#[async_trait]
impl SearchStore for SqliteStore {
    async fn search_messages(&self, search: &MessageSearch) -> Result<Vec<SearchMatch>> {
        let search = search.clone();
        self.readers
            .read(move |conn| {
                // One read transaction: scope, candidates and scores from one WAL snapshot.
                let snapshot = conn.unchecked_transaction().map_err(store_error)?;
                let matches = search_in(&snapshot, &search)?;
                snapshot.finish().map_err(store_error)?;
                Ok(matches)
            })
            .await
    }
}

/// SQL under construction and its parameters after `?3`.
#[derive(Default)]
struct Filters {
    sql: String,
    params: Vec<Value>,
}

impl Filters {
    /// Appends `clause`, whose `#` stands for the next parameter, bound to `value`.
    fn add(&mut self, clause: &str, value: Value) {
        self.params.push(value);
        // params[0] is ?1; the others come after ?2 and ?3.
        let placeholder = format!("?{}", self.params.len() + 2);
        self.sql.push_str(&clause.replace('#', &placeholder));
    }
}

/// A conversation of the caller's scope and the first docid of its range.
struct ScopeEntry {
    conversation_id: ConversationId,
    low: i64,
}

fn search_in(conn: &Connection, search: &MessageSearch) -> Result<Vec<SearchMatch>> {
    let scope = select_scope(conn, search)?;
    if scope.is_empty() || search.terms.is_empty() || search.max_matches == 0 {
        return Ok(Vec::new());
    }
    let word_scores = word_scores(conn, &scope, &search.terms)?;
    let trigram_query = fts_query(search.terms.iter().filter(|t| t.is_indexed()), " AND ");
    // ?1 is the trigram query, ?2 the conversation, ?3 its first docid; the filters follow.
    let mut query = Filters::default();
    match &trigram_query {
        Some(fts) => {
            query.params.push(Value::Text(fts.clone()));
            query.sql = format!(
                "SELECT {MESSAGE_COLUMNS}, message_trigrams.rowid, bm25(message_trigrams) \
                 FROM message_trigrams \
                 JOIN messages m ON m.conversation_id = ?2 AND m.seq = message_trigrams.rowid - ?3 \
                 WHERE message_trigrams MATCH ?1 AND message_trigrams.rowid > ?3 \
                 AND message_trigrams.rowid < ?3 + {DOCS_PER_CONVERSATION}"
            );
        }
        None => {
            query.params.push(Value::Null);
            query.sql = format!(
                "SELECT {MESSAGE_COLUMNS}, ?3 + m.seq, NULL FROM messages m \
                 WHERE ?1 IS NULL AND m.conversation_id = ?2"
            );
            // Terms whose characters only ever fold from themselves (CJK, digits,
            // punctuation) can be looked for in the raw content; the others are checked
            // after folding, below.
            for term in search.terms.iter().filter(|t| is_fold_fixed(&t.text)) {
                query.add(
                    " AND instr(m.content, #) > 0",
                    Value::Text(term.text.clone()),
                );
            }
        }
    }
    query
        .sql
        .push_str(" AND m.deleted_at IS NULL AND m.content IS NOT NULL");
    if let Some(sender_id) = &search.sender_id {
        query.add(
            " AND m.sender_id = #",
            Value::Text(sender_id.as_str().into()),
        );
    }
    if let Some(kind) = search.kind {
        query.add(" AND m.kind = #", Value::Text(kind.as_str().into()));
    }
    if let Some(from) = search.from {
        query.add(" AND m.created_at >= #", Value::Integer(to_micros(from)));
    }
    if let Some(to) = search.to {
        query.add(" AND m.created_at < #", Value::Integer(to_micros(to)));
    }
    match search.has_attachment {
        Some(true) => query
            .sql
            .push_str(&format!(" AND m.kind IN ({})", attachment_kinds())),
        Some(false) => query
            .sql
            .push_str(&format!(" AND m.kind NOT IN ({})", attachment_kinds())),
        None => {}
    }
    if hidden_table_exists(conn)? {
        // "Deleted for me" (issue #5): the messages a user hid are never theirs to find.
        query.add(
            " AND NOT EXISTS (SELECT 1 FROM message_hidden h \
               WHERE h.message_id = m.id AND h.user_id = #)",
            Value::Text(search.user_id.as_str().into()),
        );
    }
    let (sql, params) = (query.sql, query.params);

    // Candidates of every conversation, newest first across conversations: each
    // conversation's candidates come from its own lookup; merging them by time is done
    // here rather than in SQL so that each lookup stays a single rowid range.
    let mut candidates = Vec::new();
    let width = MESSAGE_COLUMNS.matches(',').count() + 1;
    let mut stmt = conn.prepare_cached(&sql).map_err(store_error)?;
    for entry in &scope {
        let mut bound = Vec::with_capacity(params.len() + 2);
        bound.push(params[0].clone());
        bound.push(Value::Blob(entry.conversation_id.0.as_bytes().to_vec()));
        bound.push(Value::Integer(entry.low));
        bound.extend(params[1..].iter().cloned());
        let rows = stmt
            .query_map(params_from_iter(bound), |row| {
                let message = rows::message(row, 0)?;
                let docid: i64 = row.get(width)?;
                let trigram_bm25: Option<f64> = row.get(width + 1)?;
                Ok((message, docid, trigram_bm25))
            })
            .map_err(store_error)?;
        for row in rows {
            let (message, docid, trigram_bm25) = row.map_err(store_error)?;
            let Some(message) = message else { continue };
            candidates.push((message, docid, trigram_bm25));
        }
    }
    candidates.sort_by_key(|(message, _, _)| std::cmp::Reverse((message.created_at, message.id)));

    let limit = usize::try_from(search.max_matches).unwrap_or(usize::MAX);
    let mut matches = Vec::new();
    for (message, docid, trigram_bm25) in candidates {
        if matches.len() >= limit {
            break;
        }
        let Some(content) = message.content.as_deref() else {
            continue;
        };
        if !matches_all(&search.terms, content) {
            continue;
        }
        let word = word_scores.get(&docid).copied().unwrap_or(0.0);
        // bm25() is negative; more negative is more relevant.
        let rank = -word - trigram_bm25.unwrap_or(0.0);
        matches.push(SearchMatch { message, rank });
    }
    Ok(matches)
}

/// The caller's searchable conversations (optionally just the one asked for).
fn select_scope(conn: &Connection, search: &MessageSearch) -> Result<Vec<ScopeEntry>> {
    let mut sql = SCOPE_SQL.to_owned();
    let mut params: Vec<Value> = vec![Value::Text(search.user_id.as_str().to_owned())];
    if let Some(conversation_id) = search.conversation_id {
        params.push(Value::Blob(conversation_id.0.as_bytes().to_vec()));
        sql.push_str(" AND p.conversation_id = ?2");
    }
    conn.prepare_cached(&sql)
        .and_then(|mut stmt| {
            stmt.query_map(params_from_iter(params), |row| {
                Ok(ScopeEntry {
                    conversation_id: ConversationId(row.get(0)?),
                    low: row.get(1)?,
                })
            })?
            .collect()
        })
        .map_err(store_error)
}

/// bm25 of the whole-word matches by docid, one rowid-range lookup per conversation.
fn word_scores(
    conn: &Connection,
    scope: &[ScopeEntry],
    terms: &[SearchTerm],
) -> Result<HashMap<i64, f64>> {
    let words = terms
        .iter()
        .filter(|t| t.text.chars().any(char::is_alphanumeric));
    let Some(query) = fts_query(words, " OR ") else {
        return Ok(HashMap::new());
    };
    let mut scores = HashMap::new();
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT rowid, bm25(message_words) FROM message_words \
             WHERE message_words MATCH ?1 AND rowid > ?2 AND rowid < ?2 + {DOCS_PER_CONVERSATION}"
        ))
        .map_err(store_error)?;
    for entry in scope {
        let rows = stmt
            .query_map(rusqlite::params![query, entry.low], |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, f64>(1)?))
            })
            .map_err(store_error)?;
        for row in rows {
            let (docid, score) = row.map_err(store_error)?;
            scores.insert(docid, score);
        }
    }
    Ok(scores)
}

/// An FTS5 query joining the terms as quoted strings (prefix terms with `*`), or `None`
/// without terms. Quoting makes every character literal: FTS5 syntax cannot be injected.
fn fts_query<'a>(terms: impl Iterator<Item = &'a SearchTerm>, joiner: &str) -> Option<String> {
    let parts: Vec<String> = terms
        .map(|term| {
            let quoted = format!("\"{}\"", term.text.replace('"', "\"\""));
            match term.kind {
                TermKind::Prefix => format!("{quoted} *"),
                TermKind::Substring => quoted,
            }
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join(joiner))
}

fn attachment_kinds() -> String {
    ATTACHMENT_TYPES
        .iter()
        .map(|kind| format!("'{}'", kind.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether every character of `text` folds to itself and nothing else folds to it, so
/// that a raw `instr` on the content finds exactly the folded occurrences.
fn is_fold_fixed(text: &str) -> bool {
    static TARGETS: OnceLock<HashSet<char>> = OnceLock::new();
    let targets = TARGETS.get_or_init(|| folded_characters().filter_map(|(_, to)| to).collect());
    text.chars()
        .all(|c| fold_char(c) == Some(c) && !targets.contains(&c))
}

/// Whether the "deleted for me" table of issue #5 exists yet.
fn hidden_table_exists(conn: &Connection) -> Result<bool> {
    conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'message_hidden')",
    )
    .and_then(|mut stmt| stmt.query_row([], |row| row.get(0)))
    .map_err(store_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    use natter_store::search::fold;

    fn memory() -> Connection {
        let mut conn = Connection::open_in_memory().expect("in-memory database");
        crate::migrations::apply(&mut conn).expect("migrations");
        conn
    }

    /// The Rust port folds every character exactly as the FTS5 trigram tokenizer does:
    /// index each character three times and read back the trigram FTS5 made of it.
    #[test]
    fn rust_folding_equals_fts5_folding_for_every_character() {
        let conn = memory();
        conn.execute_batch(
            "CREATE VIRTUAL TABLE fold_probe USING fts5 (t, \
               tokenize = 'trigram case_sensitive 0 remove_diacritics 1'); \
             CREATE VIRTUAL TABLE fold_probe_terms USING fts5vocab (fold_probe, instance);",
        )
        .expect("probe tables");
        let characters: Vec<char> = (1u32..0x11000).filter_map(char::from_u32).collect();
        {
            let mut insert = conn
                .prepare("INSERT INTO fold_probe (rowid, t) VALUES (?1, ?2)")
                .expect("insert");
            for c in &characters {
                // c three times between "xy" and "z": one trigram is c folded three
                // times, unless folding drops c, when "xyz" remains.
                let text = format!("xy{c}{c}{c}z");
                insert
                    .execute(rusqlite::params![u32::from(*c), text])
                    .expect("insert probe");
            }
        }
        let mut folded_by_fts: HashMap<u32, HashSet<String>> = HashMap::new();
        let mut stmt = conn
            .prepare("SELECT doc, term FROM fold_probe_terms")
            .expect("vocab");
        let rows = stmt
            .query_map([], |row| {
                Ok((row.get::<_, u32>(0)?, row.get::<_, String>(1)?))
            })
            .expect("query");
        for row in rows {
            let (doc, term) = row.expect("row");
            folded_by_fts.entry(doc).or_default().insert(term);
        }
        let mut mismatches = Vec::new();
        for c in characters {
            let terms = folded_by_fts.remove(&u32::from(c)).unwrap_or_default();
            let expected = match fold_char(c) {
                Some(f) => f.to_string().repeat(3),
                None => "xyz".to_owned(),
            };
            if !terms.contains(&expected) {
                mismatches.push((c, u32::from(c), terms));
            }
        }
        assert!(
            mismatches.is_empty(),
            "{} mismatches, first: {:?}",
            mismatches.len(),
            &mismatches[..mismatches.len().min(5)]
        );
    }

    fn conversation(conn: &Connection, encrypted: bool) -> ConversationId {
        let id = ConversationId::new();
        conn.execute(
            "INSERT INTO conversations (id, kind, created_at, updated_at, last_activity_at, \
             last_event_at, encrypted) VALUES (?1, 'group', 1, 1, 1, 1, ?2)",
            rusqlite::params![id.0, encrypted],
        )
        .expect("conversation");
        id
    }

    fn insert(conn: &Connection, conversation_id: ConversationId, seq: i64, content: &str) {
        conn.execute(
            "INSERT INTO messages (conversation_id, seq, id, kind, content, created_at) \
             VALUES (?1, ?2, ?3, 'text', ?4, ?2)",
            rusqlite::params![conversation_id.0, seq, uuid::Uuid::now_v7(), content],
        )
        .expect("message");
    }

    /// Docids whose trigram row matches the (already folded) substring.
    fn found(conn: &Connection, text: &str) -> Vec<i64> {
        let mut stmt = conn
            .prepare(
                "SELECT rowid FROM message_trigrams WHERE message_trigrams MATCH ?1 ORDER BY rowid",
            )
            .expect("prepare");
        let query = format!("\"{text}\"");
        stmt.query_map([query], |row| row.get(0))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows")
    }

    fn word_hits(conn: &Connection, text: &str) -> usize {
        conn.query_row(
            "SELECT COUNT(*) FROM message_words WHERE message_words MATCH ?1",
            [format!("\"{text}\"")],
            |row| row.get(0),
        )
        .expect("count")
    }

    #[test]
    fn triggers_follow_inserts_edits_deletes_and_purges() {
        let conn = memory();
        let first = conversation(&conn, false);
        let second = conversation(&conn, false);
        insert(&conn, first, 1, "Vertrag über die Lieferung");
        insert(&conn, first, 2, "明天的会议在东京");
        insert(&conn, second, 1, "the contract is signed");
        assert_eq!(found(&conn, "vertrag").len(), 1);
        assert_eq!(found(&conn, &fold("ÜBER")).len(), 1);
        assert_eq!(found(&conn, "会议在").len(), 1);
        let base: i64 = conn
            .query_row(
                "SELECT docbase FROM search_conversations WHERE conversation_id = ?1",
                [second.0],
                |row| row.get(0),
            )
            .expect("docbase");
        assert_eq!(
            found(&conn, "contract"),
            vec![base * DOCS_PER_CONVERSATION + 1]
        );

        // An edit replaces the indexed text, in both indexes.
        conn.execute(
            "UPDATE messages SET content = 'the deal is off', edit_count = 1 \
             WHERE conversation_id = ?1 AND seq = 1",
            [second.0],
        )
        .expect("edit");
        assert!(found(&conn, "contract").is_empty());
        assert_eq!(word_hits(&conn, "contract"), 0);
        assert_eq!(found(&conn, "deal").len(), 1);
        assert_eq!(word_hits(&conn, "deal"), 1);
        // Editing back re-adds the same docid.
        conn.execute(
            "UPDATE messages SET content = 'the contract is back' WHERE conversation_id = ?1 AND seq = 1",
            [second.0],
        )
        .expect("edit back");
        assert_eq!(found(&conn, "contract").len(), 1);
        assert!(found(&conn, "deal").is_empty());

        // A deletion (tombstone) removes it; a purge of the tombstone changes nothing.
        conn.execute(
            "UPDATE messages SET deleted_at = 5 WHERE conversation_id = ?1 AND seq = 1",
            [second.0],
        )
        .expect("delete");
        assert!(found(&conn, "contract").is_empty());
        conn.execute(
            "UPDATE messages SET content = NULL WHERE conversation_id = ?1 AND seq = 1",
            [second.0],
        )
        .expect("purge");
        assert!(found(&conn, "contract").is_empty());
        assert_eq!(word_hits(&conn, "contract"), 0);

        // Other updates of the row leave the index alone; deleting the row removes it.
        conn.execute("UPDATE messages SET pii_masked = 1", [])
            .expect("other column");
        assert_eq!(found(&conn, "vertrag").len(), 1);
        conn.execute(
            "DELETE FROM messages WHERE conversation_id = ?1 AND seq = 1",
            [first.0],
        )
        .expect("row delete");
        assert!(found(&conn, "vertrag").is_empty());
        assert_eq!(found(&conn, "会议在").len(), 1);
        conn.execute(
            "INSERT INTO message_trigrams (message_trigrams) VALUES ('integrity-check')",
            [],
        )
        .expect("trigram index is consistent");
        conn.execute(
            "INSERT INTO message_words (message_words) VALUES ('integrity-check')",
            [],
        )
        .expect("word index is consistent");
    }

    #[test]
    fn encrypted_conversations_are_not_indexed() {
        let conn = memory();
        let secret = conversation(&conn, true);
        insert(&conn, secret, 1, "ciphertext that looks like text");
        assert!(found(&conn, "ciphertext").is_empty());
        conn.execute(
            "UPDATE messages SET content = 'still secret' WHERE conversation_id = ?1",
            [secret.0],
        )
        .expect("update");
        assert!(found(&conn, "secret").is_empty());
    }

    #[test]
    fn migrating_a_database_with_messages_indexes_them() {
        let mut conn = Connection::open_in_memory().expect("db");
        conn.execute_batch(include_str!("../migrations/0001_core.sql"))
            .expect("core schema");
        conn.execute_batch(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL);
             INSERT INTO schema_migrations VALUES (1, 0);",
        )
        .expect("version 1");
        let old = conversation(&conn, false);
        insert(&conn, old, 1, "written before search existed");
        crate::migrations::apply(&mut conn).expect("migrate");
        assert_eq!(found(&conn, "before search").len(), 1);
        insert(&conn, old, 2, "and after");
        assert_eq!(found(&conn, "after").len(), 1);
    }

    #[test]
    fn fts_queries_quote_everything() {
        let terms = [
            SearchTerm {
                text: "a\"b OR c".into(),
                kind: TermKind::Substring,
            },
            SearchTerm {
                text: "contr".into(),
                kind: TermKind::Prefix,
            },
        ];
        assert_eq!(
            fts_query(terms.iter(), " AND ").as_deref(),
            Some("\"a\"\"b OR c\" AND \"contr\" *")
        );
        assert_eq!(fts_query([].iter(), " AND "), None);
    }

    #[test]
    fn only_characters_nothing_else_folds_to_are_fixed() {
        assert!(is_fold_fixed("会议"));
        assert!(is_fold_fixed("42"));
        assert!(!is_fold_fixed("ab"), "A folds to a");
        assert!(!is_fold_fixed("É"), "É folds to e");
    }
}
