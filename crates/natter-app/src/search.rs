//! Message search (`GET /v1/search/messages`): parsing the query string into terms, the
//! caller's scope, ranking, pages and highlighted snippets.
//!
//! Scope: the conversations the caller is an *active* participant of, whatever their app
//! role (admins and agents included: search is a user's tool, moderation has its own
//! endpoints), never encrypted conversations, deleted messages or messages the caller
//! deleted for themselves. A user who left or was removed finds nothing of that
//! conversation any more, not even what was written while they were in it.
//!
//! Query syntax (documented in README.md): whitespace-separated terms that must all occur,
//! case- and accent-insensitively, anywhere in the text (`contr` finds "Contract", `会议`
//! finds "明天的会议"); `"exact phrase"` for text with spaces; `word*` for words starting
//! with `word`. What "occur" means exactly is `natter_store::search`; the stores implement
//! it and this module only parses, ranks and pages.

use std::cmp::Ordering;
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::Arc;

use natter_proto::{
    ConversationId, Message, MessageId, MessageType, SearchHit, SearchResults, Timestamp, UserId,
};
use natter_store::search::{fold_char, MessageSearch, SearchMatch, SearchTerm, TermKind};
use natter_store::{to_micros, SearchStore};
use time::format_description::well_known::Rfc3339;
use unicode_normalization::UnicodeNormalization;

use crate::core::Core;
use crate::limits::Action;
use crate::pii::PiiRules;
use crate::{Actor, AppError, Messages, Validation};

/// Shortest query, in characters after trimming.
pub const MIN_QUERY_CHARS: usize = 2;
/// Longest query, in characters.
pub const MAX_QUERY_CHARS: usize = 256;
/// Most terms in one query.
pub const MAX_TERMS: usize = 10;
/// Opening highlight marker in snippets.
pub const HIGHLIGHT_START: &str = "[[";
/// Closing highlight marker in snippets.
pub const HIGHLIGHT_END: &str = "]]";

const DEFAULT_LIMIT: u32 = 20;
const MAX_LIMIT: u32 = 50;
/// Characters a bare term loses at either end: `(contract),` searches for `contract`.
const TRIMMED: &[char] = &[
    '.', ',', ';', ':', '!', '?', '(', ')', '[', ']', '{', '}', '<', '>', '\'', '"',
];

/// The `[search]` settings.
#[derive(Debug, Clone)]
pub struct SearchSettings {
    /// Most matches a query ranks (the newest ones); `total` never exceeds it.
    pub max_matches: u32,
    /// Characters of content around the first match in a snippet.
    pub snippet_chars: usize,
}

impl Default for SearchSettings {
    fn default() -> Self {
        Self {
            max_matches: 10_000,
            snippet_chars: 160,
        }
    }
}

/// What [`crate::App::new`] needs for the two features that read message text: the search
/// index with the `[search]` settings, and the `[pii]` masking rules.
#[derive(Clone)]
pub struct TextSetup {
    /// The search index (the store, seen through [`SearchStore`]).
    pub search_store: Arc<dyn SearchStore>,
    /// The `[search]` settings.
    pub search: SearchSettings,
    /// The `[pii]` rules.
    pub pii: PiiRules,
}

/// Query of `GET /v1/search/messages` as the edge received it.
#[derive(Debug, Clone, Default)]
pub struct SearchMessages {
    /// The query string.
    pub q: String,
    /// Only in this conversation.
    pub conversation_id: Option<ConversationId>,
    /// Only from this sender.
    pub sender_id: Option<UserId>,
    /// Only of this type.
    pub kind: Option<MessageType>,
    /// Only with (true) or without (false) attachments.
    pub has_attachment: Option<bool>,
    /// Only sent at or after: RFC 3339, or a date (`2024-05-01`, from its start, UTC).
    pub from: Option<String>,
    /// Only sent before: RFC 3339, or a date (up to the end of that day, UTC).
    pub to: Option<String>,
    /// Page size 1–50 (default 20).
    pub limit: Option<u32>,
    /// `next` of the previous page.
    pub cursor: Option<String>,
}

/// The search service.
#[derive(Clone)]
pub struct Search {
    core: Arc<Core>,
    store: Arc<dyn SearchStore>,
    settings: SearchSettings,
}

/// Where a page starts: after this (rank, time, id) in result order.
#[derive(Debug, Clone, Copy, PartialEq)]
struct PageCursor {
    rank: f64,
    created_at: i64,
    message_id: MessageId,
}

impl PageCursor {
    fn of(hit: &SearchMatch) -> Self {
        Self {
            rank: hit.rank,
            created_at: to_micros(hit.message.created_at),
            message_id: hit.message.id,
        }
    }

    fn encode(&self) -> String {
        format!(
            "{:016x}.{}.{}",
            self.rank.to_bits(),
            self.created_at,
            self.message_id
        )
    }

    fn decode(raw: &str) -> Option<Self> {
        let mut parts = raw.splitn(3, '.');
        let rank = f64::from_bits(u64::from_str_radix(parts.next()?, 16).ok()?);
        let created_at = parts.next()?.parse().ok()?;
        let message_id = parts.next()?.parse().ok()?;
        (!rank.is_nan()).then_some(Self {
            rank,
            created_at,
            message_id,
        })
    }

    /// Result order: rank descending, then newest first, then id descending.
    fn order(&self, other: &Self) -> Ordering {
        other
            .rank
            .total_cmp(&self.rank)
            .then(other.created_at.cmp(&self.created_at))
            .then(other.message_id.cmp(&self.message_id))
    }
}

impl Search {
    pub(crate) fn new(
        core: Arc<Core>,
        store: Arc<dyn SearchStore>,
        settings: SearchSettings,
    ) -> Self {
        Self {
            core,
            store,
            settings,
        }
    }

    /// `GET /v1/search/messages`: one page of the caller's matching messages, best first,
    /// with the total number of matches (at most `max_matches`).
    pub async fn messages(
        &self,
        actor: &Actor,
        query: SearchMessages,
    ) -> Result<SearchResults, AppError> {
        let user_id = actor.require_user()?.clone();
        self.core.limiter.check(actor, Action::Search)?;
        let mut validation = Validation::new();
        let terms = validation.check("q", parse_query(&query.q));
        let from = query
            .from
            .as_deref()
            .and_then(|raw| validation.check("from", parse_time(raw, false)));
        let to = query
            .to
            .as_deref()
            .and_then(|raw| validation.check("to", parse_time(raw, true)));
        if let (Some(from), Some(to)) = (from, to) {
            if from > to {
                validation.add("to", "before_from", "to must not be before from");
            }
        }
        let limit = match query.limit {
            None => DEFAULT_LIMIT,
            Some(limit @ 1..=MAX_LIMIT) => limit,
            Some(_) => {
                validation.add("limit", "out_of_range", "limit must be between 1 and 50");
                DEFAULT_LIMIT
            }
        };
        let after = match query.cursor.as_deref() {
            None => None,
            Some(raw) => {
                let cursor = PageCursor::decode(raw);
                if cursor.is_none() {
                    validation.add("cursor", "invalid_cursor", "not a cursor of this search");
                }
                cursor
            }
        };
        validation.finish()?;
        let terms = terms.unwrap_or_default();
        let mut matches = self
            .store
            .search_messages(&MessageSearch {
                user_id: user_id.clone(),
                terms: terms.clone(),
                conversation_id: query.conversation_id,
                sender_id: query.sender_id,
                kind: query.kind,
                has_attachment: query.has_attachment,
                from,
                to,
                max_matches: self.settings.max_matches,
            })
            .await?;
        let total = matches.len() as u64;
        matches.sort_by(|a, b| PageCursor::of(a).order(&PageCursor::of(b)));
        let first = match after {
            Some(after) => matches
                .partition_point(|hit| PageCursor::of(hit).order(&after) != Ordering::Greater),
            None => 0,
        };
        let mut page: Vec<SearchMatch> = matches
            .into_iter()
            .skip(first)
            .take(limit as usize + 1)
            .collect();
        let next = if page.len() > limit as usize {
            page.truncate(limit as usize);
            page.last().map(|hit| PageCursor::of(hit).encode())
        } else {
            None
        };
        let messages = self.views(&page, &user_id).await?;
        let items = page
            .iter()
            .zip(messages)
            .map(|(hit, message)| SearchHit {
                snippet: snippet(
                    hit.message.content.as_deref().unwrap_or_default(),
                    &terms,
                    self.settings.snippet_chars,
                ),
                rank: hit.rank,
                message,
            })
            .collect();
        Ok(SearchResults { items, total, next })
    }

    /// The messages of a page as the viewer sees them anywhere else (delivery state,
    /// `read_by_all`, reactions).
    async fn views(&self, page: &[SearchMatch], viewer: &UserId) -> Result<Vec<Message>, AppError> {
        let mut markers = HashMap::new();
        let mut messages = Vec::with_capacity(page.len());
        for hit in page {
            let conversation_id = hit.message.conversation_id;
            if let Entry::Vacant(slot) = markers.entry(conversation_id) {
                let of_conversation = self
                    .core
                    .store
                    .read_markers(conversation_id, Some(viewer))
                    .await?;
                slot.insert(of_conversation);
            }
            let of_conversation = &markers[&conversation_id];
            messages.push(crate::messages::view(
                hit.message.clone(),
                Some(viewer),
                of_conversation,
            ));
        }
        Messages {
            core: self.core.clone(),
        }
        .with_reactions(
            &mut messages,
            &crate::lifecycle::reacted(page.iter().map(|hit| &hit.message)),
            Some(viewer),
        )
        .await?;
        Ok(messages)
    }
}

/// Parses a query string into folded terms (see the module docs).
pub fn parse_query(raw: &str) -> Result<Vec<SearchTerm>, (&'static str, String)> {
    let normalised: String = raw.nfc().collect();
    let trimmed = normalised.trim();
    let length = trimmed.chars().count();
    if length < MIN_QUERY_CHARS {
        return Err((
            "too_short",
            format!("the query needs at least {MIN_QUERY_CHARS} characters"),
        ));
    }
    if length > MAX_QUERY_CHARS {
        return Err((
            "too_long",
            format!("the query has {length} characters; the limit is {MAX_QUERY_CHARS}"),
        ));
    }
    let mut terms: Vec<SearchTerm> = Vec::new();
    let mut push = |text: String, kind: TermKind| {
        let term = SearchTerm { text, kind };
        if !term.text.is_empty() && !terms.contains(&term) {
            terms.push(term);
        }
    };
    let mut rest = trimmed;
    while let Some(start) = rest.find(|c: char| !c.is_whitespace()) {
        rest = &rest[start..];
        if let Some(quoted) = rest.strip_prefix('"') {
            let (phrase, after) = quoted.split_once('"').unwrap_or((quoted, ""));
            let words: Vec<&str> = phrase.split_whitespace().collect();
            push(
                natter_store::search::fold(&words.join(" ")),
                TermKind::Substring,
            );
            rest = after;
            continue;
        }
        let end = rest
            .find(|c: char| c.is_whitespace() || c == '"')
            .unwrap_or(rest.len());
        let word = &rest[..end];
        rest = &rest[end..];
        let word = word.trim_matches(TRIMMED);
        let stem = word.trim_end_matches('*');
        let prefix = stem.len() < word.len();
        let folded = natter_store::search::fold(stem.trim_matches(TRIMMED));
        if prefix && !folded.is_empty() && folded.chars().all(char::is_alphanumeric) {
            push(folded, TermKind::Prefix);
        } else {
            push(folded, TermKind::Substring);
        }
    }
    if terms.is_empty() {
        return Err((
            "no_terms",
            "the query has nothing to search for: use letters, digits or symbols".into(),
        ));
    }
    if terms.len() > MAX_TERMS {
        return Err(("too_many_terms", format!("at most {MAX_TERMS} terms")));
    }
    Ok(terms)
}

/// `2024-05-01T10:00:00Z`, or a date meaning its start (`end_of_day`: the next day's
/// start, so that `to=2024-05-01` includes that day).
fn parse_time(raw: &str, end_of_day: bool) -> Result<Timestamp, (&'static str, String)> {
    if let Ok(time) = time::OffsetDateTime::parse(raw, &Rfc3339) {
        return Ok(time);
    }
    let date_format = time::macros::format_description!("[year]-[month]-[day]");
    let invalid = || {
        (
            "invalid_time",
            "an RFC 3339 time (2024-05-01T10:00:00Z) or a date (2024-05-01)".to_owned(),
        )
    };
    let date = time::Date::parse(raw, &date_format).map_err(|_| invalid())?;
    let date = if end_of_day {
        date.next_day().ok_or_else(invalid)?
    } else {
        date
    };
    Ok(date.midnight().assume_utc())
}

/// A highlighted excerpt of `content`: about `chars` characters around the first match,
/// matches between [`HIGHLIGHT_START`] and [`HIGHLIGHT_END`], line breaks as spaces, `…`
/// where text was cut. Brackets of the content that would touch a marker or each other
/// (`[[`) are separated by a space, so the markers are the only doubled brackets.
pub fn snippet(content: &str, terms: &[SearchTerm], chars: usize) -> String {
    let original: Vec<char> = content.chars().collect();
    let mut folded: Vec<char> = Vec::with_capacity(original.len());
    let mut origin: Vec<usize> = Vec::with_capacity(original.len());
    for (index, c) in original.iter().enumerate() {
        if let Some(f) = fold_char(*c) {
            folded.push(f);
            origin.push(index);
        }
    }
    let mut marked = vec![false; original.len()];
    for term in terms {
        let needle: Vec<char> = term.text.chars().collect();
        if needle.is_empty() || needle.len() > folded.len() {
            continue;
        }
        for at in 0..=folded.len() - needle.len() {
            let word_start = at == 0 || !folded[at - 1].is_alphanumeric();
            if folded[at..at + needle.len()] == needle[..]
                && (term.kind == TermKind::Substring || word_start)
            {
                let (first, last) = (origin[at], origin[at + needle.len() - 1]);
                for flag in &mut marked[first..=last] {
                    *flag = true;
                }
            }
        }
    }
    let chars = chars.max(1);
    let first_match = marked.iter().position(|&m| m).unwrap_or(0);
    let (mut start, mut end) = (0, original.len());
    if original.len() > chars {
        start = first_match.saturating_sub(chars / 4);
        // Start at a word when one begins shortly before.
        if let Some(space) = original[start..first_match]
            .iter()
            .position(|c| c.is_whitespace())
        {
            if space < 12 {
                start += space + 1;
            }
        }
        end = (start + chars).min(original.len());
        if end == original.len() {
            start = end.saturating_sub(chars);
        }
    }
    let mut out = String::new();
    let mut last: Option<char> = None;
    let emit = |out: &mut String, text: &str, last: &mut Option<char>| {
        for c in text.chars() {
            out.push(c);
            *last = Some(c);
        }
    };
    if start > 0 {
        emit(&mut out, "…", &mut last);
    }
    let mut open = false;
    for index in start..end {
        if marked[index] && !open {
            if last == Some('[') {
                emit(&mut out, " ", &mut last);
            }
            emit(&mut out, HIGHLIGHT_START, &mut last);
            open = true;
        } else if !marked[index] && open {
            emit(&mut out, HIGHLIGHT_END, &mut last);
            open = false;
        }
        let c = match original[index] {
            '\n' | '\t' | '\r' => ' ',
            c => c,
        };
        if matches!(c, '[' | ']') && last == Some(c) {
            emit(&mut out, " ", &mut last);
        }
        emit(&mut out, c.encode_utf8(&mut [0; 4]), &mut last);
    }
    if open {
        emit(&mut out, HIGHLIGHT_END, &mut last);
    }
    if end < original.len() {
        emit(&mut out, "…", &mut last);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(q: &str) -> Vec<(String, TermKind)> {
        parse_query(q)
            .expect("a valid query")
            .into_iter()
            .map(|t| (t.text, t.kind))
            .collect()
    }

    #[test]
    fn queries_are_terms_phrases_and_prefixes() {
        use TermKind::{Prefix, Substring};
        assert_eq!(
            terms("Vertrag  \"Exact   Phrase\" contr* (über),"),
            vec![
                ("vertrag".into(), Substring),
                ("exact phrase".into(), Substring),
                ("contr".into(), Prefix),
                ("uber".into(), Substring),
            ]
        );
        assert_eq!(
            terms("会议 東京*"),
            vec![("会议".into(), Substring), ("東京".into(), Prefix)]
        );
        assert_eq!(
            terms("a-b* #123-456 c++ x"),
            vec![
                ("a-b".into(), Substring),
                ("#123-456".into(), Substring),
                ("c++".into(), Substring),
                ("x".into(), Substring)
            ]
        );
        assert_eq!(
            terms("\"unclosed phrase"),
            vec![("unclosed phrase".into(), Substring)]
        );
        assert_eq!(terms("dup DUP Dup"), vec![("dup".into(), Substring)]);
    }

    #[test]
    fn queries_need_two_characters_and_something_to_find() {
        for (q, code) in [
            ("", "too_short"),
            ("  a  ", "too_short"),
            ("\"\"", "no_terms"),
            ("** ()", "no_terms"),
        ] {
            assert_eq!(parse_query(q).map_err(|e| e.0), Err(code), "{q:?}");
        }
        assert!(parse_query(&"x".repeat(MAX_QUERY_CHARS + 1)).is_err());
        assert_eq!(
            parse_query("a b c d e f g h i j k").map_err(|e| e.0),
            Err("too_many_terms")
        );
        assert!(parse_query("ab").is_ok());
    }

    #[test]
    fn times_are_rfc3339_or_dates() {
        let from = parse_time("2024-05-01", false).expect("date");
        let to = parse_time("2024-05-01", true).expect("date");
        assert_eq!(to - from, time::Duration::days(1));
        assert!(parse_time("2024-05-01T10:00:00+02:00", false).is_ok());
        assert!(parse_time("yesterday", false).is_err());
    }

    #[test]
    fn cursors_round_trip_and_order_results() {
        let cursor = PageCursor {
            rank: 1.5,
            created_at: 42,
            message_id: MessageId::new(),
        };
        assert_eq!(PageCursor::decode(&cursor.encode()), Some(cursor));
        assert_eq!(PageCursor::decode("nope"), None);
        let lower = PageCursor {
            rank: 1.0,
            ..cursor
        };
        assert_eq!(
            cursor.order(&lower),
            Ordering::Less,
            "higher rank comes first"
        );
        let older = PageCursor {
            created_at: 41,
            ..cursor
        };
        assert_eq!(cursor.order(&older), Ordering::Less, "then newer first");
    }

    fn term(text: &str, kind: TermKind) -> SearchTerm {
        SearchTerm {
            text: text.into(),
            kind,
        }
    }

    #[test]
    fn snippets_highlight_folded_matches() {
        let terms = [
            term("vertrag", TermKind::Substring),
            term("ub", TermKind::Prefix),
        ];
        assert_eq!(
            snippet("Der VERTRÄG ist über\nalles", &terms, 200),
            "Der [[VERTRÄG]] ist [[üb]]er alles"
        );
        let terms = [term("vertrag", TermKind::Substring)];
        assert_eq!(snippet("Vertrag", &terms, 200), "[[Vertrag]]");
        assert_eq!(
            snippet(
                "明天的会议在东京",
                &[term("会议", TermKind::Substring)],
                200
            ),
            "明天的[[会议]]在东京"
        );
    }

    #[test]
    fn snippets_cut_around_the_first_match() {
        let content = format!("{} needle {}", "a ".repeat(200), "b ".repeat(200));
        let snippet = snippet(&content, &[term("needle", TermKind::Substring)], 40);
        assert!(
            snippet.starts_with('…') && snippet.ends_with('…'),
            "{snippet}"
        );
        assert!(snippet.contains("[[needle]]"), "{snippet}");
        assert!(snippet.chars().count() <= 40 + 2 + 4, "{snippet}");
    }

    #[test]
    fn literal_brackets_never_look_like_markers() {
        let terms = [term("x", TermKind::Substring)];
        assert_eq!(
            snippet("[[x]] a[x]", &terms, 200),
            "[ [ [[x]] ] ] a[ [[x]] ]"
        );
    }
}
