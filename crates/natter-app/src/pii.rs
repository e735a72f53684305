//! PII masking: emails, phone numbers and external links are replaced before a message is
//! stored, so that users of a marketplace cannot move a deal off the platform before the
//! host app allows it (PRODUCT.md §3, "Safety").
//!
//! [`mask`] is a pure function, applied on send and on edit to validated content:
//! - emails, also obfuscated (`john at example dot com`, `john[at]example[dot]com`,
//!   `john @ example . com`), become `j***@e***.com`;
//! - phone numbers in international and common national formats (`+44 20 7946 0958`,
//!   `(555) 123-4567`, `0171 1234567`, `06 12 34 56 78`) become `***-****`; dates, times,
//!   prices, decimals, year ranges and numbers after `#`, "order", "invoice", … do not;
//! - links (`https://…`, `www.…`, scheme-less `shop.example.de/x`, IPv4 addresses) become
//!   `[link removed]`, except hosts on the allowlist (and their subdomains), which also
//!   keeps emails at those domains.
//!
//! It is a heuristic scanner, not a parser of every format in the world; the cases it
//! decides are the table in `natter-server/tests/api/pii.rs`. What it deliberately does
//! not do: credit card or IBAN detection, numbers spelled out in words, non-ASCII digits.
//! Masking never makes content longer than the content limit: when the readable
//! replacements would, every finding becomes `***` instead (never longer than what it
//! replaces).

/// When messages are masked (config `pii.policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PiiPolicy {
    /// Never.
    Off,
    /// In conversations not marked `trusted` (the default).
    #[default]
    Untrusted,
    /// In every conversation, trusted or not.
    Always,
}

/// The masking configuration: the policy and the hosts whose links and emails stay.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PiiRules {
    /// When to mask.
    pub policy: PiiPolicy,
    /// Allowed hosts, lower case, without a leading dot; subdomains are allowed too.
    allowed_domains: Vec<String>,
}

impl PiiRules {
    /// Rules with a policy and an allowlist (normalised to lower case, leading dots and
    /// empty entries removed).
    pub fn new(policy: PiiPolicy, allowed_domains: impl IntoIterator<Item = String>) -> Self {
        let allowed_domains = allowed_domains
            .into_iter()
            .map(|domain| domain.trim().trim_start_matches('.').to_lowercase())
            .filter(|domain| !domain.is_empty())
            .collect();
        Self {
            policy,
            allowed_domains,
        }
    }

    /// Whether content of a conversation with this `trusted` flag is masked.
    pub fn applies(&self, trusted: bool) -> bool {
        match self.policy {
            PiiPolicy::Off => false,
            PiiPolicy::Untrusted => !trusted,
            PiiPolicy::Always => true,
        }
    }

    /// Whether `host` (lower case) is an allowed domain or a subdomain of one.
    fn allows(&self, host: &str) -> bool {
        self.allowed_domains.iter().any(|domain| {
            host == domain
                || host
                    .strip_suffix(domain.as_str())
                    .is_some_and(|rest| rest.ends_with('.'))
        })
    }
}

/// The result of [`mask`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Masked {
    /// The content to store.
    pub text: String,
    /// Whether anything was replaced (the message's `pii_masked`).
    pub masked: bool,
}

/// Masks `text` per `rules` for a conversation with the given `trusted` flag. The result
/// is at most `max_chars` characters whenever `text` is, and masking it again changes
/// nothing: a replacement can complete a pattern that was not one before (an obfuscated
/// address followed by `dot [link removed]`), so masking repeats until nothing changes.
pub fn mask(text: &str, rules: &PiiRules, trusted: bool, max_chars: usize) -> Masked {
    let mut current = mask_once(text, rules, trusted, max_chars);
    if !current.masked {
        return current;
    }
    for _ in 0..4 {
        let again = mask_once(&current.text, rules, trusted, max_chars);
        if !again.masked || again.text == current.text {
            break;
        }
        current.text = again.text;
    }
    current
}

/// One pass of [`mask`].
fn mask_once(text: &str, rules: &PiiRules, trusted: bool, max_chars: usize) -> Masked {
    let unchanged = || Masked {
        text: text.to_owned(),
        masked: false,
    };
    if !rules.applies(trusted) {
        return unchanged();
    }
    let mut scan = Scan::new(text, rules);
    scan.urls();
    scan.emails();
    scan.obfuscated_emails();
    scan.domains();
    scan.ipv4();
    scan.phones();
    if scan.findings.is_empty() {
        return unchanged();
    }
    let readable = scan.render(Finding::replacement);
    let text = if readable.chars().count() <= max_chars {
        readable
    } else {
        let compact = scan.render(|_| "***".to_owned());
        compact.chars().take(max_chars).collect()
    };
    Masked { text, masked: true }
}

/// Masks optional message content (see [`mask`]): the content to store and `pii_masked`.
pub(crate) fn mask_content(
    content: Option<String>,
    rules: &PiiRules,
    trusted: bool,
    max_chars: usize,
) -> (Option<String>, bool) {
    match content {
        Some(content) => {
            let masked = mask(&content, rules, trusted, max_chars);
            (Some(masked.text), masked.masked)
        }
        None => (None, false),
    }
}

/// What was found, and what replaces it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// An email: first letters of the user and the domain, and the top-level domain.
    Email {
        user: char,
        domain: char,
        tld: String,
    },
    Phone,
    Link,
}

#[derive(Debug, Clone)]
struct Finding {
    start: usize,
    end: usize,
    kind: Kind,
}

impl Finding {
    fn replacement(&self) -> String {
        match &self.kind {
            Kind::Email { user, domain, tld } => format!("{user}***@{domain}***.{tld}"),
            Kind::Phone => "***-****".to_owned(),
            Kind::Link => "[link removed]".to_owned(),
        }
    }
}

/// Generic top-level domains a scheme-less link or an obfuscated email may end in (any
/// two-letter country code counts too, with the restrictions in [`Scan::domains`]).
const GENERIC_TLDS: &[&str] = &[
    "com", "net", "org", "edu", "gov", "mil", "int", "info", "biz", "io", "app", "dev", "ai",
    "xyz", "online", "site", "shop", "store", "tech", "blog", "club", "live", "page", "link",
    "name", "mobi", "asia", "email", "cloud", "world", "group", "website", "space", "top", "pro",
    "art", "design", "agency", "company", "digital", "media", "news", "network", "social",
    "academy", "travel", "berlin", "wien", "koeln", "hamburg", "bayern", "nyc", "london", "paris",
    "tokyo",
];

/// Country codes that are mostly file extensions (`main.rs`, `setup.py`, `notes.md`,
/// `build.sh`): counted only with a path or a subdomain.
const FILE_LIKE_TLDS: &[&str] = &["rs", "py", "md", "sh", "js", "cs", "pl", "so", "do"];

/// Word stems that, in one of the two words before a number, make it a reference rather
/// than a phone number ("order 555-123-4567", "Bestellnr. 0301234567").
const REFERENCE_STEMS: &[&str] = &[
    "order",
    "invoice",
    "ref",
    "tracking",
    "ticket",
    "booking",
    "confirmation",
    "iban",
    "bic",
    "account",
    "acct",
    "sku",
    "serial",
    "item",
    "article",
    "artikel",
    "bestell",
    "rechnung",
    "auftrag",
    "sendung",
    "kunden",
    "vorgang",
    "pnr",
    "zip",
    "plz",
    "isbn",
    "version",
    "case",
];

/// Short words that make a number a reference when they come right before it.
const REFERENCE_WORDS: &[&str] = &["no", "nr", "id", "v", "pin", "code", "ex"];

/// Word prefixes before a number that make it a phone number even when unformatted.
const PHONE_WORDS: &[&str] = &[
    "tel", "phone", "call", "mobil", "cell", "whatsapp", "handy", "fax", "sms", "anruf", "telefon",
    "ruf", "signal", "telegram", "text",
];

/// Characters before a number searched for the words that decide what it is: wide enough
/// that findings and their replacements in between (which are not words) do not push
/// the deciding words out between a first and a second masking.
const WORD_WINDOW: usize = 200;

/// Currency symbols and codes next to which a number is a price.
const CURRENCY_SYMBOLS: &[char] = &['$', '€', '£', '¥', '₹', '₽', '₩', '₺', '¢'];
const CURRENCY_WORDS: &[&str] = &[
    "eur", "euro", "euros", "usd", "dollar", "dollars", "gbp", "chf", "kr", "sek", "nok", "dkk",
    "pln", "czk", "jpy", "cny", "rmb", "yen", "yuan", "inr", "rub", "try", "cents",
];

/// The text as characters, what is already claimed, and the findings so far.
struct Scan<'r> {
    chars: Vec<char>,
    taken: Vec<bool>,
    findings: Vec<Finding>,
    rules: &'r PiiRules,
}

fn is_label_char(c: char) -> bool {
    c.is_alphanumeric() || c == '-'
}

fn is_local_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '.' | '_' | '%' | '+' | '-')
}

/// Whether `tld` (as written) may end a scheme-less link or an obfuscated email.
fn is_known_tld(tld: &str) -> bool {
    let lower = tld.to_ascii_lowercase();
    (lower.len() == 2 && lower.bytes().all(|b| b.is_ascii_lowercase()))
        || GENERIC_TLDS.contains(&lower.as_str())
}

/// Whether `tld` looks like a top-level domain of a plain email: 2–24 ASCII letters.
fn is_email_tld(tld: &str) -> bool {
    (2..=24).contains(&tld.len()) && tld.bytes().all(|b| b.is_ascii_alphabetic())
}

impl<'r> Scan<'r> {
    fn new(text: &str, rules: &'r PiiRules) -> Self {
        let chars: Vec<char> = text.chars().collect();
        Self {
            taken: vec![false; chars.len()],
            chars,
            findings: Vec::new(),
            rules,
        }
    }

    fn len(&self) -> usize {
        self.chars.len()
    }

    fn at(&self, index: usize) -> Option<char> {
        self.chars.get(index).copied()
    }

    fn before(&self, index: usize) -> Option<char> {
        index.checked_sub(1).and_then(|i| self.at(i))
    }

    fn is_free(&self, start: usize, end: usize) -> bool {
        self.taken[start..end].iter().all(|taken| !taken)
    }

    /// `end`, or the first claimed index in `start..end`: a path stops where an earlier
    /// finding begins (`shop.de/https://x` is two links, not one link over another).
    fn clip(&self, start: usize, end: usize) -> usize {
        (start..end).find(|&i| self.taken[i]).unwrap_or(end)
    }

    fn claim(&mut self, start: usize, end: usize, kind: Option<Kind>) {
        for taken in &mut self.taken[start..end] {
            *taken = true;
        }
        if let Some(kind) = kind {
            self.findings.push(Finding { start, end, kind });
        }
    }

    /// Case-insensitive ASCII match of `word` at `index`.
    fn matches_at(&self, index: usize, word: &str) -> bool {
        let mut i = index;
        for expected in word.chars() {
            match self.at(i) {
                Some(c) if c.eq_ignore_ascii_case(&expected) => i += 1,
                _ => return false,
            }
        }
        true
    }

    fn text(&self, start: usize, end: usize) -> String {
        self.chars[start..end].iter().collect()
    }

    /// The end of a link after trimming trailing punctuation (and a closing bracket
    /// that has no opening one inside the link).
    fn trim_link_end(&self, start: usize, mut end: usize) -> usize {
        let count = |wanted: char| {
            self.chars[start..end]
                .iter()
                .filter(|&&c| c == wanted)
                .count()
        };
        let (open_round, mut close_round) = (count('('), count(')'));
        let (open_square, mut close_square) = (count('['), count(']'));
        while end > start {
            let trim = match self.chars[end - 1] {
                '.' | ',' | ';' | ':' | '!' | '?' | '\'' | '"' => true,
                ')' if close_round > open_round => {
                    close_round -= 1;
                    true
                }
                ']' if close_square > open_square => {
                    close_square -= 1;
                    true
                }
                _ => false,
            };
            if !trim {
                break;
            }
            end -= 1;
        }
        end
    }

    /// `http://…` and `https://…` up to whitespace.
    fn urls(&mut self) {
        let mut i = 0;
        while i < self.len() {
            let scheme = ["https://", "http://"]
                .into_iter()
                .find(|scheme| self.matches_at(i, scheme));
            let at_word_start = !self
                .before(i)
                .is_some_and(|c| is_label_char(c) || matches!(c, '.' | '/' | '@' | '_'));
            let Some(scheme) = scheme.filter(|_| at_word_start && !self.taken[i]) else {
                i += 1;
                continue;
            };
            let rest = i + scheme.len();
            let mut end = rest;
            while end < self.len()
                && !self.chars[end].is_whitespace()
                && !matches!(self.chars[end], '<' | '>' | '"')
            {
                end += 1;
            }
            let end = self.trim_link_end(i, end);
            let authority: String = self.chars[rest..end]
                .iter()
                .take_while(|c| !matches!(c, '/' | '?' | '#'))
                .collect();
            let host = authority.rsplit('@').next().unwrap_or("");
            // A host name, or an IPv6 literal in brackets.
            let plausible = host.starts_with(char::is_alphanumeric)
                || (host.starts_with('[') && host.contains(':'));
            let host = host.split(':').next().unwrap_or("").to_lowercase();
            if !plausible {
                i = rest;
                continue;
            }
            let kind = (!self.rules.allows(&host)).then_some(Kind::Link);
            self.claim(i, end, kind);
            i = end;
        }
    }

    /// Domain labels starting at `start` separated by single dots: the label ranges.
    fn labels(&self, start: usize) -> Vec<(usize, usize)> {
        let mut labels = Vec::new();
        let mut i = start;
        loop {
            let label_start = i;
            while i < self.len() && is_label_char(self.chars[i]) && i - label_start < 63 {
                i += 1;
            }
            if i == label_start || self.chars[label_start] == '-' || self.chars[i - 1] == '-' {
                // Hyphens may not start or end a label: stop before this one.
                break;
            }
            labels.push((label_start, i));
            if self.at(i) == Some('.') && self.at(i + 1).is_some_and(is_label_char) {
                i += 1;
            } else {
                break;
            }
        }
        labels
    }

    fn host(&self, labels: &[(usize, usize)]) -> String {
        labels
            .iter()
            .map(|&(start, end)| self.text(start, end).to_lowercase())
            .collect::<Vec<_>>()
            .join(".")
    }

    /// `user@host.tld`.
    fn emails(&mut self) {
        for at in 0..self.len() {
            if self.chars[at] != '@' || self.taken[at] {
                continue;
            }
            let mut start = at;
            while start > 0 && is_local_char(self.chars[start - 1]) {
                start -= 1;
            }
            while start < at && self.chars[start] == '.' {
                start += 1;
            }
            if start == at {
                continue;
            }
            let labels = self.labels(at + 1);
            let Some(&(tld_start, tld_end)) = labels.last() else {
                continue;
            };
            let tld = self.text(tld_start, tld_end);
            if labels.len() < 2 || !is_email_tld(&tld) {
                continue;
            }
            let end = tld_end;
            if !self.is_free(start, end) {
                continue;
            }
            let host = self.host(&labels);
            let kind = (!self.rules.allows(&host)).then(|| Kind::Email {
                user: self.chars[start],
                domain: self.chars[at + 1],
                tld: tld.to_lowercase(),
            });
            self.claim(start, end, kind);
        }
    }

    fn skip_spaces(&self, mut i: usize, most: usize) -> usize {
        let start = i;
        while i < self.len() && self.chars[i] == ' ' && i - start < most {
            i += 1;
        }
        i
    }

    /// A spelled-out or bracketed marker (`at`, `[at]`, `(dot)`, …) at `i`: its end and
    /// whether it is a bare word (which needs spaces around it).
    fn marker(&self, i: usize, words: &[&str], symbol: char) -> Option<(usize, bool)> {
        if self.at(i) == Some(symbol) {
            return Some((i + 1, false));
        }
        if let Some(open) = self.at(i).filter(|c| matches!(c, '[' | '(' | '{' | '<')) {
            let close = match open {
                '[' => ']',
                '(' => ')',
                '{' => '}',
                _ => '>',
            };
            let inner = self.skip_spaces(i + 1, 1);
            for word in words.iter().copied().chain(std::iter::once("")) {
                let word_end = if word.is_empty() {
                    // `[@]`, `(.)`
                    if self.at(inner) != Some(symbol) {
                        continue;
                    }
                    inner + 1
                } else if self.matches_at(inner, word) {
                    inner + word.len()
                } else {
                    continue;
                };
                let after = self.skip_spaces(word_end, 1);
                if self.at(after) == Some(close) {
                    return Some((after + 1, false));
                }
            }
            return None;
        }
        let spaced = self.before(i).is_some_and(char::is_whitespace);
        for word in words {
            let end = i + word.len();
            if spaced && self.matches_at(i, word) && self.at(end).is_some_and(char::is_whitespace) {
                return Some((end, true));
            }
        }
        None
    }

    /// `john at example dot com`, `john[at]example[dot]com`, `john @ example . com`.
    fn obfuscated_emails(&mut self) {
        let mut i = 0;
        while i < self.len() {
            if self.taken[i] {
                i += 1;
                continue;
            }
            let Some((at_end, _)) = self.marker(i, &["at"], '@') else {
                i += 1;
                continue;
            };
            // The user name: a word before the marker, after at most one space.
            let mut user_end = i;
            if user_end > 0 && self.chars[user_end - 1] == ' ' {
                user_end -= 1;
            }
            let mut user_start = user_end;
            while user_start > 0 && is_local_char(self.chars[user_start - 1]) {
                user_start -= 1;
            }
            while user_start < user_end && self.chars[user_start] == '.' {
                user_start += 1;
            }
            // A user name has a letter ("123-4567 @ example.de" is a number and a host) and
            // starts a word (not "e***.com @ …", the rest of a masked email).
            let starts_word = self.before(user_start).is_none_or(|c| {
                c.is_whitespace() || matches!(c, '(' | '[' | '{' | '<' | '"' | '\'')
            });
            if !starts_word
                || !self.chars[user_start..user_end]
                    .iter()
                    .any(|c| c.is_alphabetic())
            {
                i += 1;
                continue;
            }
            match self.obfuscated_domain(at_end) {
                Some((end, first, tld, host)) if self.is_free(user_start, end) => {
                    let kind = (!self.rules.allows(&host)).then(|| Kind::Email {
                        user: self.chars[user_start],
                        domain: first,
                        tld: tld.to_lowercase(),
                    });
                    self.claim(user_start, end, kind);
                    i = end;
                }
                _ => i += 1,
            }
        }
    }

    /// A domain written with dot markers from `start` (after the at marker): its end,
    /// first character, top-level domain and host. Needs two labels and a known
    /// top-level domain, lower case unless spelled out (`DOT COM`).
    fn obfuscated_domain(&self, start: usize) -> Option<(usize, char, String, String)> {
        let mut i = self.skip_spaces(start, 1);
        let mut labels: Vec<(usize, usize)> = Vec::new();
        let mut spelled = false;
        loop {
            let label_start = i;
            while i < self.len() && is_label_char(self.chars[i]) {
                i += 1;
            }
            if i == label_start {
                break;
            }
            labels.push((label_start, i));
            // A dot marker: `.`, ` . `, `[dot]`, ` dot `, ` punkt `.
            let before_marker = self.skip_spaces(i, 1);
            let spaced_before = before_marker > i;
            let Some((marker_end, word)) = self.marker(before_marker, &["dot", "punkt"], '.')
            else {
                break;
            };
            let is_plain_dot = self.at(before_marker) == Some('.');
            let after_marker = self.skip_spaces(marker_end, 1);
            let spaced_after = after_marker > marker_end;
            if is_plain_dot && spaced_before != spaced_after {
                // "home. We" is the end of a sentence, not "home.we".
                break;
            }
            if !is_plain_dot || word {
                spelled = true;
            }
            if !self.at(after_marker).is_some_and(is_label_char) {
                break;
            }
            i = after_marker;
        }
        let &(tld_start, tld_end) = labels.last()?;
        let tld = self.text(tld_start, tld_end);
        let lower_as_written = tld.chars().all(|c| c.is_ascii_lowercase());
        let end_is_word_end = !self.at(tld_end).is_some_and(char::is_alphanumeric);
        if labels.len() < 2
            || !is_known_tld(&tld)
            || !(lower_as_written || spelled)
            || !end_is_word_end
        {
            return None;
        }
        let host = self.host(&labels);
        Some((tld_end, self.chars[labels[0].0], tld, host))
    }

    /// `www.example.com`, `shop.example.de/x`, `bit.ly/abc`: host names with a known
    /// top-level domain.
    fn domains(&mut self) {
        let mut i = 0;
        while i < self.len() {
            let boundary = !self
                .before(i)
                .is_some_and(|c| is_label_char(c) || matches!(c, '.' | '@' | '_' | '/' | '\\'));
            if self.taken[i] || !boundary || !self.chars[i].is_alphanumeric() {
                i += 1;
                continue;
            }
            let labels = self.labels(i);
            let Some(&(tld_start, tld_end)) = labels.last() else {
                i += 1;
                continue;
            };
            let tld = self.text(tld_start, tld_end);
            let www = labels.len() >= 3 && self.matches_at(i, "www.");
            let mut end = tld_end;
            if self.at(end) == Some(':') && self.at(end + 1).is_some_and(|c| c.is_ascii_digit()) {
                end += 1;
                while self.at(end).is_some_and(|c| c.is_ascii_digit()) {
                    end += 1;
                }
            }
            let has_path = self.at(end) == Some('/');
            if has_path {
                while end < self.len() && !self.chars[end].is_whitespace() {
                    end += 1;
                }
                end = self.trim_link_end(i, self.clip(i, end));
            }
            let followed_by_word = !has_path
                && self
                    .at(end)
                    .is_some_and(|c| c.is_alphanumeric() || c == '@');
            let lower = tld.to_ascii_lowercase();
            let is_link = if labels.len() < 2 || followed_by_word || !is_known_tld(&tld) {
                false
            } else if www {
                true
            } else if tld != lower {
                // "end.Next" is a missing space, not a host.
                false
            } else if GENERIC_TLDS.contains(&lower.as_str()) {
                true
            } else {
                let first_label = labels[0].1 - labels[0].0;
                let bare = !has_path && labels.len() == 2;
                !(bare && (first_label < 3 || FILE_LIKE_TLDS.contains(&lower.as_str())))
            };
            if !is_link || !self.is_free(i, end) {
                i = tld_end.max(i + 1);
                continue;
            }
            let host = self.host(&labels);
            let kind = (!self.rules.allows(&host)).then_some(Kind::Link);
            self.claim(i, end, kind);
            i = end;
        }
    }

    /// `192.168.0.1`, optionally with a port and a path.
    fn ipv4(&mut self) {
        let mut i = 0;
        while i < self.len() {
            let boundary = !self
                .before(i)
                .is_some_and(|c| c.is_alphanumeric() || c == '.');
            if self.taken[i] || !boundary || !self.chars[i].is_ascii_digit() {
                i += 1;
                continue;
            }
            let mut end = i;
            let mut octets = 0;
            loop {
                let start = end;
                while end < self.len() && self.chars[end].is_ascii_digit() && end - start < 4 {
                    end += 1;
                }
                let valid = (1..=3).contains(&(end - start))
                    && self.text(start, end).parse::<u16>().is_ok_and(|v| v <= 255);
                if !valid {
                    octets = 0;
                    break;
                }
                octets += 1;
                if octets == 4 {
                    break;
                }
                if self.at(end) == Some('.') && self.at(end + 1).is_some_and(|c| c.is_ascii_digit())
                {
                    end += 1;
                } else {
                    octets = 0;
                    break;
                }
            }
            let continues = self.at(end).is_some_and(|c| c.is_alphanumeric())
                || (self.at(end) == Some('.')
                    && self.at(end + 1).is_some_and(|c| c.is_ascii_digit()));
            if octets != 4 || continues {
                i += 1;
                while i < self.len() && self.chars[i].is_ascii_digit() {
                    i += 1;
                }
                continue;
            }
            let host = self.text(i, end);
            if self.at(end) == Some(':') && self.at(end + 1).is_some_and(|c| c.is_ascii_digit()) {
                end += 1;
                while self.at(end).is_some_and(|c| c.is_ascii_digit()) {
                    end += 1;
                }
            }
            if self.at(end) == Some('/') {
                while end < self.len() && !self.chars[end].is_whitespace() {
                    end += 1;
                }
                end = self.trim_link_end(i, self.clip(i, end));
            }
            if self.is_free(i, end) {
                let kind = (!self.rules.allows(&host)).then_some(Kind::Link);
                self.claim(i, end, kind);
            }
            i = end;
        }
    }

    /// Phone numbers: digit groups with single separators (space, `-`, `.`, `/`,
    /// brackets around an area code), 7–15 digits, minus what looks like something else.
    fn phones(&mut self) {
        let mut i = 0;
        while i < self.len() {
            match self.phone_at(i) {
                Some((start, end, phone)) => {
                    if phone && self.is_free(start, end) {
                        self.claim(start, end, Some(Kind::Phone));
                    }
                    i = end.max(i + 1);
                }
                None => i += 1,
            }
        }
    }

    /// A number starting at `i`: its extent and whether it is a phone number.
    fn phone_at(&self, i: usize) -> Option<(usize, usize, bool)> {
        let c = self.at(i)?;
        let starts = c.is_ascii_digit()
            || (matches!(c, '+' | '(') && self.at(i + 1).is_some_and(|d| d.is_ascii_digit()));
        let boundary = !self
            .before(i)
            .is_some_and(|b| b.is_alphanumeric() || matches!(b, '.' | ',' | '-' | '/' | '+' | '_'));
        if !starts || !boundary || self.taken[i] {
            return None;
        }
        let plus = c == '+';
        let mut open_brackets = usize::from(c == '(');
        let mut close_brackets = 0;
        let mut j = if matches!(c, '+' | '(') { i + 1 } else { i };
        let mut groups: Vec<String> = Vec::new();
        let mut separators: Vec<String> = Vec::new();
        loop {
            // Earlier findings end a number: "123-4567 192.168.0.1" is a phone number
            // and an address, not one long number.
            let group_start = j;
            while self.at(j).is_some_and(|d| d.is_ascii_digit()) && !self.taken[j] {
                j += 1;
            }
            if j == group_start {
                break;
            }
            groups.push(self.text(group_start, j));
            // A separator: at most three characters of " -./()" with at most one of each
            // bracket and one other character per bracket side, then a digit.
            let mut k = j;
            let (mut others, mut opens, mut closes) = (0, 0, 0);
            while let Some(s) = self.at(k).filter(|_| !self.taken[k]) {
                match s {
                    '(' if opens == 0 => opens += 1,
                    ')' if closes == 0 => closes += 1,
                    ' ' | '-' | '.' | '/' if others < 2 => others += 1,
                    _ => break,
                }
                k += 1;
            }
            let separator = self.text(j, k);
            let plausible = !separator.is_empty()
                && k - j <= 3
                && others <= 1 + usize::from(opens + closes > 0)
                && self.at(k).is_some_and(|d| d.is_ascii_digit())
                && !self.taken[k];
            if !plausible {
                break;
            }
            open_brackets += opens;
            close_brackets += closes;
            separators.push(separator);
            j = k;
        }
        let end = j;
        let digits: usize = groups.iter().map(String::len).sum();
        // A leading "(" without its ")" is not part of the number.
        let start = if c == '(' && close_brackets == 0 {
            i + 1
        } else {
            i
        };
        if groups.is_empty() {
            return None;
        }
        let phone = (7..=15).contains(&digits)
            && open_brackets == close_brackets
            && !self
                .at(end)
                .is_some_and(|d| d.is_alphanumeric() || d == '@' || d == '*')
            && self.looks_like_phone(start, end, plus, &groups, &separators);
        Some((start, end, phone))
    }

    fn looks_like_phone(
        &self,
        start: usize,
        end: usize,
        plus: bool,
        groups: &[String],
        separators: &[String],
    ) -> bool {
        let digits: usize = groups.iter().map(String::len).sum();
        let context = self.words_before(start, 3);
        let phone_word = context
            .iter()
            .any(|word| PHONE_WORDS.iter().any(|prefix| word.starts_with(prefix)));
        let reference = self.before(self.skip_back_spaces(start)) == Some('#')
            || context
                .last()
                .is_some_and(|word| REFERENCE_WORDS.contains(&word.as_str()))
            || context
                .iter()
                .rev()
                .take(2)
                .any(|word| REFERENCE_STEMS.iter().any(|stem| word.starts_with(stem)));
        if self.is_price(start, end) {
            return false;
        }
        if plus {
            return digits >= 8 || phone_word;
        }
        if reference && !phone_word {
            return false;
        }
        let same = |sep: &str| separators.iter().all(|s| s == sep);
        let sizes: Vec<usize> = groups.iter().map(String::len).collect();
        if groups.len() == 1 {
            // Unformatted: a national number with its leading 0, or after "call", "tel.".
            return (groups[0].starts_with('0') && (9..=13).contains(&digits))
                || (phone_word && digits >= 7);
        }
        let brackets = separators
            .iter()
            .any(|s| s.contains('(') || s.contains(')'))
            || self.at(start) == Some('(');
        if !brackets {
            // Dates, also followed by a time: 2024-01-15, 15.01.2024 10.30, 01/15/24.
            let date_separators = separators.len() >= 2
                && separators[0] == separators[1]
                && matches!(separators[0].as_str(), "-" | "." | "/");
            if groups.len() >= 3
                && date_separators
                && matches!(
                    sizes[..3],
                    [4, 1 | 2, 1 | 2] | [1 | 2, 1 | 2, 4] | [1 | 2, 1 | 2, 2]
                )
            {
                return false;
            }
            // Times: 10.30-11.45.
            if groups.len() == 4
                && sizes.iter().all(|&s| s <= 2)
                && separators.len() == 3
                && separators[1].trim() == "-"
                && separators[0] == separators[2]
                && matches!(separators[0].as_str(), "." | ":")
            {
                return false;
            }
            // Year ranges: 1990-2005.
            let is_year = |g: &String| {
                g.len() == 4 && g.parse::<u16>().is_ok_and(|y| (1900..=2099).contains(&y))
            };
            if groups.len() == 2 && groups.iter().all(is_year) {
                return false;
            }
            // Decimals: 3.14159265.
            if groups.len() == 2 && same(".") {
                return false;
            }
            // Thousands: 1.299.000, 12 345 678.
            let thousands =
                sizes[0] <= 3 && !groups[0].starts_with('0') && sizes[1..].iter().all(|&s| s == 3);
            if thousands && (same(".") || same(",") || (same(" ") && sizes[0] <= 2)) {
                return false;
            }
            // Short groups only ("sizes 10 12 14 16"): a phone number starts with 0.
            if sizes.iter().all(|&s| s <= 2) && !groups[0].starts_with('0') && !phone_word {
                return false;
            }
        }
        true
    }

    fn skip_back_spaces(&self, mut index: usize) -> usize {
        while index > 0 && self.chars[index - 1] == ' ' {
            index -= 1;
        }
        index
    }

    /// Up to `count` words before `index`, lower case, punctuation trimmed, nearest last.
    /// Findings and earlier replacements are not words, so that a second masking (of
    /// edited text) judges a number by the same words as the first.
    fn words_before(&self, index: usize, count: usize) -> Vec<String> {
        let window_start = index.saturating_sub(WORD_WINDOW);
        let window: String = (window_start..index)
            .map(|i| if self.taken[i] { ' ' } else { self.chars[i] })
            .collect::<String>()
            .replace("[link removed]", " ");
        // The first word is cut in half when the window starts inside it.
        let cut = window_start > 0 && !self.chars[window_start - 1].is_whitespace();
        let mut words: Vec<String> = window
            .split(|c: char| c.is_whitespace() || c == ':' || c == '#')
            .skip(usize::from(cut))
            .filter(|word| !word.contains('*'))
            .map(|word| {
                word.trim_matches(|c: char| !c.is_alphanumeric())
                    .to_lowercase()
            })
            .filter(|word| !word.is_empty())
            .collect();
        let skip = words.len().saturating_sub(count);
        words.split_off(skip)
    }

    /// Whether a currency symbol or code stands right before or after the number.
    fn is_price(&self, start: usize, end: usize) -> bool {
        let before = self.skip_back_spaces(start);
        if self
            .before(before)
            .is_some_and(|c| CURRENCY_SYMBOLS.contains(&c))
        {
            return true;
        }
        if self
            .words_before(start, 1)
            .first()
            .is_some_and(|word| CURRENCY_WORDS.contains(&word.as_str()))
        {
            return true;
        }
        let after = self.skip_spaces(end, 1);
        if self
            .at(after)
            .is_some_and(|c| CURRENCY_SYMBOLS.contains(&c))
        {
            return true;
        }
        let word: String = self.chars[after..]
            .iter()
            .take_while(|c| c.is_alphabetic())
            .collect::<String>()
            .to_lowercase();
        CURRENCY_WORDS.contains(&word.as_str())
    }

    /// The text with every finding replaced.
    fn render(&self, replacement: impl Fn(&Finding) -> String) -> String {
        let mut findings: Vec<&Finding> = self.findings.iter().collect();
        findings.sort_by_key(|finding| finding.start);
        let mut out = String::with_capacity(self.chars.len());
        let mut next = 0;
        for finding in findings {
            out.extend(&self.chars[next..finding.start]);
            out.push_str(&replacement(finding));
            next = finding.end;
        }
        out.extend(&self.chars[next..]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn untrusted(text: &str) -> String {
        mask(text, &PiiRules::default(), false, 4000).text
    }

    #[test]
    fn policy_decides_where_masking_applies() {
        let email = "mail john@example.com";
        for (policy, trusted, masked) in [
            (PiiPolicy::Off, false, false),
            (PiiPolicy::Off, true, false),
            (PiiPolicy::Untrusted, false, true),
            (PiiPolicy::Untrusted, true, false),
            (PiiPolicy::Always, false, true),
            (PiiPolicy::Always, true, true),
        ] {
            let rules = PiiRules::new(policy, []);
            assert_eq!(
                mask(email, &rules, trusted, 4000).masked,
                masked,
                "{policy:?} trusted={trusted}"
            );
        }
    }

    #[test]
    fn the_allowlist_keeps_its_domains_and_subdomains() {
        let rules = PiiRules::new(PiiPolicy::Untrusted, [" .Shop.Example ".to_owned()]);
        let text = "see https://help.shop.example/faq or mail help@shop.example, not evil.com";
        assert_eq!(
            mask(text, &rules, false, 4000).text,
            "see https://help.shop.example/faq or mail help@shop.example, not [link removed]"
        );
        assert!(!rules.allows("notshop.example"));
    }

    #[test]
    fn masking_never_passes_the_limit() {
        let text = "a.io b.io c.io";
        let masked = mask(text, &PiiRules::default(), false, 14);
        assert!(masked.masked);
        assert_eq!(masked.text, "*** *** ***");
    }

    #[test]
    fn masked_text_is_not_masked_again() {
        let once = untrusted("john@example.com, +44 20 7946 0958, www.example.com");
        assert_eq!(once, "j***@e***.com, ***-****, [link removed]");
        assert_eq!(untrusted(&once), once);
    }

    #[test]
    fn content_without_text_is_left_alone() {
        assert_eq!(
            mask_content(None, &PiiRules::default(), false, 10),
            (None, false)
        );
    }
}
