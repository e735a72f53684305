//! The search benchmark's corpus: who is in which conversation and what every message says,
//! computed from a seed and the message's index, so that any message can be generated
//! again without the others (a resumed load, the expected match counts, `--reuse`).
//!
//! The text is chat-like, not prose: 70 % English, 15 % German, 8 % Chinese and 7 %
//! Japanese; half the messages have 3–10 words, 35 % 10–25, 12 % 25–60 and 3 % 60–150
//! (a Chinese or Japanese "word" is a fragment of 1–4 characters); 4 % carry a product
//! code (`XJ-2041`, `SKU-88A31`). Words are drawn with a skew towards the start of each
//! vocabulary (roughly Zipf), so common words and their trigrams are common, as in real
//! text. Planted at a known rate, and absent from the vocabularies otherwise:
//! - `contract` in 1 % of the messages (the single-word query);
//! - `delivery date` in 0.5 % (the phrase query; `delivery` and `date` also occur alone);
//! - `会议室` ("meeting room") in 10 % of the Chinese messages (the CJK query).
//!
//! Words starting with `contr` (`control`, `contribution`, …) are in the English
//! vocabulary, so the prefix query `contr*` finds more than the planted word. The expected
//! number of matches of each query is counted here with [`Query::matches`], a small
//! matcher that is exact for this generator's text (see there), not a second copy of the
//! server's definition.
//!
//! Membership: conversation `c` has 2–6 members drawn from `conversations / 2` users; the
//! user under test joins `user_conversations` of them, spread evenly. Message `i` goes to
//! conversation `i mod conversations`, from one of its members, so every conversation
//! holds the same number of messages (± 1) and messages of different conversations
//! interleave as in live traffic.

/// The parameters that determine a corpus completely.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Corpus {
    /// Seed of every random choice.
    pub seed: u64,
    /// Messages in all.
    pub messages: u64,
    /// Conversations in all.
    pub conversations: u64,
    /// Conversations the user under test is a participant of.
    pub user_conversations: u64,
}

/// The queries of the benchmark: what a user types into a search box.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Query {
    /// One English word, planted in 1 % of the messages.
    Word,
    /// The start of a word, `contr*`.
    Prefix,
    /// A quoted phrase of two words.
    Phrase,
    /// A Chinese substring of three characters.
    Cjk,
}

impl Query {
    /// Every query, in the order they are asked in each round.
    pub const ALL: [Query; 4] = [Query::Word, Query::Prefix, Query::Phrase, Query::Cjk];

    /// Name in the report.
    pub fn kind(self) -> &'static str {
        match self {
            Query::Word => "word",
            Query::Prefix => "prefix",
            Query::Phrase => "phrase",
            Query::Cjk => "cjk",
        }
    }

    /// The `q` parameter sent.
    pub fn text(self) -> &'static str {
        match self {
            Query::Word => "contract",
            Query::Prefix => "contr*",
            Query::Phrase => "\"delivery date\"",
            Query::Cjk => "会议室",
        }
    }

    /// Whether `content` matches this query. Exact for this generator's text only: its
    /// only characters that fold to something else are ASCII capitals and the German
    /// umlauts, which [`fold`] handles, and no vocabulary word folds into a query term.
    pub fn matches(self, content: &str) -> bool {
        let folded = fold(content);
        match self {
            Query::Word => folded.contains("contract"),
            Query::Phrase => folded.contains("delivery date"),
            Query::Cjk => folded.contains("会议室"),
            Query::Prefix => folded.match_indices("contr").any(|(at, _)| {
                folded[..at]
                    .chars()
                    .next_back()
                    .is_none_or(|before| !before.is_alphanumeric())
            }),
        }
    }
}

/// Lower case, and the accents of this generator's German words removed (`ü` → `u`; `ß`
/// stays), as the server folds them.
fn fold(text: &str) -> String {
    text.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'ä' => 'a',
            'ö' => 'o',
            'ü' => 'u',
            'é' => 'e',
            other => other,
        })
        .collect()
}

impl Corpus {
    /// A key naming this corpus in user ids and context ids (at most 40 characters).
    pub fn key(&self) -> String {
        format!(
            "s{}n{}c{}k{}",
            self.seed, self.messages, self.conversations, self.user_conversations
        )
    }

    /// Users that conversations draw their members from.
    pub fn member_pool(&self) -> u64 {
        (self.conversations / 2).max(8)
    }

    /// Whether the user under test is a participant of conversation `c`.
    pub fn has_user(&self, c: u64) -> bool {
        // Conversation floor(k * C / K) for k in 0..K: K distinct conversations, evenly
        // spread. `c` is one of them when ceil(c * K / C) * C / K, rounded down, is `c`.
        let (k, total) = (self.user_conversations, self.conversations);
        let index = (c * k).div_ceil(total);
        index < k && index * total / k == c
    }

    /// The conversations of the user under test.
    pub fn user_conversation_indexes(&self) -> Vec<u64> {
        (0..self.conversations)
            .filter(|&c| self.has_user(c))
            .collect()
    }

    /// Member indexes (into the pool) of conversation `c`, the owner first; distinct.
    pub fn members(&self, c: u64) -> Vec<u64> {
        let mut rng = Rng::new(self.seed, 1, c);
        let count = 2 + rng.below(5) as usize;
        let pool = self.member_pool();
        let mut members: Vec<u64> = Vec::with_capacity(count);
        while members.len() < count.min(pool as usize) {
            let member = rng.below(pool);
            if !members.contains(&member) {
                members.push(member);
            }
        }
        members
    }

    /// The conversation of message `i`.
    pub fn conversation_of(&self, i: u64) -> u64 {
        i % self.conversations
    }

    /// Which of the conversation's participants sends message `i`: an index into
    /// [`Corpus::members`], or `None` for the user under test.
    pub fn sender_of(&self, i: u64) -> Option<usize> {
        let c = self.conversation_of(i);
        let members = self.members(c).len() as u64;
        let participants = members + u64::from(self.has_user(c));
        let pick = Rng::new(self.seed, 2, i).below(participants);
        (pick < members).then_some(pick as usize)
    }

    /// The text of message `i`.
    pub fn content(&self, i: u64) -> String {
        let mut rng = Rng::new(self.seed, 3, i);
        let language = match rng.below(100) {
            0..=69 => Language::English,
            70..=84 => Language::German,
            85..=92 => Language::Chinese,
            _ => Language::Japanese,
        };
        let words = match rng.below(100) {
            0..=49 => 3 + rng.below(8),
            50..=84 => 10 + rng.below(16),
            85..=96 => 25 + rng.below(36),
            _ => 60 + rng.below(91),
        } as usize;
        let mut tokens: Vec<String> = (0..words)
            .map(|_| language.word(&mut rng).to_owned())
            .collect();
        // Plants go at a random position, as a word of their own.
        if rng.below(1000) < 10 {
            insert_at_random(&mut rng, &mut tokens, "contract".to_owned());
        }
        if rng.below(1000) < 5 {
            insert_at_random(&mut rng, &mut tokens, "delivery date".to_owned());
        }
        if language == Language::Chinese && rng.below(100) < 10 {
            insert_at_random(&mut rng, &mut tokens, "会议室".to_owned());
        }
        if rng.below(100) < 4 {
            let code = product_code(&mut rng);
            insert_at_random(&mut rng, &mut tokens, code);
        }
        language.join(&mut rng, &tokens)
    }
}

fn insert_at_random(rng: &mut Rng, tokens: &mut Vec<String>, token: String) {
    let at = rng.below(tokens.len() as u64 + 1) as usize;
    tokens.insert(at, token);
}

fn product_code(rng: &mut Rng) -> String {
    const LETTERS: &[u8] = b"ABCDEFGHJKLMNPRSTUVWXZ";
    let letter = |rng: &mut Rng| char::from(LETTERS[rng.below(LETTERS.len() as u64) as usize]);
    match rng.below(3) {
        0 => format!("{}{}-{}", letter(rng), letter(rng), 1000 + rng.below(9000)),
        1 => format!(
            "SKU-{}{}{}",
            10 + rng.below(90),
            letter(rng),
            100 + rng.below(900)
        ),
        _ => format!(
            "{}{}{}-{}",
            letter(rng),
            letter(rng),
            letter(rng),
            rng.below(100)
        ),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Language {
    English,
    German,
    Chinese,
    Japanese,
}

impl Language {
    fn vocabulary(self) -> &'static [&'static str] {
        match self {
            Language::English => ENGLISH,
            Language::German => GERMAN,
            Language::Chinese => CHINESE,
            Language::Japanese => JAPANESE,
        }
    }

    /// A word, skewed towards the start of the vocabulary: the smaller of two uniform
    /// draws, so the first words are about twice as common as the average.
    fn word(self, rng: &mut Rng) -> &'static str {
        let vocabulary = self.vocabulary();
        let size = vocabulary.len() as u64;
        let index = rng.below(size).min(rng.below(size)).min(rng.below(size));
        vocabulary[index as usize]
    }

    /// Sentences: latin scripts with spaces, capitals and punctuation; Chinese and
    /// Japanese without spaces, with their own punctuation.
    fn join(self, rng: &mut Rng, tokens: &[String]) -> String {
        let mut text = String::new();
        let mut sentence_start = true;
        for (index, token) in tokens.iter().enumerate() {
            let last = index + 1 == tokens.len();
            match self {
                Language::English | Language::German => {
                    if !text.is_empty() {
                        text.push(' ');
                    }
                    if sentence_start {
                        let mut chars = token.chars();
                        if let Some(first) = chars.next() {
                            text.extend(first.to_uppercase());
                            text.push_str(chars.as_str());
                        }
                    } else {
                        text.push_str(token);
                    }
                    sentence_start = false;
                    if last {
                        text.push(['.', '!', '?', '.'][rng.below(4) as usize]);
                    } else {
                        match rng.below(100) {
                            0..=7 => {
                                text.push('.');
                                sentence_start = true;
                            }
                            8..=13 => text.push(','),
                            _ => {}
                        }
                    }
                }
                Language::Chinese | Language::Japanese => {
                    // A latin plant (a product code, `contract`) keeps spaces around it.
                    if token.is_ascii() {
                        text.push(' ');
                        text.push_str(token);
                        text.push(' ');
                    } else {
                        text.push_str(token);
                    }
                    if last {
                        text.push('。');
                    } else if rng.below(100) < 12 {
                        text.push(if self == Language::Chinese {
                            '，'
                        } else {
                            '、'
                        });
                    }
                }
            }
        }
        text.trim().to_owned()
    }
}

/// SplitMix64 over (seed, stream, index): the same numbers on every platform and build, so
/// a corpus is the same whichever binary generated it.
struct Rng(u64);

impl Rng {
    fn new(seed: u64, stream: u64, index: u64) -> Rng {
        let mut rng = Rng(seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03));
        rng.0 ^= index.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        rng.next();
        rng
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (`bound` > 0; the modulo bias is irrelevant here).
    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound.max(1)
    }
}

/// Common chat words first. No word contains `contract`, none folds into a query term.
const ENGLISH: &[&str] = &[
    "the",
    "i",
    "you",
    "to",
    "a",
    "and",
    "is",
    "it",
    "we",
    "for",
    "of",
    "in",
    "on",
    "that",
    "can",
    "thanks",
    "ok",
    "this",
    "be",
    "will",
    "have",
    "just",
    "with",
    "do",
    "me",
    "please",
    "are",
    "at",
    "not",
    "so",
    "yes",
    "what",
    "my",
    "your",
    "no",
    "if",
    "but",
    "get",
    "from",
    "when",
    "about",
    "tomorrow",
    "today",
    "order",
    "time",
    "there",
    "know",
    "let",
    "send",
    "call",
    "meeting",
    "now",
    "see",
    "need",
    "sure",
    "here",
    "hi",
    "great",
    "check",
    "back",
    "all",
    "good",
    "would",
    "should",
    "could",
    "they",
    "our",
    "an",
    "was",
    "by",
    "up",
    "out",
    "one",
    "new",
    "some",
    "still",
    "again",
    "later",
    "next",
    "week",
    "morning",
    "afternoon",
    "price",
    "invoice",
    "payment",
    "booking",
    "delivery",
    "date",
    "address",
    "package",
    "customer",
    "support",
    "ticket",
    "update",
    "issue",
    "problem",
    "question",
    "answer",
    "please",
    "confirm",
    "confirmed",
    "cancel",
    "change",
    "account",
    "email",
    "phone",
    "receipt",
    "refund",
    "shipping",
    "shipment",
    "tracking",
    "number",
    "room",
    "hotel",
    "flight",
    "table",
    "reservation",
    "menu",
    "driver",
    "arrive",
    "arrived",
    "waiting",
    "minutes",
    "hours",
    "control",
    "controls",
    "contribution",
    "contrary",
    "contrast",
    "contact",
    "content",
    "context",
    "continue",
    "construction",
    "consider",
    "central",
    "entrance",
    "country",
    "counter",
    "account",
    "actually",
    "action",
    "fact",
    "track",
    "trace",
    "transfer",
    "training",
    "transport",
    "travel",
    "tract",
    "attract",
    "react",
    "practical",
    "exactly",
    "impact",
    "interest",
    "internet",
    "entry",
    "sentence",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "weekend",
    "office",
    "warehouse",
    "supplier",
    "quote",
    "discount",
    "sample",
    "quality",
    "review",
    "report",
    "document",
    "signature",
    "sign",
    "agreement",
    "terms",
    "conditions",
    "deadline",
    "schedule",
    "project",
    "team",
    "manager",
    "colleague",
    "client",
    "partner",
    "service",
    "product",
    "size",
    "colour",
    "model",
    "version",
    "stock",
    "available",
    "unavailable",
    "replacement",
    "warranty",
    "repair",
    "broken",
    "damaged",
    "missing",
    "wrong",
    "right",
    "left",
    "open",
    "closed",
    "parking",
    "key",
    "keys",
    "door",
    "floor",
    "building",
    "apartment",
    "checkin",
    "checkout",
    "luggage",
    "breakfast",
    "dinner",
    "lunch",
];

/// Common German chat words, with umlauts and `ß`. No word folds into a query term.
const GERMAN: &[&str] = &[
    "ich",
    "du",
    "und",
    "die",
    "der",
    "das",
    "ist",
    "nicht",
    "es",
    "wir",
    "ja",
    "nein",
    "bitte",
    "danke",
    "mit",
    "auf",
    "für",
    "zu",
    "noch",
    "schon",
    "heute",
    "morgen",
    "gern",
    "gerne",
    "kann",
    "können",
    "muss",
    "müssen",
    "habe",
    "haben",
    "bin",
    "sind",
    "wann",
    "wo",
    "wie",
    "was",
    "warum",
    "gut",
    "super",
    "okay",
    "Termin",
    "Lieferung",
    "Bestellung",
    "Rechnung",
    "Zahlung",
    "Adresse",
    "Paket",
    "Übergabe",
    "Schlüssel",
    "Straße",
    "Größe",
    "Grüße",
    "Vertrag",
    "Kontrolle",
    "Lieferschein",
    "Angebot",
    "Rabatt",
    "Kunde",
    "Kundendienst",
    "Rückgabe",
    "Rückerstattung",
    "Woche",
    "Wochenende",
    "Montag",
    "Dienstag",
    "Mittwoch",
    "Donnerstag",
    "Freitag",
    "Samstag",
    "Sonntag",
    "Uhr",
    "Minuten",
    "Stunden",
    "später",
    "früher",
    "pünktlich",
    "Verspätung",
    "Fahrer",
    "Zimmer",
    "Hotel",
    "Buchung",
    "Frühstück",
    "Abendessen",
    "Tisch",
    "Reservierung",
    "Büro",
    "Lager",
    "Lieferant",
    "Muster",
    "Qualität",
    "Prüfung",
    "Bericht",
    "Unterschrift",
    "Frist",
    "Projekt",
    "Kollege",
    "Kollegin",
    "Ersatz",
    "Garantie",
    "Reparatur",
    "kaputt",
    "beschädigt",
    "fehlt",
    "falsch",
    "richtig",
    "offen",
    "geschlossen",
    "Tür",
    "Etage",
    "Wohnung",
    "Gepäck",
    "natürlich",
    "leider",
    "vielleicht",
    "übermorgen",
    "gestern",
];

/// Chinese fragments; `会议` (meeting) occurs, `会议室` (meeting room) only when planted.
const CHINESE: &[&str] = &[
    "我",
    "你",
    "的",
    "了",
    "是",
    "在",
    "我们",
    "好的",
    "谢谢",
    "明天",
    "今天",
    "请",
    "一下",
    "可以",
    "没有",
    "什么",
    "时候",
    "会议",
    "订单",
    "发货",
    "快递",
    "地址",
    "付款",
    "发票",
    "价格",
    "客户",
    "问题",
    "确认",
    "取消",
    "修改",
    "已经",
    "马上",
    "下午",
    "上午",
    "晚上",
    "东京",
    "北京",
    "上海",
    "酒店",
    "房间",
    "预订",
    "退款",
    "产品",
    "型号",
    "库存",
    "质量",
    "样品",
    "合同",
    "签字",
    "项目",
    "同事",
    "经理",
    "办公室",
    "仓库",
    "供应商",
    "送到",
    "收到",
    "联系",
    "电话",
    "邮件",
    "早餐",
    "钥匙",
];

/// Japanese fragments (kanji and kana); `会議室` is Japanese for meeting room and is not
/// `会议室` (议 and 議 are different characters).
const JAPANESE: &[&str] = &[
    "です",
    "ます",
    "よろしく",
    "お願いします",
    "ありがとう",
    "明日",
    "今日",
    "会議",
    "会議室",
    "東京",
    "大阪",
    "注文",
    "発送",
    "住所",
    "支払い",
    "請求書",
    "価格",
    "お客様",
    "問題",
    "確認",
    "キャンセル",
    "変更",
    "もう",
    "すぐ",
    "午後",
    "午前",
    "夜",
    "ホテル",
    "部屋",
    "予約",
    "返金",
    "製品",
    "在庫",
    "品質",
    "契約",
    "署名",
    "担当",
    "事務所",
    "倉庫",
    "届きました",
    "連絡",
    "電話",
    "メール",
    "朝食",
    "鍵",
    "の",
    "に",
    "を",
    "は",
    "が",
    "で",
    "と",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus(messages: u64, conversations: u64, user_conversations: u64) -> Corpus {
        Corpus {
            seed: 1,
            messages,
            conversations,
            user_conversations,
        }
    }

    #[test]
    fn the_user_is_in_exactly_k_conversations() {
        for (c, k) in [(10_000, 50), (40, 5), (7, 7), (100, 1), (13, 4)] {
            let corpus = corpus(1000, c, k);
            assert_eq!(
                corpus.user_conversation_indexes().len() as u64,
                k,
                "{c} {k}"
            );
        }
        let spread = corpus(1000, 10_000, 50).user_conversation_indexes();
        assert_eq!(&spread[..3], &[0, 200, 400]);
    }

    #[test]
    fn the_same_index_gives_the_same_message() {
        let corpus = corpus(1000, 10, 2);
        assert_eq!(corpus.content(17), corpus.content(17));
        assert_ne!(corpus.content(17), corpus.content(18));
        assert_eq!(corpus.members(3), corpus.members(3));
        let members = corpus.members(3);
        assert!((2..=6).contains(&members.len()));
    }

    #[test]
    fn planted_words_come_at_their_rates() {
        let corpus = corpus(200_000, 1000, 10);
        let count = |query: Query| {
            (0..corpus.messages)
                .filter(|&i| query.matches(&corpus.content(i)))
                .count() as f64
                / corpus.messages as f64
        };
        let word = count(Query::Word);
        assert!((0.009..0.011).contains(&word), "contract: {word}");
        let phrase = count(Query::Phrase);
        assert!((0.004..0.0065).contains(&phrase), "delivery date: {phrase}");
        let cjk = count(Query::Cjk);
        assert!((0.006..0.01).contains(&cjk), "会议室: {cjk}");
        let prefix = count(Query::Prefix);
        assert!(prefix > word, "contr* finds more than contract: {prefix}");
    }

    #[test]
    fn the_matcher_folds_like_the_server() {
        assert!(Query::Word.matches("Contracts signed"));
        assert!(Query::Word.matches("subcontractor"));
        assert!(Query::Prefix.matches("(Control) room"));
        assert!(!Query::Prefix.matches("Kontrolle"));
        assert!(Query::Phrase.matches("The Delivery date is"));
        assert!(!Query::Phrase.matches("delivery, date"));
        assert!(Query::Cjk.matches("明天的会议室"));
        assert!(!Query::Cjk.matches("会議室"));
        assert_eq!(fold("Übergabe Straße"), "ubergabe straße");
    }

    #[test]
    fn messages_have_chat_lengths() {
        let corpus = corpus(10_000, 100, 5);
        let mut lengths: Vec<usize> = (0..corpus.messages)
            .map(|i| corpus.content(i).chars().count())
            .collect();
        lengths.sort_unstable();
        let median = lengths[lengths.len() / 2];
        assert!((30..150).contains(&median), "median {median} characters");
        assert!(*lengths.last().unwrap_or(&0) < 4000);
    }
}
