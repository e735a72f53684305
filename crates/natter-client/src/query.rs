//! Building URLs: percent-encoded path segments and query strings.
//!
//! A dozen lines of encoding instead of a dependency: everything but the RFC 3986
//! unreserved characters is escaped, which is always correct, if not always minimal.
//! Note that the URL parser still resolves a segment of `.` or `..` (even escaped as
//! `%2E`), so such context ids cannot be addressed by path.

use std::fmt::{self, Write};

/// Percent-encodes `raw` for use as one path segment or one query name or value.
pub(crate) fn encode(raw: &str) -> String {
    let mut encoded = String::with_capacity(raw.len());
    for byte in raw.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(encoded, "%{byte:02X}");
        }
    }
    encoded
}

/// A query string under construction; [`QueryString::finish`] yields `""` or `?a=1&b=2`.
#[derive(Debug, Default)]
pub(crate) struct QueryString {
    encoded: String,
}

impl QueryString {
    /// Appends `name=value`, both percent-encoded.
    pub(crate) fn push(&mut self, name: &str, value: impl fmt::Display) -> &mut Self {
        self.encoded
            .push(if self.encoded.is_empty() { '?' } else { '&' });
        self.encoded.push_str(&encode(name));
        self.encoded.push('=');
        self.encoded.push_str(&encode(&value.to_string()));
        self
    }

    /// Appends `name=value` when `value` is present.
    pub(crate) fn push_opt(&mut self, name: &str, value: Option<impl fmt::Display>) -> &mut Self {
        if let Some(value) = value {
            self.push(name, value);
        }
        self
    }

    /// The query string with its leading `?`, or `""` when nothing was pushed.
    pub(crate) fn finish(&mut self) -> String {
        std::mem::take(&mut self.encoded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_keeps_unreserved_characters() {
        assert_eq!(encode("AZaz09-._~"), "AZaz09-._~");
    }

    #[test]
    fn encode_escapes_reserved_space_and_non_ascii() {
        assert_eq!(encode("a/b c?d#e&f=g"), "a%2Fb%20c%3Fd%23e%26f%3Dg");
        assert_eq!(encode("user@host:1"), "user%40host%3A1");
        assert_eq!(encode("%"), "%25");
        assert_eq!(encode("ä€"), "%C3%A4%E2%82%AC");
        assert_eq!(encode(""), "");
    }

    #[test]
    fn query_string_is_empty_without_parameters() {
        assert_eq!(QueryString::default().finish(), "");
        assert_eq!(
            QueryString::default()
                .push_opt("limit", None::<u32>)
                .finish(),
            ""
        );
    }

    #[test]
    fn query_string_joins_present_parameters_in_order() {
        let query = QueryString::default()
            .push("after_seq", 5)
            .push_opt("limit", Some(10))
            .push_opt("cursor", None::<&str>)
            .push("since", "a b&c")
            .finish();
        assert_eq!(query, "?after_seq=5&limit=10&since=a%20b%26c");
    }
}
