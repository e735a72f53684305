//! [`SearchStore`] for SQLite: FTS5 lookups over the indexes of the search database
//! ([`crate::search_index`], attached as `search`), or a read of the whole scope.
//!
//! One search reads, in one snapshot of each database (the store's first):
//! 1. the caller's scope: active, unencrypted conversations, each owning the docid range
//!    `docbase * 2^32 + seq` (see the migration);
//! 2. the candidates. With at least one term of [`INDEXED_TERM_CHARS`] characters, the
//!    `message_trigrams` rows matching all such terms, either by one global lookup
//!    (filtered to the scope) or by one rowid-range lookup per conversation, whichever
//!    reads less: the document count of the rarest trigram (from `fts5vocab`) against
//!    the number of conversations; plus the scope's messages changed since the indexer's
//!    mark (queued, not indexed yet), so that search never lags the writes. Without such
//!    a term, or for a scope of at most [`SCAN_MESSAGES`], every message of the scope;
//! 3. each candidate's row, with the filters, by primary key.
//!
//! Every candidate is confirmed with [`natter_store::search::matches_folded`] (short terms
//! and word-start prefixes are checked only there), newest first, until `max_matches` are
//! found. The rank is BM25 of the query's words plus the share of the text the terms cover
//! (the trigram side: parts of words and CJK text have no whole-word matches). BM25 is the
//! formula of FTS5's `bm25()` (k1 = 1.2, b = 0.75) on FTS5's own statistics (row count and
//! average length from `message_words`' averages record, document counts from
//! `fts5vocab`), computed here: `bm25()` itself recounts every query phrase over the whole
//! index on each statement and reads a document size per row, which measured 141 ms for
//! 15 000 rows at 1 000 000 messages, against 1 ms without it.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use natter_proto::ConversationId;
use natter_store::search::{
    fold, fold_char, folded_characters, matches_folded, MessageSearch, SearchMatch, SearchTerm,
    TermKind, ATTACHMENT_TYPES,
};
use natter_store::{to_micros, MessageRecord, SearchStore, StoreError};
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};

use crate::error::store_error;
use crate::rows::{self, MESSAGE_COLUMNS};
use crate::SqliteStore;

type Result<T> = std::result::Result<T, StoreError>;

/// Docids of one conversation are `docbase * DOCS_PER_CONVERSATION + seq`.
const DOCS_PER_CONVERSATION: i64 = 1 << 32;

/// What one rowid-range lookup costs, in global matches read: seeking a range in the
/// doclists of common trigrams costs about a millisecond at 1 000 000 messages, reading a
/// match of a global lookup about a microsecond.
const RANGE_LOOKUP_COST: u64 = 1000;

/// Scopes of at most this many messages are read whole instead of asking the trigram
/// index (see [`scan_scope`]; the figures are in BENCHMARKS.md).
const SCAN_MESSAGES: u64 = 20_000;

/// Trigrams of a term whose document counts are looked up (the rarest decides).
const TRIGRAMS_ESTIMATED: usize = 8;

/// BM25 parameters, FTS5's defaults.
const BM25_K1: f64 = 1.2;
const BM25_B: f64 = 0.75;

/// The caller's searchable conversations, with their docbase.
const SCOPE_SQL: &str =
    "SELECT p.conversation_id, s.docbase, c.last_message_seq FROM participants p \
    JOIN conversations c ON c.id = p.conversation_id \
    JOIN search_conversations s ON s.conversation_id = p.conversation_id \
    WHERE p.user_id = ?1 AND p.left_at IS NULL AND NOT c.encrypted";

/// Per-connection views of the indexes' vocabularies (document count per term).
const VOCABULARIES: &str = "CREATE VIRTUAL TABLE IF NOT EXISTS temp.message_trigram_terms \
       USING fts5vocab (search, message_trigrams, row); \
     CREATE VIRTUAL TABLE IF NOT EXISTS temp.message_word_terms \
       USING fts5vocab (search, message_words, row);";

#[async_trait]
impl SearchStore for SqliteStore {
    async fn search_messages(&self, search: &MessageSearch) -> Result<Vec<SearchMatch>> {
        let search = search.clone();
        self.readers
            .read(move |conn| {
                conn.execute_batch(VOCABULARIES).map_err(store_error)?;
                // One read transaction: scope, candidates and statistics from one snapshot.
                let snapshot = conn.unchecked_transaction().map_err(store_error)?;
                let matches = search_in(&snapshot, &search)?;
                snapshot.finish().map_err(store_error)?;
                Ok(matches)
            })
            .await
    }
}

/// The filters of a search as SQL on `messages m` and their parameters, numbered from ?3
/// (?1 and ?2 are the conversation and the seq).
#[derive(Default)]
struct Filters {
    sql: String,
    params: Vec<Value>,
}

impl Filters {
    /// Appends `clause`, whose `#` stands for the next parameter, bound to `value`.
    fn add(&mut self, clause: &str, value: Value) {
        self.params.push(value);
        let placeholder = format!("?{}", self.params.len() + 2);
        self.sql.push_str(&clause.replace('#', &placeholder));
    }

    fn of(search: &MessageSearch) -> Self {
        let mut filters = Self {
            sql: " AND m.deleted_at IS NULL AND m.content IS NOT NULL".to_owned(),
            params: Vec::new(),
        };
        if let Some(sender_id) = &search.sender_id {
            filters.add(
                " AND m.sender_id = #",
                Value::Text(sender_id.as_str().into()),
            );
        }
        if let Some(kind) = search.kind {
            filters.add(" AND m.kind = #", Value::Text(kind.as_str().into()));
        }
        if let Some(from) = search.from {
            filters.add(" AND m.created_at >= #", Value::Integer(to_micros(from)));
        }
        if let Some(to) = search.to {
            filters.add(" AND m.created_at < #", Value::Integer(to_micros(to)));
        }
        match search.has_attachment {
            Some(true) => filters
                .sql
                .push_str(&format!(" AND m.kind IN ({})", attachment_kinds())),
            Some(false) => filters
                .sql
                .push_str(&format!(" AND m.kind NOT IN ({})", attachment_kinds())),
            None => {}
        }
        // "Deleted for me": the messages a user hid are never theirs to find.
        filters.add(
            " AND NOT EXISTS (SELECT 1 FROM message_hidden h \
               WHERE h.user_id = # AND h.message_id = m.id)",
            Value::Text(search.user_id.as_str().into()),
        );
        filters
    }
}

fn search_in(conn: &Connection, search: &MessageSearch) -> Result<Vec<SearchMatch>> {
    let mut profile = Profile::start();
    // First statement of the read transaction, and it reads only the store's database:
    // so the store's snapshot is older than the index's (see `pending_docids`).
    let scope = select_scope(conn, search)?;
    profile.lap("scope");
    if scope.conversations.is_empty() || search.terms.is_empty() || search.max_matches == 0 {
        return Ok(Vec::new());
    }
    let filters = Filters::of(search);
    let indexed: Vec<&SearchTerm> = search.terms.iter().filter(|t| t.is_indexed()).collect();
    let words = query_words(&search.terms);
    let (docids, scope_counts) = if indexed.is_empty() || scope.messages <= SCAN_MESSAGES {
        profile.plan = "scan";
        scan_scope(conn, &scope, &search.terms, &filters, &words)?
    } else {
        let mut docids = trigram_candidates(conn, &scope, &indexed, &mut profile)?;
        docids.extend(pending_docids(conn, &scope)?);
        docids.sort_unstable();
        docids.dedup();
        (docids, None)
    };
    profile.lap("lookup");
    let mut candidates = load_candidates(conn, &scope, &docids, &filters)?;
    profile.lap("load");
    profile.candidates = candidates.len();
    candidates.sort_by_key(|message| std::cmp::Reverse((message.created_at, message.id)));

    let counts = match scope_counts {
        Some(counts) if counts.rows > 0 => counts,
        _ => Counts::from_index(conn, &words)?,
    };
    let stats = WordStats::new(words, &counts);
    profile.lap("statistics");
    let limit = usize::try_from(search.max_matches).unwrap_or(usize::MAX);
    let mut matches = Vec::new();
    for message in candidates {
        if matches.len() >= limit {
            break;
        }
        let folded = fold(message.content.as_deref().unwrap_or_default());
        if !matches_folded(&search.terms, &folded) {
            continue;
        }
        let rank = stats.bm25(&folded) + coverage(&search.terms, &folded);
        matches.push(SearchMatch { message, rank });
    }
    profile.lap("rank");
    profile.finish(scope.conversations.len(), matches.len());
    Ok(matches)
}

/// Where one search spent its time, logged at debug level
/// (`RUST_LOG=natter_store_sqlite::search=debug`): the evidence behind the plan choices
/// of this module.
struct Profile {
    started: Instant,
    last: Instant,
    laps: Vec<(&'static str, Duration)>,
    plan: &'static str,
    candidates: usize,
}

impl Profile {
    fn start() -> Self {
        let now = Instant::now();
        Self {
            started: now,
            last: now,
            laps: Vec::new(),
            plan: "none",
            candidates: 0,
        }
    }

    /// Ends the phase `name` now.
    fn lap(&mut self, name: &'static str) {
        let now = Instant::now();
        self.laps.push((name, now - self.last));
        self.last = now;
    }

    fn finish(&self, conversations: usize, matches: usize) {
        if !tracing::enabled!(tracing::Level::DEBUG) {
            return;
        }
        let phases: Vec<String> = self
            .laps
            .iter()
            .map(|(name, took)| format!("{name} {:.2}", took.as_secs_f64() * 1000.0))
            .collect();
        tracing::debug!(
            plan = self.plan,
            conversations,
            candidates = self.candidates,
            matches,
            total_ms = self.started.elapsed().as_secs_f64() * 1000.0,
            phases_ms = %phases.join(", "),
            "search"
        );
    }
}

/// The conversations a search reads.
struct Scope {
    /// Each conversation by its docbase.
    conversations: HashMap<i64, ConversationId>,
    /// Messages ever posted in them (deleted ones included): what a scan reads at most.
    messages: u64,
}

/// The caller's searchable conversations (optionally just the one asked for).
fn select_scope(conn: &Connection, search: &MessageSearch) -> Result<Scope> {
    let mut sql = SCOPE_SQL.to_owned();
    let mut params: Vec<Value> = vec![Value::Text(search.user_id.as_str().to_owned())];
    if let Some(conversation_id) = search.conversation_id {
        params.push(Value::Blob(conversation_id.0.as_bytes().to_vec()));
        sql.push_str(" AND p.conversation_id = ?2");
    }
    let mut stmt = conn.prepare_cached(&sql).map_err(store_error)?;
    let rows = stmt
        .query_map(params_from_iter(params), |row| {
            Ok((
                row.get::<_, i64>(1)?,
                ConversationId(row.get(0)?),
                row.get::<_, i64>(2)?,
            ))
        })
        .map_err(store_error)?;
    let mut scope = Scope {
        conversations: HashMap::new(),
        messages: 0,
    };
    for row in rows {
        let (docbase, conversation_id, last_seq) = row.map_err(store_error)?;
        scope.conversations.insert(docbase, conversation_id);
        scope.messages += last_seq.max(0) as u64;
    }
    Ok(scope)
}

/// Docids of the scope's messages that pass the filters and match every term, read
/// conversation by conversation (each is one range of the `messages` primary key) and
/// checked in Rust. Terms whose characters only ever fold from themselves (CJK, digits,
/// punctuation) narrow the read with `instr` on the raw content first.
///
/// Without such narrowing, every message of the scope is read anyway, so the BM25
/// statistics of `words` are counted on the way: the scope is the collection searched.
/// Counting them in the word index instead reads each word's whole doclist, which takes
/// longer than this whole scan for a common word (see BENCHMARKS.md).
fn scan_scope(
    conn: &Connection,
    scope: &Scope,
    terms: &[SearchTerm],
    filters: &Filters,
    words: &[QueryWord],
) -> Result<(Vec<i64>, Option<Counts>)> {
    let mut filters_sql = filters.sql.clone();
    let mut params = filters.params.clone();
    for term in terms.iter().filter(|t| is_fold_fixed(&t.text)) {
        params.push(Value::Text(term.text.clone()));
        filters_sql.push_str(&format!(" AND instr(m.content, ?{}) > 0", params.len() + 2));
    }
    let mut counts = (params.len() == filters.params.len()).then(|| Counts::new(words.len()));
    let sql = format!(
        "SELECT m.seq, m.content FROM messages m \
         WHERE m.conversation_id = ?1 AND ?2 IS NULL{filters_sql}"
    );
    let mut stmt = conn.prepare_cached(&sql).map_err(store_error)?;
    let mut docids = Vec::new();
    let mut folded = String::new();
    for (docbase, conversation_id) in &scope.conversations {
        let mut bound = vec![
            Value::Blob(conversation_id.0.as_bytes().to_vec()),
            Value::Null,
        ];
        bound.extend(params.iter().cloned());
        let mut rows = stmt.query(params_from_iter(bound)).map_err(store_error)?;
        while let Some(row) = rows.next().map_err(store_error)? {
            let seq: i64 = row.get(0).map_err(store_error)?;
            // Borrowed from SQLite's buffer: no copy of the text before folding.
            let content = row.get_ref(1).map_err(store_error)?.as_str().unwrap_or("");
            folded.clear();
            folded.extend(content.chars().filter_map(fold_char));
            if let Some(counts) = &mut counts {
                counts.add(words, &folded);
            }
            if matches_folded(terms, &folded) {
                docids.push(docbase * DOCS_PER_CONVERSATION + seq);
            }
        }
    }
    Ok((docids, counts))
}

/// Docids in the scope whose trigram row matches every indexed term, by one global
/// lookup or one lookup per conversation, whichever reads less.
fn trigram_candidates(
    conn: &Connection,
    scope: &Scope,
    indexed: &[&SearchTerm],
    profile: &mut Profile,
) -> Result<Vec<i64>> {
    let mut global_reads = u64::MAX;
    for term in indexed {
        let chars: Vec<char> = term.text.chars().collect();
        for trigram in chars.windows(3).take(TRIGRAMS_ESTIMATED) {
            let trigram: String = trigram.iter().collect();
            global_reads = global_reads.min(trigram_documents(conn, &trigram)?);
        }
    }
    profile.lap("estimate");
    if global_reads == 0 {
        return Ok(Vec::new());
    }
    let Some(query) = fts_query(indexed.iter().copied(), " AND ") else {
        return Ok(Vec::new());
    };
    let mut docids = Vec::new();
    let range_reads = (scope.conversations.len() as u64).saturating_mul(RANGE_LOOKUP_COST);
    if global_reads <= range_reads {
        profile.plan = "global";
        let mut stmt = conn
            .prepare_cached("SELECT rowid FROM message_trigrams WHERE message_trigrams MATCH ?1")
            .map_err(store_error)?;
        let rows = stmt
            .query_map([&query], |row| row.get::<_, i64>(0))
            .map_err(store_error)?;
        docids = docids_in(scope, rows)?;
    } else {
        profile.plan = "ranges";
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT rowid FROM message_trigrams WHERE message_trigrams MATCH ?1 \
                 AND rowid > ?2 AND rowid < ?2 + {DOCS_PER_CONVERSATION}"
            ))
            .map_err(store_error)?;
        for docbase in scope.conversations.keys() {
            let rows = stmt
                .query_map(params![query, docbase * DOCS_PER_CONVERSATION], |row| {
                    row.get::<_, i64>(0)
                })
                .map_err(store_error)?;
            for docid in rows {
                docids.push(docid.map_err(store_error)?);
            }
        }
    }
    Ok(docids)
}

/// Docids in the scope whose latest change is committed but not in the index yet: the
/// queue past the indexer's mark. The store's snapshot is taken first (by the scope), the
/// index's later, so every change the store's snapshot holds is in the index or past the
/// mark, and the queue rows below the mark that a clean-up deleted are in the index.
/// Candidates are confirmed against their rows, so an index row newer or older than the
/// store's snapshot is harmless; a message edited while the search runs may be matched
/// by either of its two texts, or (when the edit was indexed between the two snapshots,
/// and the search matches only the old text) by neither.
fn pending_docids(conn: &Connection, scope: &Scope) -> Result<Vec<i64>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT docid FROM main.search_queue \
             WHERE id > (SELECT indexed_up_to FROM search.search_state WHERE id = 1)",
        )
        .map_err(store_error)?;
    let rows = stmt
        .query_map([], |row| row.get::<_, i64>(0))
        .map_err(store_error)?;
    docids_in(scope, rows)
}

/// The docids of `rows` that lie in one of the scope's conversations.
fn docids_in(scope: &Scope, rows: impl Iterator<Item = rusqlite::Result<i64>>) -> Result<Vec<i64>> {
    let mut docids = Vec::new();
    for docid in rows {
        let docid = docid.map_err(store_error)?;
        if scope
            .conversations
            .contains_key(&(docid / DOCS_PER_CONVERSATION))
        {
            docids.push(docid);
        }
    }
    Ok(docids)
}

/// How many messages contain `trigram` (folded), from the trigram index's vocabulary.
fn trigram_documents(conn: &Connection, trigram: &str) -> Result<u64> {
    conn.prepare_cached("SELECT doc FROM temp.message_trigram_terms WHERE term = ?1")
        .and_then(|mut stmt| {
            stmt.query_row([trigram], |row| row.get::<_, i64>(0))
                .optional()
        })
        .map(|docs| docs.map_or(0, |docs| docs.max(0) as u64))
        .map_err(store_error)
}

/// The candidates' rows that pass the filters, by primary key.
fn load_candidates(
    conn: &Connection,
    scope: &Scope,
    docids: &[i64],
    filters: &Filters,
) -> Result<Vec<MessageRecord>> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.conversation_id = ?1 AND m.seq = ?2{}",
        filters.sql
    );
    let mut stmt = conn.prepare_cached(&sql).map_err(store_error)?;
    let mut messages = Vec::with_capacity(docids.len());
    for docid in docids {
        let Some(conversation_id) = scope.conversations.get(&(docid / DOCS_PER_CONVERSATION))
        else {
            continue;
        };
        let mut bound = vec![
            Value::Blob(conversation_id.0.as_bytes().to_vec()),
            Value::Integer(docid % DOCS_PER_CONVERSATION),
        ];
        bound.extend(filters.params.iter().cloned());
        let message = stmt
            .query_row(params_from_iter(bound), rows::required_message)
            .optional()
            .map_err(store_error)?;
        messages.extend(message);
    }
    Ok(messages)
}

/// A word of the query for BM25: a whole word, or the start of one (`contr*`).
enum QueryWord {
    Whole(String),
    Start(String),
}

impl QueryWord {
    fn matches(&self, token: &str) -> bool {
        match self {
            QueryWord::Whole(word) => token == word,
            QueryWord::Start(start) => token.starts_with(start.as_str()),
        }
    }
}

/// The words of folded text, as BM25 here counts them: runs of letters and digits.
fn tokens(folded: &str) -> impl Iterator<Item = &str> {
    folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|token| !token.is_empty())
}

/// The words BM25 weighs: the letter-and-digit runs of every term.
fn query_words(terms: &[SearchTerm]) -> Vec<QueryWord> {
    terms
        .iter()
        .flat_map(|term| {
            tokens(&term.text).map(move |piece| match term.kind {
                TermKind::Prefix => QueryWord::Start(piece.to_owned()),
                TermKind::Substring => QueryWord::Whole(piece.to_owned()),
            })
        })
        .collect()
}

/// The statistics BM25 needs of a collection of messages.
#[derive(Debug, Clone, PartialEq)]
struct Counts {
    /// Messages.
    rows: u64,
    /// Words in all of them.
    tokens: u64,
    /// Per query word, the messages that contain it.
    documents: Vec<u64>,
}

impl Counts {
    fn new(words: usize) -> Self {
        Self {
            rows: 0,
            tokens: 0,
            documents: vec![0; words],
        }
    }

    /// Counts one message's folded text.
    fn add(&mut self, words: &[QueryWord], folded: &str) {
        self.rows += 1;
        let mut found = vec![false; words.len()];
        for token in tokens(folded) {
            self.tokens += 1;
            for (found, word) in found.iter_mut().zip(words) {
                *found = *found || word.matches(token);
            }
        }
        for (documents, found) in self.documents.iter_mut().zip(found) {
            *documents += u64::from(found);
        }
    }

    /// The whole word index's statistics: row and word totals from its averages record,
    /// document counts from `fts5vocab` (which reads each word's doclist).
    fn from_index(conn: &Connection, words: &[QueryWord]) -> Result<Self> {
        let (rows, tokens) = word_totals(conn)?;
        let documents = words
            .iter()
            .map(|word| match word {
                QueryWord::Start(start) => prefix_documents(conn, start),
                QueryWord::Whole(word) => word_documents(conn, word),
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            rows,
            tokens,
            documents,
        })
    }
}

/// BM25 over the query's words with the statistics of the collection searched.
struct WordStats {
    /// Each query word with its inverse document frequency.
    words: Vec<(QueryWord, f64)>,
    /// Average words per message.
    average_length: f64,
}

impl WordStats {
    fn new(words: Vec<QueryWord>, counts: &Counts) -> Self {
        let rows = counts.rows;
        let average_length = if rows > 0 {
            counts.tokens as f64 / rows as f64
        } else {
            1.0
        };
        let words = words
            .into_iter()
            .zip(&counts.documents)
            .map(|(word, &documents)| {
                let documents = documents.min(rows) as f64;
                // FTS5's bm25(): never zero or negative, so that a word in every
                // message still counts a little.
                let idf = (((rows as f64) - documents + 0.5) / (documents + 0.5))
                    .ln()
                    .max(1e-6);
                (word, idf)
            })
            .collect();
        Self {
            words,
            average_length: average_length.max(1.0),
        }
    }

    fn bm25(&self, folded: &str) -> f64 {
        if self.words.is_empty() {
            return 0.0;
        }
        let tokens: Vec<&str> = tokens(folded).collect();
        let length_norm = 1.0 - BM25_B + BM25_B * tokens.len() as f64 / self.average_length;
        self.words
            .iter()
            .map(|(word, idf)| {
                let frequency = tokens.iter().filter(|token| word.matches(token)).count() as f64;
                idf * frequency * (BM25_K1 + 1.0) / (frequency + BM25_K1 * length_norm)
            })
            .sum()
    }
}

/// Rows and words in `message_words`, from FTS5's averages record (two varints).
fn word_totals(conn: &Connection) -> Result<(u64, u64)> {
    let block: Option<Vec<u8>> = conn
        .prepare_cached("SELECT block FROM search.message_words_data WHERE id = 1")
        .and_then(|mut stmt| stmt.query_row([], |row| row.get(0)).optional())
        .map_err(store_error)?;
    let Some(block) = block else {
        return Ok((0, 0));
    };
    let (rows, used) = varint(&block);
    let (tokens, _) = varint(&block[used..]);
    Ok((rows, tokens))
}

/// SQLite's varint: big-endian groups of 7 bits, the high bit set on all but the last
/// byte; a ninth byte contributes all 8 bits. Returns the value and the bytes read.
fn varint(bytes: &[u8]) -> (u64, usize) {
    let mut value: u64 = 0;
    for (index, byte) in bytes.iter().enumerate().take(9) {
        if index == 8 {
            return ((value << 8) | u64::from(*byte), 9);
        }
        value = (value << 7) | u64::from(byte & 0x7F);
        if byte & 0x80 == 0 {
            return (value, index + 1);
        }
    }
    (value, bytes.len().min(9))
}

/// How many messages contain the whole word (folded).
fn word_documents(conn: &Connection, word: &str) -> Result<u64> {
    conn.prepare_cached("SELECT doc FROM temp.message_word_terms WHERE term = ?1")
        .and_then(|mut stmt| {
            stmt.query_row([word], |row| row.get::<_, i64>(0))
                .optional()
        })
        .map(|docs| docs.map_or(0, |docs| docs.max(0) as u64))
        .map_err(store_error)
}

/// How many messages contain a word starting with `start`, bounded: the counts of the
/// first 1000 such words, summed (an upper bound; a prefix that common weighs little).
fn prefix_documents(conn: &Connection, start: &str) -> Result<u64> {
    let end = format!("{start}\u{10FFFF}");
    conn.prepare_cached(
        "SELECT COALESCE(SUM(doc), 0) FROM (SELECT doc FROM temp.message_word_terms \
         WHERE term >= ?1 AND term < ?2 LIMIT 1000)",
    )
    .and_then(|mut stmt| stmt.query_row([start, end.as_str()], |row| row.get::<_, i64>(0)))
    .map(|docs| docs.max(0) as u64)
    .map_err(store_error)
}

/// The share of the folded text the terms' occurrences cover, 0–1 per term: the
/// relevance of parts of words and of CJK text, which have no whole-word matches.
fn coverage(terms: &[SearchTerm], folded: &str) -> f64 {
    let length = folded.chars().count().max(1) as f64;
    terms
        .iter()
        .map(|term| {
            let occurrences = folded.matches(term.text.as_str()).count();
            (occurrences * term.text.chars().count()) as f64 / length
        })
        .sum()
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

#[cfg(test)]
mod tests {
    use super::*;

    use natter_store::search::fold;

    fn memory() -> Connection {
        let mut conn = Connection::open_in_memory().expect("in-memory database");
        crate::migrations::apply(&mut conn).expect("migrations");
        attach_search(&conn);
        conn
    }

    /// Attaches an empty in-memory search database and prepares it.
    fn attach_search(conn: &Connection) -> u64 {
        crate::search_index::attach(conn, std::path::Path::new(":memory:")).expect("attach");
        crate::search_index::prepare(conn).expect("prepare")
    }

    /// Brings the index up to date, as the indexer thread does.
    fn index(conn: &Connection) {
        while crate::search_index::index_pending(conn, 100)
            .expect("index")
            .entries
            > 0
        {}
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

    /// Docids whose trigram row matches the (already folded) substring, once the
    /// indexer has caught up.
    fn found(conn: &Connection, text: &str) -> Vec<i64> {
        index(conn);
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
        index(conn);
        conn.query_row(
            "SELECT COUNT(*) FROM message_words WHERE message_words MATCH ?1",
            [format!("\"{text}\"")],
            |row| row.get(0),
        )
        .expect("count")
    }

    #[test]
    fn the_index_follows_inserts_edits_deletes_and_purges() {
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

    /// Search never returns messages of encrypted conversations, whichever plan it
    /// takes: the index has none of them, and reading a scope whole relies on the scope
    /// leaving them out. (No API creates encrypted conversations yet, so the API suite
    /// cannot test this.)
    #[test]
    fn encrypted_conversations_are_never_found_by_either_plan() {
        let conn = memory();
        conn.execute_batch(VOCABULARIES).expect("vocabularies");
        let (secret, open) = (conversation(&conn, true), conversation(&conn, false));
        alice_joins(&conn, &[secret, open]);
        for (conversation_id, text) in
            [(secret, "the secret contract"), (open, "the open contract")]
        {
            insert(&conn, conversation_id, 1, text);
            conn.execute(
                "UPDATE conversations SET last_message_seq = 1 WHERE id = ?1",
                [conversation_id.0],
            )
            .expect("counter");
        }
        let search = alice_searches("contract");
        let found = |conn: &Connection| contents(conn, &search);
        // Two messages in scope: read whole.
        assert_eq!(found(&conn), vec!["the open contract".to_owned()]);
        // A scope that claims more messages than a scan reads takes the index: first
        // with both messages only queued, then indexed.
        conn.execute(
            "UPDATE conversations SET last_message_seq = ?1",
            [i64::try_from(SCAN_MESSAGES + 1).expect("small")],
        )
        .expect("counters");
        assert_eq!(found(&conn), vec!["the open contract".to_owned()]);
        index(&conn);
        assert_eq!(found(&conn), vec!["the open contract".to_owned()]);
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
        assert_eq!(attach_search(&conn), 1, "the old message is queued");
        assert_eq!(found(&conn, "before search").len(), 1);
        insert(&conn, old, 2, "and after");
        assert_eq!(found(&conn, "after").len(), 1);
    }

    /// The user alice, a member of each of `conversations`.
    fn alice_joins(conn: &Connection, conversations: &[ConversationId]) {
        conn.execute(
            "INSERT OR IGNORE INTO users (id, created_at) VALUES ('alice', 1)",
            [],
        )
        .expect("user");
        for conversation_id in conversations {
            conn.execute(
                "INSERT INTO participants (conversation_id, user_id, role, joined_at) \
                 VALUES (?1, 'alice', 'member', 1)",
                [conversation_id.0],
            )
            .expect("participant");
        }
    }

    /// A search for `text` by alice, as the API asks it.
    fn alice_searches(text: &str) -> MessageSearch {
        MessageSearch {
            user_id: natter_proto::UserId::parse("alice").expect("user id"),
            terms: vec![SearchTerm {
                text: text.into(),
                kind: TermKind::Substring,
            }],
            conversation_id: None,
            sender_id: None,
            kind: None,
            has_attachment: None,
            from: None,
            to: None,
            max_matches: 100,
        }
    }

    fn contents(conn: &Connection, search: &MessageSearch) -> Vec<String> {
        let snapshot = conn.unchecked_transaction().expect("snapshot");
        let found = search_in(&snapshot, search)
            .expect("search")
            .into_iter()
            .filter_map(|hit| hit.message.content)
            .collect();
        snapshot.finish().expect("end snapshot");
        found
    }

    /// The index plan finds what is committed but not indexed yet (the queue past the
    /// mark), never finds a stale index row, and finds nothing twice.
    #[test]
    fn search_finds_changes_the_index_does_not_have_yet() {
        let conn = memory();
        conn.execute_batch(VOCABULARIES).expect("vocabularies");
        let c = conversation(&conn, false);
        alice_joins(&conn, &[c]);
        // A scope that claims more messages than a scan reads takes the index.
        conn.execute(
            "UPDATE conversations SET last_message_seq = ?1",
            [i64::try_from(SCAN_MESSAGES + 1).expect("small")],
        )
        .expect("counter");
        insert(&conn, c, 1, "the open contract");
        insert(&conn, c, 2, "another contract");
        let pending = |conn: &Connection| -> i64 {
            conn.query_row(
                "SELECT COUNT(*) FROM search_queue \
                 WHERE id > (SELECT indexed_up_to FROM search.search_state)",
                [],
                |row| row.get(0),
            )
            .expect("pending")
        };
        assert_eq!(pending(&conn), 2);
        assert_eq!(contents(&conn, &alice_searches("contract")).len(), 2);

        crate::search_index::index_pending(&conn, 1).expect("index one");
        assert_eq!(pending(&conn), 1);
        assert_eq!(contents(&conn, &alice_searches("contract")).len(), 2);
        index(&conn);
        assert_eq!(pending(&conn), 0);
        assert_eq!(contents(&conn, &alice_searches("contract")).len(), 2);

        // An edit not indexed yet: the old text's index row is confirmed away, the new
        // text comes from the queue.
        conn.execute(
            "UPDATE messages SET content = 'no deal' WHERE conversation_id = ?1 AND seq = 1",
            [c.0],
        )
        .expect("edit");
        assert_eq!(
            contents(&conn, &alice_searches("contract")),
            vec!["another contract".to_owned()]
        );
        assert_eq!(
            contents(&conn, &alice_searches("deal")),
            vec!["no deal".to_owned()]
        );
        index(&conn);
        assert_eq!(contents(&conn, &alice_searches("deal")).len(), 1);
        assert_eq!(found(&conn, "contract").len(), 1);

        // The writer's clean-up keeps the newest row, so queue ids never go back.
        let mark: i64 = conn
            .query_row("SELECT indexed_up_to FROM search.search_state", [], |row| {
                row.get(0)
            })
            .expect("mark");
        crate::search_index::delete_indexed(&conn, mark).expect("clean up");
        let (rows, newest): (i64, i64) = conn
            .query_row("SELECT COUNT(*), MAX(id) FROM search_queue", [], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .expect("queue");
        assert_eq!((rows, newest), (1, mark));
        insert(&conn, c, 3, "a third contract");
        assert_eq!(contents(&conn, &alice_searches("contract")).len(), 2);
        assert_eq!(found(&conn, "contract").len(), 2);
    }

    /// A search database that is missing, or whose mark is past the store's queue (it
    /// belongs to another copy of the database), is rebuilt from the messages.
    #[test]
    fn a_missing_or_foreign_search_database_is_rebuilt() {
        let conn = memory();
        let c = conversation(&conn, false);
        insert(&conn, c, 1, "kept through rebuilds");
        insert(&conn, c, 2, "deleted before the rebuild");
        conn.execute(
            "UPDATE messages SET deleted_at = 5 WHERE conversation_id = ?1 AND seq = 2",
            [c.0],
        )
        .expect("delete");
        assert_eq!(found(&conn, "rebuild").len(), 1);
        // A healthy index is kept as it is.
        assert_eq!(crate::search_index::prepare(&conn).expect("prepare"), 0);

        conn.execute("UPDATE search.search_state SET indexed_up_to = 1000", [])
            .expect("foreign mark");
        assert_eq!(crate::search_index::prepare(&conn).expect("rebuild"), 1);
        assert_eq!(found(&conn, "rebuild").len(), 1);
        assert!(found(&conn, "before the").is_empty());

        // A mark below the queue rows the clean-up kept: the search database is older
        // than the queue (restored from a backup, or its last commits lost).
        let mark: i64 = conn
            .query_row("SELECT indexed_up_to FROM search.search_state", [], |row| {
                row.get(0)
            })
            .expect("mark");
        insert(&conn, c, 3, "after a clean-up");
        index(&conn);
        let newest: i64 = conn
            .query_row("SELECT MAX(id) FROM search_queue", [], |row| row.get(0))
            .expect("newest");
        crate::search_index::delete_indexed(&conn, newest).expect("clean up");
        assert_eq!(crate::search_index::prepare(&conn).expect("kept"), 0);
        conn.execute(
            "UPDATE search.search_state SET indexed_up_to = ?1",
            [mark - 1],
        )
        .expect("older mark");
        assert_eq!(crate::search_index::prepare(&conn).expect("rebuild"), 2);
        assert_eq!(found(&conn, "clean-up").len(), 1);
        assert_eq!(found(&conn, "rebuild").len(), 1);

        conn.execute("DETACH DATABASE search", []).expect("detach");
        assert_eq!(attach_search(&conn), 2, "a new, empty search database");
        assert_eq!(found(&conn, "rebuild").len(), 1);
        conn.execute(
            "INSERT INTO message_trigrams (message_trigrams) VALUES ('integrity-check')",
            [],
        )
        .expect("trigram index is consistent");
    }

    #[test]
    fn statistics_come_from_the_word_index_or_from_reading_the_scope() {
        let conn = memory();
        conn.execute_batch(VOCABULARIES).expect("vocabularies");
        let c = conversation(&conn, false);
        insert(&conn, c, 1, "the contract is signed");
        insert(&conn, c, 2, "the contract, the contractor");
        insert(&conn, c, 3, "nothing here");
        index(&conn);
        assert_eq!(word_totals(&conn).expect("totals"), (3, 4 + 4 + 2));
        assert_eq!(word_documents(&conn, "contract").expect("docs"), 2);
        assert_eq!(prefix_documents(&conn, "contract").expect("docs"), 3);
        assert_eq!(trigram_documents(&conn, "ntr").expect("docs"), 2);
        let terms = [SearchTerm {
            text: "contract".into(),
            kind: TermKind::Substring,
        }];
        let words = query_words(&terms);
        let from_index = Counts::from_index(&conn, &words).expect("counts");
        // Counting while reading gives the index's figures (for whole words: the index
        // sums prefix counts per word, an upper bound).
        let mut counted = Counts::new(words.len());
        for text in [
            "the contract is signed",
            "the contract, the contractor",
            "nothing here",
        ] {
            counted.add(&words, &fold(text));
        }
        assert_eq!(counted, from_index);
        let stats = WordStats::new(words, &from_index);
        let whole = stats.bm25("the contract is signed");
        assert!(whole > 0.0);
        assert_eq!(stats.bm25("subcontractors"), 0.0);
        assert!(coverage(&terms, "subcontractors") > 0.0);
        assert_eq!(varint(&[0x81, 0x00]), (128, 2));
        assert_eq!(varint(&[0x05]), (5, 1));
    }

    /// Both ways of finding candidates give the scope's matches: one lookup per
    /// conversation when the term is common, one global lookup otherwise.
    #[test]
    fn candidates_are_the_same_by_ranges_or_globally() {
        let conn = memory();
        conn.execute_batch(VOCABULARIES).expect("vocabularies");
        let (busy, quiet) = (conversation(&conn, false), conversation(&conn, false));
        for seq in 1..=1001 {
            insert(&conn, busy, seq, "a contract a day");
        }
        for seq in 1..=3 {
            insert(&conn, quiet, seq, "contract talk");
        }
        insert(&conn, quiet, 4, "nothing to see");
        index(&conn);
        let docbase = |id: ConversationId| -> i64 {
            conn.query_row(
                "SELECT docbase FROM search_conversations WHERE conversation_id = ?1",
                [id.0],
                |row| row.get(0),
            )
            .expect("docbase")
        };
        let term = SearchTerm {
            text: "contract".into(),
            kind: TermKind::Substring,
        };
        // 1004 documents per trigram: above one range's cost (1000), so by range.
        let only_quiet = Scope {
            conversations: HashMap::from([(docbase(quiet), quiet)]),
            messages: 4,
        };
        let mut found = trigram_candidates(&conn, &only_quiet, &[&term], &mut Profile::start())
            .expect("ranges");
        found.sort_unstable();
        let base = docbase(quiet) * DOCS_PER_CONVERSATION;
        assert_eq!(found, vec![base + 1, base + 2, base + 3]);
        // Two conversations cost 2000: global, filtered to the scope.
        let both = Scope {
            conversations: HashMap::from([(docbase(quiet), quiet), (docbase(busy), busy)]),
            messages: 1005,
        };
        let found =
            trigram_candidates(&conn, &both, &[&term], &mut Profile::start()).expect("global");
        assert_eq!(found.len(), 1004);
        let absent = SearchTerm {
            text: "zzz".into(),
            kind: TermKind::Substring,
        };
        assert!(
            trigram_candidates(&conn, &both, &[&absent], &mut Profile::start())
                .expect("none")
                .is_empty()
        );
        // Reading the scope finds the same messages (and checks them already).
        let filters = Filters::of(&alice_searches(&term.text));
        let words = query_words(std::slice::from_ref(&term));
        let (mut scanned, counts) =
            scan_scope(&conn, &both, &[term], &filters, &words).expect("scan");
        scanned.sort_unstable();
        let counts = counts.expect("counted while scanning");
        assert_eq!((counts.rows, counts.documents.clone()), (1005, vec![1004]));
        let mut indexed = found;
        indexed.sort_unstable();
        assert_eq!(scanned, indexed);
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
