//! Validation and normalisation of user-supplied text: message content, titles, URLs,
//! context references, idempotency keys. Pure functions, unit-tested here.

use unicode_normalization::UnicodeNormalization;

/// A failed check: stable code and explanation.
pub type Rejection = (&'static str, String);

/// Whether a character is a control character other than `\n` and `\t`.
fn is_forbidden_control(c: char) -> bool {
    c.is_control() && c != '\n' && c != '\t'
}

/// Message content: NFC-normalised, 1..=`max_chars` characters after normalisation, not
/// only whitespace, no control characters except `\n` and `\t`.
pub fn message_content(raw: &str, max_chars: usize) -> Result<String, Rejection> {
    if let Some(c) = raw.chars().find(|&c| is_forbidden_control(c)) {
        return Err((
            "control_character",
            format!("control character U+{:04X} is not allowed", c as u32),
        ));
    }
    let normalised: String = raw.nfc().collect();
    if normalised.trim().is_empty() {
        return Err((
            "empty",
            "content must contain at least one non-whitespace character".into(),
        ));
    }
    let length = normalised.chars().count();
    if length > max_chars {
        return Err((
            "too_long",
            format!("content is {length} characters; the limit is {max_chars}"),
        ));
    }
    Ok(normalised)
}

/// A single-line text field (title, display name): NFC, trimmed, 1..=`max_chars`, no
/// control characters at all.
pub fn line(raw: &str, max_chars: usize) -> Result<String, Rejection> {
    if raw.chars().any(char::is_control) {
        return Err((
            "control_character",
            "control characters are not allowed".into(),
        ));
    }
    let normalised: String = raw.nfc().collect::<String>().trim().to_owned();
    if normalised.is_empty() {
        return Err(("empty", "must not be empty".into()));
    }
    if normalised.chars().count() > max_chars {
        return Err(("too_long", format!("at most {max_chars} characters")));
    }
    Ok(normalised)
}

/// A multi-line text field (description): like [`message_content`] but may be empty.
pub fn text(raw: &str, max_chars: usize) -> Result<String, Rejection> {
    if raw.chars().any(is_forbidden_control) {
        return Err((
            "control_character",
            "control characters other than newline and tab are not allowed".into(),
        ));
    }
    let normalised: String = raw.nfc().collect();
    if normalised.chars().count() > max_chars {
        return Err(("too_long", format!("at most {max_chars} characters")));
    }
    Ok(normalised)
}

/// An http(s) URL of at most 2048 characters without whitespace or control characters.
pub fn url(raw: &str) -> Result<String, Rejection> {
    let lower = raw.to_ascii_lowercase();
    let has_scheme = lower.starts_with("https://") || lower.starts_with("http://");
    if !has_scheme || raw.len() > 2048 || raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err((
            "invalid_url",
            "must be an http or https URL of at most 2048 characters".into(),
        ));
    }
    Ok(raw.to_owned())
}

/// A context kind: 1–32 characters of `[a-z0-9_.-]`.
pub fn context_kind(raw: &str) -> Result<String, Rejection> {
    let ok = !raw.is_empty()
        && raw.len() <= 32
        && raw
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(raw.to_owned())
    } else {
        Err((
            "invalid_context_kind",
            "1-32 characters of a-z 0-9 _ . -".into(),
        ))
    }
}

/// A context id: 1–128 characters, no control characters.
pub fn context_id(raw: &str) -> Result<String, Rejection> {
    if raw.is_empty() || raw.chars().count() > 128 || raw.chars().any(char::is_control) {
        return Err((
            "invalid_context_id",
            "1-128 characters without control characters".into(),
        ));
    }
    Ok(raw.to_owned())
}

/// An idempotency key: 1–64 printable ASCII characters without spaces.
pub fn client_message_id(raw: &str) -> Result<String, Rejection> {
    if raw.is_empty() || raw.len() > 64 || !raw.bytes().all(|b| b.is_ascii_graphic()) {
        return Err((
            "invalid_client_message_id",
            "1-64 printable ASCII characters without spaces".into(),
        ));
    }
    Ok(raw.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_is_normalised_to_nfc() {
        let decomposed = "Cafe\u{301}";
        assert_eq!(message_content(decomposed, 10).as_deref(), Ok("Café"));
    }

    #[test]
    fn content_allows_newline_and_tab_but_no_other_control() {
        assert!(message_content("a\nb\tc", 10).is_ok());
        for bad in ["a\0b", "a\rb", "\u{7}", "x\u{1b}[31m", "\u{85}"] {
            assert_eq!(
                message_content(bad, 10).map_err(|e| e.0),
                Err("control_character"),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn content_length_counts_characters_after_normalisation() {
        assert!(message_content(&"é".repeat(4000), 4000).is_ok());
        assert_eq!(
            message_content(&"a".repeat(4001), 4000).map_err(|e| e.0),
            Err("too_long")
        );
        assert!(message_content(&"🎉".repeat(10), 10).is_ok());
    }

    #[test]
    fn whitespace_only_content_is_empty() {
        for empty in ["", " ", "\n\t "] {
            assert_eq!(message_content(empty, 10).map_err(|e| e.0), Err("empty"));
        }
    }

    #[test]
    fn titles_are_single_line_and_trimmed() {
        assert_eq!(line("  Team  ", 200).as_deref(), Ok("Team"));
        assert_eq!(line("a\nb", 200).map_err(|e| e.0), Err("control_character"));
        assert_eq!(line("   ", 200).map_err(|e| e.0), Err("empty"));
    }

    #[test]
    fn urls_need_http_scheme() {
        assert!(url("https://cdn.example.com/a.png").is_ok());
        for bad in ["javascript:alert(1)", "ftp://x", "https://a b", "//x"] {
            assert!(url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn context_and_idempotency_keys() {
        assert!(context_kind("order").is_ok());
        assert!(context_kind("Order").is_err());
        assert!(context_id("A-123/7").is_ok());
        assert!(context_id("").is_err());
        assert!(client_message_id("0190f1c2-7c1a-7b3e-9d1e-4a5b6c7d8e9f").is_ok());
        assert!(client_message_id("has space").is_err());
    }
}
