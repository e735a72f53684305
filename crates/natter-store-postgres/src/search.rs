//! [`SearchStore`] for PostgreSQL, over the columns and indexes of
//! `migrations/0003_search.sql`.
//!
//! `messages.search_text` is the folded content (`natter_fold()`, generated from
//! `natter_store::search::folded_characters`, so it folds exactly like SQLite's FTS5
//! trigram tokenizer), NULL once deleted; `messages.search_vector` is its `simple`
//! `tsvector`. A search is one statement over the caller's active, unencrypted
//! conversations (an array, so that the primary key's bitmap for them is ANDed with the
//! trigram index's): every term becomes `search_text LIKE '%term%'`, which the `pg_trgm`
//! GIN index answers for terms of three or more characters, newest first, in batches;
//! when the scope holds at most [`SCAN_MESSAGES`] messages, `strpos(search_text, term)`
//! instead, so that the scope's rows are read whole without the index. Rows
//! are confirmed with [`natter_store::search::matches_all`] (word-start prefixes and short
//! terms are exact only there) until `max_matches` are found.
//!
//! Rank: `ts_rank` of the words (`websearch_to_tsquery` for words and phrases,
//! `to_tsquery` with `:*` for prefixes) times ten, plus, per term, the share of the text
//! the term covers (the trigram side: partial words and CJK text have no lexemes).

use async_trait::async_trait;
use natter_store::search::{
    matches_all, MessageSearch, SearchMatch, SearchTerm, TermKind, ATTACHMENT_TYPES,
};
use natter_store::{to_micros, SearchStore, StoreError};
use sqlx::postgres::PgArguments;
use sqlx::Arguments;
use uuid::Uuid;

use crate::error::store_error;
use crate::rows::{self, MESSAGE_COLUMNS};
use crate::PostgresStore;

type Result<T> = std::result::Result<T, StoreError>;

/// Statement text and its arguments, `$n` numbered in push order.
#[derive(Default)]
struct Statement {
    sql: String,
    arguments: PgArguments,
    count: usize,
}

impl Statement {
    /// Binds `value` and returns its placeholder.
    fn bind<'q, T>(&mut self, value: T) -> Result<String>
    where
        T: 'q + sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send,
    {
        self.arguments.add(value).map_err(StoreError::Backend)?;
        self.count += 1;
        Ok(format!("${}", self.count))
    }
}

#[async_trait]
impl SearchStore for PostgresStore {
    async fn search_messages(&self, search: &MessageSearch) -> Result<Vec<SearchMatch>> {
        if search.terms.is_empty() || search.max_matches == 0 {
            return Ok(Vec::new());
        }
        let scope = self.scope(search).await?;
        if scope.conversations.is_empty() {
            return Ok(Vec::new());
        }
        let plan = if scope.messages <= SCAN_MESSAGES {
            Plan::ReadScope
        } else {
            Plan::TrigramIndex
        };
        let limit = usize::try_from(search.max_matches).unwrap_or(usize::MAX);
        let width = MESSAGE_COLUMNS.matches(',').count() + 1;
        let mut matches = Vec::new();
        // Usually every candidate matches, so one statement of `max_matches` rows is all it
        // takes; a further batch is read only when the confirmation rejected some.
        let batch = i64::from(search.max_matches);
        let mut after = None;
        loop {
            let statement = candidates(search, &scope.conversations, plan, after, batch)?;
            let rows = sqlx::query_with(&statement.sql, statement.arguments)
                .fetch_all(&self.pool)
                .await
                .map_err(store_error)?;
            let exhausted = (rows.len() as i64) < batch;
            for row in &rows {
                let message = rows::required_message(row)?;
                let rank: f64 = rows::get(row, width)?;
                after = Some((to_micros(message.created_at), message.id.0));
                let confirmed = message
                    .content
                    .as_deref()
                    .is_some_and(|content| matches_all(&search.terms, content));
                if confirmed {
                    matches.push(SearchMatch { message, rank });
                    if matches.len() >= limit {
                        return Ok(matches);
                    }
                }
            }
            if exhausted {
                return Ok(matches);
            }
        }
    }
}

/// Scopes of at most this many messages are read whole (their rows found by the primary
/// key) rather than narrowed by the trigram index: at 1 000 000 messages, the index's
/// bitmap for a word of common trigrams (`contract`) takes about 40 ms to build, reading
/// the 5 000 messages of 50 conversations about 10 ms (BENCHMARKS.md).
const SCAN_MESSAGES: i64 = 20_000;

/// How the candidates are found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    /// `search_text LIKE '%term%'`, which the `pg_trgm` GIN index answers.
    TrigramIndex,
    /// `strpos(search_text, term) > 0`, which no index answers: every message of the
    /// scope is read.
    ReadScope,
}

/// One batch of at most `batch` candidates, newest first, strictly older than `after`
/// (`created_at` micros, id) when given.
fn candidates(
    search: &MessageSearch,
    conversations: &[Uuid],
    plan: Plan,
    after: Option<(i64, Uuid)>,
    batch: i64,
) -> Result<Statement> {
    let mut statement = Statement::default();
    let user = statement.bind(search.user_id.as_str().to_owned())?;
    let rank = rank_sql(&mut statement, &search.terms)?;
    // The scope as an array: the planner can then AND the primary key's bitmap for these
    // conversations with the trigram index's bitmap, instead of reading every message of
    // each conversation (25 ms instead of 100 ms at 1M messages).
    let scope = statement.bind(conversations.to_vec())?;
    let mut sql = format!(
        "SELECT {MESSAGE_COLUMNS}, {rank} FROM messages m \
         WHERE m.conversation_id = ANY ({scope}) \
         AND m.deleted_at IS NULL AND m.search_text IS NOT NULL"
    );
    for term in &search.terms {
        match plan {
            Plan::TrigramIndex => {
                let pattern = statement.bind(format!("%{}%", like_escape(&term.text)))?;
                sql.push_str(&format!(" AND m.search_text LIKE {pattern}"));
            }
            Plan::ReadScope => {
                let text = statement.bind(term.text.clone())?;
                sql.push_str(&format!(" AND strpos(m.search_text, {text}) > 0"));
            }
        }
    }
    if let Some(sender_id) = &search.sender_id {
        let placeholder = statement.bind(sender_id.as_str().to_owned())?;
        sql.push_str(&format!(" AND m.sender_id = {placeholder}"));
    }
    if let Some(kind) = search.kind {
        let placeholder = statement.bind(kind.as_str())?;
        sql.push_str(&format!(" AND m.kind = {placeholder}"));
    }
    if let Some(from) = search.from {
        let placeholder = statement.bind(to_micros(from))?;
        sql.push_str(&format!(" AND m.created_at >= {placeholder}"));
    }
    if let Some(to) = search.to {
        let placeholder = statement.bind(to_micros(to))?;
        sql.push_str(&format!(" AND m.created_at < {placeholder}"));
    }
    if let Some(has_attachment) = search.has_attachment {
        let kinds: Vec<&str> = ATTACHMENT_TYPES.iter().map(|kind| kind.as_str()).collect();
        let placeholder = statement.bind(kinds)?;
        let negation = if has_attachment { "" } else { "NOT " };
        sql.push_str(&format!(" AND {negation}(m.kind = ANY({placeholder}))"));
    }
    // "Deleted for me": the messages a user hid are never theirs to find.
    sql.push_str(&format!(
        " AND NOT EXISTS (SELECT 1 FROM message_hidden h \
           WHERE h.user_id = {user} AND h.message_id = m.id)"
    ));
    if let Some((created_at, id)) = after {
        let created_at = statement.bind(created_at)?;
        let id = statement.bind(id)?;
        sql.push_str(&format!(" AND (m.created_at, m.id) < ({created_at}, {id})"));
    }
    sql.push_str(&format!(
        " ORDER BY m.created_at DESC, m.id DESC LIMIT {batch}"
    ));
    statement.sql = sql;
    Ok(statement)
}

impl PostgresStore {
    /// The conversations `search` reads, and the messages ever posted in them (deleted
    /// ones included): one round trip, whose answer the candidates' statement takes as a
    /// parameter.
    async fn scope(&self, search: &MessageSearch) -> Result<Scope> {
        let (conversations, messages) = sqlx::query_as(
            "SELECT COALESCE(array_agg(p.conversation_id), '{}'), \
             COALESCE(SUM(c.last_message_seq), 0)::BIGINT FROM participants p \
             JOIN conversations c ON c.id = p.conversation_id \
             WHERE p.user_id = $1 AND p.left_at IS NULL AND NOT c.encrypted \
             AND ($2::uuid IS NULL OR p.conversation_id = $2)",
        )
        .bind(search.user_id.as_str())
        .bind(search.conversation_id.map(|id| id.0))
        .fetch_one(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(Scope {
            conversations,
            messages,
        })
    }
}

/// What a search may read.
struct Scope {
    /// The caller's active, unencrypted conversations (or the one asked for).
    conversations: Vec<Uuid>,
    /// Messages ever posted in them.
    messages: i64,
}

/// The rank expression, binding what it needs.
fn rank_sql(statement: &mut Statement, terms: &[SearchTerm]) -> Result<String> {
    let words: Vec<String> = terms
        .iter()
        .filter(|t| t.kind == TermKind::Substring && t.text.chars().any(char::is_alphanumeric))
        .map(|t| format!("\"{}\"", t.text.replace('"', " ")))
        .collect();
    let prefixes: Vec<String> = terms
        .iter()
        .filter(|t| t.kind == TermKind::Prefix)
        .map(|t| format!("'{}':*", t.text.replace('\\', "\\\\").replace('\'', "''")))
        .collect();
    let mut queries = Vec::new();
    if !words.is_empty() {
        let placeholder = statement.bind(words.join(" or "))?;
        queries.push(format!("websearch_to_tsquery('simple', {placeholder})"));
    }
    if !prefixes.is_empty() {
        let placeholder = statement.bind(prefixes.join(" | "))?;
        queries.push(format!("to_tsquery('simple', {placeholder})"));
    }
    let mut rank = if queries.is_empty() {
        "0::float8".to_owned()
    } else {
        format!(
            "10 * ts_rank(m.search_vector, {})::float8",
            queries.join(" || ")
        )
    };
    for term in terms {
        let placeholder = statement.bind(term.text.clone())?;
        rank.push_str(&format!(
            " + (length(m.search_text) - length(replace(m.search_text, {placeholder}, '')))::float8 \
             / GREATEST(length(m.search_text), 1)"
        ));
    }
    Ok(rank)
}

/// Escapes `%`, `_` and the escape character itself for a `LIKE` pattern.
fn like_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// Most characters one `translate()` of `natter_fold()` maps: translate costs
/// (text length × list length), so the table is split into blocks, each applied only when
/// a regular expression finds one of its characters.
#[cfg(test)]
const FOLD_BLOCK: usize = 48;

/// Blocks behind one guard: a text is first tested against the whole range of a group,
/// and only a group it has characters of tests its blocks. With 30 blocks in a row, every
/// non-ASCII text paid 30 regular expressions (19 µs per call for a German sentence).
#[cfg(test)]
const FOLD_GROUP: usize = 6;

/// The `natter_fold()` function of the migrations (the latest definition,
/// `0011_fold_groups.sql`), generated from the Rust fold table. ASCII is lowered first
/// (`COLLATE "C"`: never by the database's locale), pure ASCII returns at once, and every
/// other change is one block of the table, the blocks nested in groups.
#[cfg(test)]
fn fold_function_sql() -> String {
    let changes: Vec<(char, Option<char>)> = natter_store::search::folded_characters()
        .filter(|(c, _)| !c.is_ascii())
        .collect();
    let escape = |c: char| {
        let code = u32::from(c);
        if code > 0xFFFF {
            format!("\\U{code:08x}")
        } else {
            format!("\\u{code:04x}")
        }
    };
    let mut body = String::new();
    let blocks: Vec<&[(char, Option<char>)]> = changes.chunks(FOLD_BLOCK).collect();
    for group in blocks.chunks(FOLD_GROUP) {
        let (first, last) = (
            group[0][0].0,
            group[group.len() - 1].last().map_or(' ', |c| c.0),
        );
        body.push_str(&format!(
            "    IF t ~ '[{}-{}]' THEN\n",
            escape(first),
            escape(last)
        ));
        for block in group {
            let (mut from, mut to, mut dropped) = (String::new(), String::new(), String::new());
            for (c, folded) in *block {
                match folded {
                    Some(folded) => {
                        from.push(*c);
                        to.push(*folded);
                    }
                    None => dropped.push(*c),
                }
            }
            from.push_str(&dropped);
            let (first, last) = (block[0].0, block[block.len() - 1].0);
            body.push_str(&format!(
                "        IF t ~ '[{}-{}]' THEN t := translate(t, '{from}', '{to}'); END IF;\n",
                escape(first),
                escape(last)
            ));
        }
        body.push_str("    END IF;\n");
    }
    format!(
        "CREATE OR REPLACE FUNCTION natter_fold(t text) RETURNS text\n    \
         LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE\n    AS $fold$\nBEGIN\n    \
         t := lower(t COLLATE \"C\");\n    \
         IF octet_length(t) = char_length(t) THEN RETURN t; END IF;\n{body}    RETURN t;\nEND\n$fold$;"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_migration_folds_with_the_rust_table() {
        let migration = include_str!("../migrations/0011_fold_groups.sql");
        let expected = fold_function_sql();
        if !migration.contains(&expected) {
            let path = std::env::temp_dir().join("natter_fold.sql");
            let _ = std::fs::write(&path, &expected);
            panic!(
                "migrations/0011_fold_groups.sql does not contain the generated natter_fold(); \
                 the expected text is in {}",
                path.display()
            );
        }
        // The table is embedded in SQL literals unescaped.
        assert!(
            natter_store::search::folded_characters().all(
                |(c, folded)| !matches!(c, '\'' | '\\') && !matches!(folded, Some('\'' | '\\'))
            )
        );
    }

    /// `natter_fold()` in PostgreSQL equals the Rust fold (and so SQLite's) for every
    /// character. Runs when `NATTER_TEST_POSTGRES_URL` is set; the function is created
    /// in `pg_temp`, so nothing is left behind.
    #[tokio::test]
    async fn postgres_folds_every_character_like_rust() {
        use sqlx::Connection;
        let Ok(url) = std::env::var("NATTER_TEST_POSTGRES_URL") else {
            println!("skipped: NATTER_TEST_POSTGRES_URL not set");
            return;
        };
        let mut conn = sqlx::PgConnection::connect(&url).await.expect("connect");
        let function = fold_function_sql().replace(
            "CREATE OR REPLACE FUNCTION natter_fold(",
            "CREATE FUNCTION pg_temp.natter_fold(",
        );
        sqlx::raw_sql(&function)
            .execute(&mut conn)
            .await
            .expect("create the function");
        let codes: Vec<i32> = (1u32..0x11000)
            .filter(|code| char::from_u32(*code).is_some())
            .map(|code| code as i32)
            .collect();
        let rows: Vec<(i32, String)> =
            sqlx::query_as("SELECT c, pg_temp.natter_fold(chr(c)) FROM unnest($1::int[]) AS c")
                .bind(&codes)
                .fetch_all(&mut conn)
                .await
                .expect("fold every character");
        let mismatches: Vec<(u32, String, String)> = rows
            .into_iter()
            .filter_map(|(code, folded)| {
                let c = char::from_u32(code as u32)?;
                let expected = natter_store::search::fold(&c.to_string());
                (folded != expected).then_some((code as u32, folded, expected))
            })
            .collect();
        assert!(
            mismatches.is_empty(),
            "{} mismatches, first: {:?}",
            mismatches.len(),
            &mismatches[..mismatches.len().min(5)]
        );
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_escape("50%_a\\b"), "50\\%\\_a\\\\b");
    }

    #[test]
    fn uuid_binds() {
        let mut statement = Statement::default();
        assert_eq!(statement.bind(Uuid::nil()).ok().as_deref(), Some("$1"));
        assert_eq!(statement.bind(1_i64).ok().as_deref(), Some("$2"));
    }
}
