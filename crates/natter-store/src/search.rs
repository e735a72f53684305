//! Full-text search of messages: the [`SearchStore`] trait, its input and output records,
//! and the one definition of what "matches" means, shared by both stores.
//!
//! Matching is defined on *folded* text: every character goes through [`fold_char`], a
//! port of SQLite FTS5's `sqlite3Fts5UnicodeFold` with diacritic removal (the folding of the
//! FTS5 `trigram` tokenizer with `case_sensitive 0 remove_diacritics 1`): case folding for
//! the scripts that have case, Latin letters lose their accents (`é` → `e`, but `ß` stays
//! `ß`), combining accents are dropped. The PostgreSQL store's `natter_fold()` SQL
//! function is generated from the same table, so both stores fold identically and return
//! the same set of messages for the same query (ranking may differ).
//!
//! A query is a list of [`SearchTerm`]s, all of which must match:
//! - [`TermKind::Substring`]: the folded term occurs anywhere in the folded content (parts
//!   of words, CJK text without spaces, product codes, and quoted phrases, which are
//!   substrings with spaces in them);
//! - [`TermKind::Prefix`]: the folded term occurs at the start of a word, i.e. at the start
//!   of the content or after a character that is not a letter or digit.
//!
//! Stores narrow the candidates with their indexes (terms of at least
//! [`INDEXED_TERM_CHARS`] characters) and then confirm each candidate with
//! [`matches_all`], so whatever an index can or cannot do, the result is this definition.
//! Parsing the user's query string is `natter-app`'s job (`natter_app::search`).

use async_trait::async_trait;
use natter_proto::{ConversationId, MessageType, Timestamp, UserId};

use crate::{MessageRecord, StoreError};

/// The shortest term (in folded characters) a trigram index can look up; shorter terms are
/// checked by scanning the caller's messages.
pub const INDEXED_TERM_CHARS: usize = 3;

/// Search over messages. A separate trait from [`crate::Store`] because the index is
/// maintained by the database itself (triggers, generated columns), not by the store's
/// write methods.
#[async_trait]
pub trait SearchStore: Send + Sync + 'static {
    /// The messages that match `search` (see the module docs), in conversations where
    /// `search.user_id` is an active participant, that are not encrypted, not deleted and
    /// not hidden for that user; newest first (`created_at`, then id, descending), at most
    /// `search.max_matches`, each with the store's relevance score.
    async fn search_messages(&self, search: &MessageSearch)
        -> Result<Vec<SearchMatch>, StoreError>;
}

/// How a [`SearchTerm`] must occur in the folded content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TermKind {
    /// Anywhere.
    Substring,
    /// At the start of a word.
    Prefix,
}

/// One term of a query; every term of a query must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchTerm {
    /// The folded text (see [`fold`]); never empty.
    pub text: String,
    /// How it must occur.
    pub kind: TermKind,
}

impl SearchTerm {
    /// Whether a trigram index can look this term up.
    pub fn is_indexed(&self) -> bool {
        self.text.chars().count() >= INDEXED_TERM_CHARS
    }
}

/// Input of [`SearchStore::search_messages`].
#[derive(Debug, Clone)]
pub struct MessageSearch {
    /// Whose conversations.
    pub user_id: UserId,
    /// What to find; at least one term.
    pub terms: Vec<SearchTerm>,
    /// Only in this conversation.
    pub conversation_id: Option<ConversationId>,
    /// Only from this sender.
    pub sender_id: Option<UserId>,
    /// Only of this type.
    pub kind: Option<MessageType>,
    /// Only messages with (true) or without (false) attachments.
    pub has_attachment: Option<bool>,
    /// Only sent at or after this time.
    pub from: Option<Timestamp>,
    /// Only sent before this time.
    pub to: Option<Timestamp>,
    /// Most matches returned (the newest ones).
    pub max_matches: u32,
}

/// One message found by [`SearchStore::search_messages`].
#[derive(Debug, Clone, PartialEq)]
pub struct SearchMatch {
    /// The message (never deleted, always with content).
    pub message: MessageRecord,
    /// Relevance, higher is better; comparable only within one answer of one store.
    pub rank: f64,
}

/// Message types that carry attachments. The type follows from the attachments
/// (`natter-app` derives it and refuses these types without attachments), so filtering by
/// type answers `has_attachment` without reading the attachments table.
pub const ATTACHMENT_TYPES: [MessageType; 4] = [
    MessageType::Image,
    MessageType::File,
    MessageType::Video,
    MessageType::Audio,
];

/// Folds `text` for matching: [`fold_char`] on every character, dropping those it removes.
pub fn fold(text: &str) -> String {
    text.chars().filter_map(fold_char).collect()
}

/// Whether `content` matches every term (see the module docs).
pub fn matches_all(terms: &[SearchTerm], content: &str) -> bool {
    matches_folded(terms, &fold(content))
}

/// [`matches_all`] for content already folded with [`fold`].
pub fn matches_folded(terms: &[SearchTerm], folded: &str) -> bool {
    terms.iter().all(|term| occurs(term, folded))
}

fn occurs(term: &SearchTerm, folded: &str) -> bool {
    match term.kind {
        TermKind::Substring => folded.contains(term.text.as_str()),
        // Overlapping occurrences need no check: one that starts inside an earlier
        // occurrence follows a character of the term, and prefix terms are letters and
        // digits, so it is never at the start of a word.
        TermKind::Prefix => folded.match_indices(term.text.as_str()).any(|(at, _)| {
            folded[..at]
                .chars()
                .next_back()
                .is_none_or(|before| !before.is_alphanumeric())
        }),
    }
}

/// Folds one character as SQLite FTS5's `sqlite3Fts5UnicodeFold(c, 2)` does: lower case
/// (ASCII, and by table the rest of the Basic Multilingual Plane and Deseret), then Latin
/// diacritics removed. `None` for characters folding drops (combining accents). The
/// noncharacters U+FFFE and U+FFFF become U+FFFD, as SQLite reads them.
pub fn fold_char(c: char) -> Option<char> {
    let code = u32::from(c);
    let folded = if code < 128 {
        return Some(c.to_ascii_lowercase());
    } else if code == 0xFFFE || code == 0xFFFF {
        // SQLite reads these noncharacters as U+FFFD (`READ_UTF8`).
        0xFFFD
    } else if code < 65536 {
        remove_diacritic(fold_case(code))
    } else if (66560..66600).contains(&code) {
        code + 40
    } else {
        code
    };
    if folded == 0 {
        None
    } else {
        // Every table target is a valid scalar value (a letter of the same block).
        Some(char::from_u32(folded).unwrap_or(c))
    }
}

/// Case folding of a BMP codepoint above ASCII by [`FOLD_RANGES`].
fn fold_case(code: u32) -> u32 {
    // The last range starting at or before `code` (the first starts at 65, below 128).
    let index = FOLD_RANGES.partition_point(|&(start, _, _)| u32::from(start) <= code) - 1;
    let (start, flags, length) = FOLD_RANGES[index];
    let start = u32::from(start);
    let applies = code < start + u32::from(length) && (u32::from(flags) & (start ^ code) & 1) == 0;
    if applies {
        (code + u32::from(FOLD_OFFSETS[usize::from(flags >> 1)])) & 0xFFFF
    } else {
        code
    }
}

/// Diacritic removal of a BMP codepoint by [`DIACRITIC_KEYS`] (the "complex" variant,
/// `remove_diacritics=2`).
fn remove_diacritic(code: u32) -> u32 {
    let key = (code << 3) | 7;
    // The last rule whose key is at or below `key` (the first rule's key is 0).
    let index = DIACRITIC_KEYS.partition_point(|&rule| u32::from(rule) <= key) - 1;
    let rule = u32::from(DIACRITIC_KEYS[index]);
    if code > (rule >> 3) + (rule & 7) {
        code
    } else {
        u32::from(DIACRITIC_BASES[index] & 0x7F)
    }
}

/// Every character [`fold_char`] changes, with what it becomes (`None`: dropped), in
/// codepoint order. The PostgreSQL migration's `natter_fold()` is generated from this.
pub fn folded_characters() -> impl Iterator<Item = (char, Option<char>)> {
    (0u32..0x10000)
        .chain(66560..66600)
        .filter_map(char::from_u32)
        .filter_map(|c| {
            let folded = fold_char(c);
            (folded != Some(c)).then_some((c, folded))
        })
}

// The tables below are copied from SQLite 3.46's `fts5_unicode2.c` (public domain),
// generated there from the Unicode Character Database's CaseFolding.txt.

/// `aEntry` of `sqlite3Fts5UnicodeFold`: `(first codepoint, flags, range length)`.
const FOLD_RANGES: [(u16, u8, u8); 163] = [
    (65, 14, 26),
    (181, 64, 1),
    (192, 14, 23),
    (216, 14, 7),
    (256, 1, 48),
    (306, 1, 6),
    (313, 1, 16),
    (330, 1, 46),
    (376, 116, 1),
    (377, 1, 6),
    (383, 104, 1),
    (385, 50, 1),
    (386, 1, 4),
    (390, 44, 1),
    (391, 0, 1),
    (393, 42, 2),
    (395, 0, 1),
    (398, 32, 1),
    (399, 38, 1),
    (400, 40, 1),
    (401, 0, 1),
    (403, 42, 1),
    (404, 46, 1),
    (406, 52, 1),
    (407, 48, 1),
    (408, 0, 1),
    (412, 52, 1),
    (413, 54, 1),
    (415, 56, 1),
    (416, 1, 6),
    (422, 60, 1),
    (423, 0, 1),
    (425, 60, 1),
    (428, 0, 1),
    (430, 60, 1),
    (431, 0, 1),
    (433, 58, 2),
    (435, 1, 4),
    (439, 62, 1),
    (440, 0, 1),
    (444, 0, 1),
    (452, 2, 1),
    (453, 0, 1),
    (455, 2, 1),
    (456, 0, 1),
    (458, 2, 1),
    (459, 1, 18),
    (478, 1, 18),
    (497, 2, 1),
    (498, 1, 4),
    (502, 122, 1),
    (503, 134, 1),
    (504, 1, 40),
    (544, 110, 1),
    (546, 1, 18),
    (570, 70, 1),
    (571, 0, 1),
    (573, 108, 1),
    (574, 68, 1),
    (577, 0, 1),
    (579, 106, 1),
    (580, 28, 1),
    (581, 30, 1),
    (582, 1, 10),
    (837, 36, 1),
    (880, 1, 4),
    (886, 0, 1),
    (902, 18, 1),
    (904, 16, 3),
    (908, 26, 1),
    (910, 24, 2),
    (913, 14, 17),
    (931, 14, 9),
    (962, 0, 1),
    (975, 4, 1),
    (976, 140, 1),
    (977, 142, 1),
    (981, 146, 1),
    (982, 144, 1),
    (984, 1, 24),
    (1008, 136, 1),
    (1009, 138, 1),
    (1012, 130, 1),
    (1013, 128, 1),
    (1015, 0, 1),
    (1017, 152, 1),
    (1018, 0, 1),
    (1021, 110, 3),
    (1024, 34, 16),
    (1040, 14, 32),
    (1120, 1, 34),
    (1162, 1, 54),
    (1216, 6, 1),
    (1217, 1, 14),
    (1232, 1, 88),
    (1329, 22, 38),
    (4256, 66, 38),
    (4295, 66, 1),
    (4301, 66, 1),
    (7680, 1, 150),
    (7835, 132, 1),
    (7838, 96, 1),
    (7840, 1, 96),
    (7944, 150, 8),
    (7960, 150, 6),
    (7976, 150, 8),
    (7992, 150, 8),
    (8008, 150, 6),
    (8025, 151, 8),
    (8040, 150, 8),
    (8072, 150, 8),
    (8088, 150, 8),
    (8104, 150, 8),
    (8120, 150, 2),
    (8122, 126, 2),
    (8124, 148, 1),
    (8126, 100, 1),
    (8136, 124, 4),
    (8140, 148, 1),
    (8152, 150, 2),
    (8154, 120, 2),
    (8168, 150, 2),
    (8170, 118, 2),
    (8172, 152, 1),
    (8184, 112, 2),
    (8186, 114, 2),
    (8188, 148, 1),
    (8486, 98, 1),
    (8490, 92, 1),
    (8491, 94, 1),
    (8498, 12, 1),
    (8544, 8, 16),
    (8579, 0, 1),
    (9398, 10, 26),
    (11264, 22, 47),
    (11360, 0, 1),
    (11362, 88, 1),
    (11363, 102, 1),
    (11364, 90, 1),
    (11367, 1, 6),
    (11373, 84, 1),
    (11374, 86, 1),
    (11375, 80, 1),
    (11376, 82, 1),
    (11378, 0, 1),
    (11381, 0, 1),
    (11390, 78, 2),
    (11392, 1, 100),
    (11499, 1, 4),
    (11506, 0, 1),
    (42560, 1, 46),
    (42624, 1, 24),
    (42786, 1, 14),
    (42802, 1, 62),
    (42873, 1, 4),
    (42877, 76, 1),
    (42878, 1, 10),
    (42891, 0, 1),
    (42893, 74, 1),
    (42896, 1, 4),
    (42912, 1, 10),
    (42922, 72, 1),
    (65313, 14, 26),
];
/// `aiOff` of `sqlite3Fts5UnicodeFold`: offsets added (mod 2^16) to fold a codepoint.
const FOLD_OFFSETS: [u16; 77] = [
    1, 2, 8, 15, 16, 26, 28, 32, 37, 38, 40, 48, 63, 64, 69, 71, 79, 80, 116, 202, 203, 205, 206,
    207, 209, 210, 211, 213, 214, 217, 218, 219, 775, 7264, 10792, 10795, 23228, 23256, 30204,
    54721, 54753, 54754, 54756, 54787, 54793, 54809, 57153, 57274, 57921, 58019, 58363, 61722,
    65268, 65341, 65373, 65406, 65408, 65410, 65415, 65424, 65436, 65439, 65450, 65462, 65472,
    65476, 65478, 65480, 65482, 65488, 65506, 65511, 65514, 65521, 65527, 65528, 65529,
];
/// `aDia` of `fts5_remove_diacritic`: `codepoint << 3 | range length` of each rule.
const DIACRITIC_KEYS: [u16; 126] = [
    0, 1797, 1848, 1859, 1891, 1928, 1940, 1995, 2024, 2040, 2060, 2110, 2168, 2206, 2264, 2286,
    2344, 2383, 2472, 2488, 2516, 2596, 2668, 2732, 2782, 2842, 2894, 2954, 2984, 3000, 3028, 3336,
    3456, 3696, 3712, 3728, 3744, 3766, 3832, 3896, 3912, 3928, 3944, 3968, 4008, 4040, 4056, 4106,
    4138, 4170, 4202, 4234, 4266, 4296, 4312, 4344, 4408, 4424, 4442, 4472, 4488, 4504, 6148, 6198,
    6264, 6280, 6360, 6429, 6505, 6529, 61448, 61468, 61512, 61534, 61592, 61610, 61642, 61672,
    61688, 61704, 61726, 61784, 61800, 61816, 61836, 61880, 61896, 61914, 61948, 61998, 62062,
    62122, 62154, 62184, 62200, 62218, 62252, 62302, 62364, 62410, 62442, 62478, 62536, 62554,
    62584, 62604, 62640, 62648, 62656, 62664, 62730, 62766, 62830, 62890, 62924, 62974, 63032,
    63050, 63082, 63118, 63182, 63242, 63274, 63310, 63368, 63390,
];
/// `aChar` of `fts5_remove_diacritic`: the base letter of each rule (0: drop the
/// character; bit 7: only with `remove_diacritics=2`).
const DIACRITIC_BASES: [u8; 126] = [
    0x00, 0x61, 0x63, 0x65, 0x69, 0x6e, 0x6f, 0x75, 0x79, 0x79, 0x61, 0x63, 0x64, 0x65, 0x65, 0x67,
    0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6e, 0x6f, 0x72, 0x73, 0x74, 0x75, 0x75, 0x77, 0x79, 0x7a, 0x6f,
    0x75, 0x61, 0x69, 0x6f, 0x75, 0xf5, 0xe1, 0x67, 0x6b, 0x6f, 0xef, 0x6a, 0x67, 0x6e, 0xe1, 0x61,
    0x65, 0x69, 0x6f, 0x72, 0x75, 0x73, 0x74, 0x68, 0x61, 0x65, 0xef, 0x6f, 0xef, 0x79, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x61, 0x62, 0xe3, 0x64, 0x64, 0xe5, 0x65, 0xe5, 0x66, 0x67,
    0x68, 0x68, 0x69, 0xe9, 0x6b, 0x6c, 0xec, 0x6c, 0x6d, 0x6e, 0xef, 0x70, 0x72, 0xf2, 0x72, 0x73,
    0xf3, 0x74, 0x75, 0xf5, 0x76, 0x77, 0x77, 0x78, 0x79, 0x7a, 0x68, 0x74, 0x77, 0x79, 0x61, 0xe1,
    0xe1, 0xe1, 0x65, 0xe5, 0xe5, 0x69, 0x6f, 0xef, 0xef, 0xef, 0x75, 0xf5, 0xf5, 0x79,
];

#[cfg(test)]
mod tests {
    use super::*;

    fn term(text: &str, kind: TermKind) -> SearchTerm {
        SearchTerm {
            text: text.into(),
            kind,
        }
    }

    #[test]
    fn folding_lowers_case_and_removes_latin_accents() {
        assert_eq!(fold("Ärger über Café CRÈME"), "arger uber cafe creme");
        assert_eq!(fold("Straße"), "straße", "ß is not an accented s");
        assert_eq!(fold("ΣΟΦΙΑ Москва"), "σοφια москва");
        assert_eq!(fold("東京で会議"), "東京で会議");
        assert_eq!(
            fold("ＡＢＣ"),
            "ａｂｃ",
            "fullwidth letters fold to fullwidth"
        );
        assert_eq!(fold("e\u{301}"), "e", "combining accents are dropped");
        assert_eq!(fold("\u{10400}"), "\u{10428}", "Deseret has case");
    }

    #[test]
    fn the_fold_table_lists_only_changes() {
        let changes: Vec<_> = folded_characters().collect();
        assert!(changes.iter().all(|(c, folded)| *folded != Some(*c)));
        assert!(changes.contains(&('É', Some('e'))));
        assert!(changes.contains(&('\u{301}', None)));
        assert!(changes.len() > 1000, "{}", changes.len());
    }

    #[test]
    fn folding_twice_changes_nothing() {
        // The PostgreSQL fold applies the table in blocks; that is only the same as
        // folding each character once because no folded character folds again.
        for c in (0u32..0x11000).filter_map(char::from_u32) {
            if let Some(folded) = fold_char(c) {
                assert_eq!(fold_char(folded), Some(folded), "{c:?}");
            }
        }
    }

    #[test]
    fn substrings_match_anywhere() {
        let terms = [term("contr", TermKind::Substring)];
        assert!(matches_all(&terms, "Sign the CONTRACT"));
        assert!(matches_all(&terms, "subcontractor"));
        assert!(!matches_all(&terms, "con tract"));
        let phrase = [term("exact phrase", TermKind::Substring)];
        assert!(matches_all(&phrase, "an Exact Phrase here"));
        assert!(!matches_all(&phrase, "exact, phrase"));
        assert!(matches_all(
            &[term("会议", TermKind::Substring)],
            "明天的会议在东京"
        ));
    }

    #[test]
    fn prefixes_match_at_word_starts() {
        let terms = [term("contr", TermKind::Prefix)];
        assert!(matches_all(&terms, "Contract"));
        assert!(matches_all(&terms, "the (contractor)"));
        assert!(matches_all(&terms, "sub-contract"));
        assert!(!matches_all(&terms, "subcontract"));
        assert!(matches_all(&terms, "subcontract, contra"));
        assert!(matches_all(&[term("aa", TermKind::Prefix)], "baa aab"));
        assert!(!matches_all(&[term("aa", TermKind::Prefix)], "baaa"));
    }

    #[test]
    fn all_terms_must_match() {
        let terms = [
            term("berlin", TermKind::Substring),
            term("mo", TermKind::Prefix),
        ];
        assert!(matches_all(&terms, "Berlin on Monday"));
        assert!(!matches_all(&terms, "Berlin on Tuesday"));
    }
}
