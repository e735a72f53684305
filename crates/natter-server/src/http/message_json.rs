//! Messages written as JSON by hand: the bytes `serde_json` would write, for less work.
//!
//! A history page is 50 messages of 20 fields each, and through `serde_json` about a
//! tenth of the server's CPU per page went to `format_escaped_str`, which walks every
//! string byte by byte — the 1,000 field names of a page included — plus a `String` per
//! timestamp (BENCHMARKS.md, "History pages written by hand"). Here the field names are
//! literals with their quotes and commas, a string is checked for characters to escape in
//! one pass and copied whole when it has none, ids and timestamps are formatted straight
//! into the body. The fields that are usually empty (reactions, thread summary,
//! attachments, delivery) still go through `serde_json` when present.
//!
//! The output is byte for byte what `serde_json::to_vec` gives for the same value; the
//! tests compare both for every field's shapes, and `Message` is destructured without
//! `..`, so a new field does not compile until it is written here.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use natter_proto::{Message, Page, Timestamp};
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use super::extract::Json;

/// A value that can write itself as JSON without `serde_json`'s per-byte walk.
pub(crate) trait WriteJson: Serialize {
    /// Appends the JSON of `self` to `out`; fails only where `serde_json` fails too: a
    /// timestamp RFC 3339 cannot express (a year outside 0–9999).
    fn write_json(&self, out: &mut Vec<u8>) -> Result<(), Unwritable>;

    /// About how many bytes the JSON takes, to size the body once.
    fn json_size_hint(&self) -> usize;
}

/// The value has something JSON cannot carry; `serde_json` says what.
#[derive(Debug)]
pub(crate) struct Unwritable;

impl From<time::error::Format> for Unwritable {
    fn from(_: time::error::Format) -> Self {
        Self
    }
}

impl From<serde_json::Error> for Unwritable {
    fn from(_: serde_json::Error) -> Self {
        Self
    }
}

/// A response body written by [`WriteJson`]; the same body and headers as
/// [`Json`] gives.
pub(crate) struct Written<T>(pub T);

impl<T: WriteJson> IntoResponse for Written<T> {
    fn into_response(self) -> Response {
        let mut body = Vec::with_capacity(self.0.json_size_hint());
        match self.0.write_json(&mut body) {
            Ok(()) => (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                body,
            )
                .into_response(),
            // `serde_json` fails on the same value, and its error becomes the problem body.
            Err(_) => Json(self.0).into_response(),
        }
    }
}

/// Bytes of a message's JSON besides its content: names, ids, times.
const MESSAGE_OVERHEAD: usize = 420;

impl WriteJson for Message {
    fn write_json(&self, out: &mut Vec<u8>) -> Result<(), Unwritable> {
        let Message {
            id,
            conversation_id,
            seq,
            sender_id,
            kind,
            content,
            client_message_id,
            reply_to_id,
            mentions,
            created_at,
            edited_at,
            edit_count,
            deleted_at,
            pii_masked,
            delivery,
            read_by_all,
            reactions,
            thread_root_id,
            thread,
            attachments,
        } = self;
        out.extend_from_slice(b"{\"id\":");
        uuid(out, id.0);
        out.extend_from_slice(b",\"conversation_id\":");
        uuid(out, conversation_id.0);
        out.extend_from_slice(b",\"seq\":");
        integer(out, seq.0);
        out.extend_from_slice(b",\"sender_id\":");
        match sender_id {
            Some(sender) => string(out, sender.as_str()),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"type\":");
        string(out, kind.as_str());
        out.extend_from_slice(b",\"content\":");
        match content {
            Some(content) => string(out, content),
            None => out.extend_from_slice(b"null"),
        }
        if let Some(client_message_id) = client_message_id {
            out.extend_from_slice(b",\"client_message_id\":");
            string(out, client_message_id);
        }
        out.extend_from_slice(b",\"reply_to_id\":");
        match reply_to_id {
            Some(reply_to) => uuid(out, reply_to.0),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"mentions\":[");
        for (i, user) in mentions.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            string(out, user.as_str());
        }
        out.extend_from_slice(b"],\"created_at\":");
        timestamp(out, created_at)?;
        out.extend_from_slice(b",\"edited_at\":");
        optional_timestamp(out, edited_at.as_ref())?;
        out.extend_from_slice(b",\"edit_count\":");
        integer(out, u64::from(*edit_count));
        out.extend_from_slice(b",\"deleted_at\":");
        optional_timestamp(out, deleted_at.as_ref())?;
        out.extend_from_slice(b",\"pii_masked\":");
        boolean(out, *pii_masked);
        if let Some(delivery) = delivery {
            out.extend_from_slice(b",\"delivery\":");
            string(out, delivery.as_str());
        }
        out.extend_from_slice(b",\"read_by_all\":");
        boolean(out, *read_by_all);
        out.extend_from_slice(b",\"reactions\":");
        list(out, reactions)?;
        out.extend_from_slice(b",\"thread_root_id\":");
        match thread_root_id {
            Some(root) => uuid(out, root.0),
            None => out.extend_from_slice(b"null"),
        }
        if let Some(thread) = thread {
            out.extend_from_slice(b",\"thread\":");
            serde_json::to_writer(&mut *out, thread)?;
        }
        out.extend_from_slice(b",\"attachments\":");
        list(out, attachments)?;
        out.push(b'}');
        Ok(())
    }

    fn json_size_hint(&self) -> usize {
        MESSAGE_OVERHEAD + self.content.as_ref().map_or(0, String::len)
    }
}

impl WriteJson for Page<Message> {
    fn write_json(&self, out: &mut Vec<u8>) -> Result<(), Unwritable> {
        let Page { items, next } = self;
        out.extend_from_slice(b"{\"items\":[");
        for (i, message) in items.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            message.write_json(out)?;
        }
        out.push(b']');
        if let Some(next) = next {
            out.extend_from_slice(b",\"next\":");
            string(out, next);
        }
        out.push(b'}');
        Ok(())
    }

    fn json_size_hint(&self) -> usize {
        let items: usize = self.items.iter().map(WriteJson::json_size_hint).sum();
        32 + items
    }
}

/// A list that is usually empty: `[]`, or through `serde_json`.
fn list<T: Serialize>(out: &mut Vec<u8>, items: &[T]) -> Result<(), Unwritable> {
    if items.is_empty() {
        out.extend_from_slice(b"[]");
    } else {
        serde_json::to_writer(&mut *out, items)?;
    }
    Ok(())
}

/// A JSON string: copied whole when nothing in it needs escaping, which is one pass
/// the compiler can vectorise; otherwise escaped as `serde_json` does.
fn string(out: &mut Vec<u8>, value: &str) {
    let bytes = value.as_bytes();
    let needs_escape = bytes.iter().fold(false, |any, &b| {
        any | (b < 0x20) | (b == b'"') | (b == b'\\')
    });
    out.push(b'"');
    if needs_escape {
        escaped(out, bytes);
    } else {
        out.extend_from_slice(bytes);
    }
    out.push(b'"');
}

/// `serde_json`'s escapes: the short forms where JSON has them, `\u00XX` (lower-case
/// hex) for the other control characters; everything else as it is.
fn escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => &[],
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if short.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        } else {
            out.extend_from_slice(short);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// An id as its quoted, hyphenated, lower-case form.
fn uuid(out: &mut Vec<u8>, id: Uuid) {
    let mut buffer = Uuid::encode_buffer();
    out.push(b'"');
    out.extend_from_slice(id.hyphenated().encode_lower(&mut buffer).as_bytes());
    out.push(b'"');
}

fn integer(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

fn boolean(out: &mut Vec<u8>, value: bool) {
    out.extend_from_slice(if value { b"true" } else { b"false" });
}

/// RFC 3339, as `time::serde::rfc3339` writes it, without the `String` it makes.
fn timestamp(out: &mut Vec<u8>, at: &Timestamp) -> Result<(), Unwritable> {
    out.push(b'"');
    at.format_into(out, &Rfc3339)?;
    out.push(b'"');
    Ok(())
}

fn optional_timestamp(out: &mut Vec<u8>, at: Option<&Timestamp>) -> Result<(), Unwritable> {
    match at {
        Some(at) => timestamp(out, at),
        None => {
            out.extend_from_slice(b"null");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use natter_proto::{
        AttachmentId, AttachmentKind, ConversationId, DeliveryState, MessageAttachment, MessageId,
        MessageSeq, MessageType, ReactionSummary, ThreadSummary, UserId,
    };
    use proptest::prelude::*;
    use time::macros::datetime;

    use super::*;

    fn user(id: &str) -> UserId {
        UserId::parse(id).expect("a valid user id")
    }

    fn bare() -> Message {
        Message {
            id: MessageId(Uuid::from_u128(0x0193_5f2a_1b2c_7d3e_8f40_1a2b_3c4d_5e6f)),
            conversation_id: ConversationId(Uuid::from_u128(7)),
            seq: MessageSeq(42),
            sender_id: None,
            kind: MessageType::System,
            content: None,
            client_message_id: None,
            reply_to_id: None,
            mentions: Vec::new(),
            created_at: datetime!(2026-12-06 21:29:19 UTC),
            edited_at: None,
            edit_count: 0,
            deleted_at: None,
            pii_masked: false,
            delivery: None,
            read_by_all: false,
            reactions: Vec::new(),
            thread_root_id: None,
            thread: None,
            attachments: Vec::new(),
        }
    }

    /// Every field set, every optional field present.
    fn full() -> Message {
        Message {
            sender_id: Some(user("alice")),
            kind: MessageType::Text,
            content: Some("héllo \"world\" \\ \n\t\u{1}\u{1f} \u{7f} 👋 </script>".into()),
            client_message_id: Some("c-1\u{8}\u{c}\r".into()),
            reply_to_id: Some(MessageId(Uuid::from_u128(u128::MAX))),
            mentions: vec![user("bob"), user("carol")],
            created_at: datetime!(2026-12-06 21:29:19.123456 UTC),
            edited_at: Some(datetime!(2026-12-06 21:30:00.5 UTC)),
            edit_count: 3,
            deleted_at: Some(datetime!(2027-01-01 00:00:00.000001 UTC)),
            pii_masked: true,
            delivery: Some(DeliveryState::Delivered),
            read_by_all: true,
            reactions: vec![ReactionSummary {
                emoji: "👍".into(),
                count: 2,
                me: true,
                users: vec![user("alice"), user("bob")],
            }],
            thread_root_id: Some(MessageId(Uuid::from_u128(9))),
            thread: Some(ThreadSummary {
                reply_count: 4,
                last_reply_at: Some(datetime!(2026-12-07 01:02:03 UTC)),
                participants: vec![user("bob")],
            }),
            attachments: vec![MessageAttachment {
                id: AttachmentId(Uuid::from_u128(11)),
                kind: AttachmentKind::Image,
                content_type: "image/png".into(),
                filename: "a \"b\".png".into(),
                size: 1234,
                width: Some(64),
                height: None,
                has_thumbnail: true,
            }],
            ..bare()
        }
    }

    fn written<T: WriteJson>(value: &T) -> Vec<u8> {
        let mut out = Vec::new();
        value.write_json(&mut out).expect("writable");
        out
    }

    fn assert_same<T: WriteJson>(value: &T) {
        let expected = serde_json::to_vec(value).expect("serialisable");
        let got = written(value);
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&expected)
        );
    }

    #[test]
    fn a_bare_message_is_written_as_serde_json_writes_it() {
        assert_same(&bare());
    }

    #[test]
    fn a_message_with_every_field_is_written_as_serde_json_writes_it() {
        assert_same(&full());
        for delivery in [DeliveryState::Sent, DeliveryState::Read] {
            assert_same(&Message {
                delivery: Some(delivery),
                ..full()
            });
        }
        for kind in [
            MessageType::Image,
            MessageType::File,
            MessageType::Video,
            MessageType::Audio,
        ] {
            assert_same(&Message { kind, ..bare() });
        }
    }

    #[test]
    fn every_control_character_is_escaped_as_serde_json_escapes_it() {
        let all: String = (0u8..0x80).map(char::from).collect();
        assert_same(&Message {
            content: Some(all),
            ..bare()
        });
    }

    #[test]
    fn pages_with_and_without_a_cursor() {
        assert_same(&Page::<Message> {
            items: Vec::new(),
            next: None,
        });
        assert_same(&Page {
            items: vec![bare(), full(), bare()],
            next: Some("41".into()),
        });
    }

    #[test]
    fn a_year_rfc_3339_cannot_write_fails_as_serde_json_does() {
        let message = Message {
            created_at: datetime!(-0001-01-01 00:00:00 UTC),
            ..bare()
        };
        assert!(serde_json::to_vec(&message).is_err());
        assert!(message.write_json(&mut Vec::new()).is_err());
        let in_a_thread = Message {
            thread: Some(ThreadSummary {
                reply_count: 1,
                last_reply_at: Some(datetime!(-0001-01-01 00:00:00 UTC)),
                participants: Vec::new(),
            }),
            ..bare()
        };
        assert!(serde_json::to_vec(&in_a_thread).is_err());
        assert!(in_a_thread.write_json(&mut Vec::new()).is_err());
        let response = Written(message).into_response();
        assert_eq!(
            response.status(),
            axum::http::StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    proptest! {
        #[test]
        fn any_text_is_written_as_serde_json_writes_it(
            content in any::<String>(),
            client in proptest::option::of(any::<String>()),
            micros in 0i64..253_402_300_799_000_000,
        ) {
            let created_at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
                .expect("in range");
            let message = Message { content: Some(content), client_message_id: client, created_at, ..full() };
            prop_assert_eq!(written(&message), serde_json::to_vec(&message).expect("serialisable"));
        }
    }
}
