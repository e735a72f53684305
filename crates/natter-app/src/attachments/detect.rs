//! What a file is, from its bytes: the allowlist of types, detection by magic numbers
//! (the `infer` crate) and plain-text checks, the comparison with what the client claimed,
//! and file-name sanitising.

use natter_proto::AttachmentKind;

/// Bytes read before deciding the type (enough for every signature `infer` checks,
/// including the ZIP entries of a DOCX).
pub(crate) const SNIFF_BYTES: usize = 8 * 1024;

/// Longest file name kept, in characters.
const MAX_FILENAME_CHARS: usize = 200;

/// A type Natter can accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileType {
    /// Media type served and stored.
    pub mime: &'static str,
    /// Kind (and so the size limit that applies).
    pub kind: AttachmentKind,
    /// File-name extensions that name this type.
    pub extensions: &'static [&'static str],
}

/// Every type Natter knows. Which of them a server accepts is configuration
/// (`attachments.allowed_types`, all of these by default).
pub const KNOWN_TYPES: &[FileType] = &[
    FileType {
        mime: "image/jpeg",
        kind: AttachmentKind::Image,
        extensions: &["jpg", "jpeg", "jpe", "jfif"],
    },
    FileType {
        mime: "image/png",
        kind: AttachmentKind::Image,
        extensions: &["png"],
    },
    FileType {
        mime: "image/gif",
        kind: AttachmentKind::Image,
        extensions: &["gif"],
    },
    FileType {
        mime: "image/webp",
        kind: AttachmentKind::Image,
        extensions: &["webp"],
    },
    FileType {
        mime: "application/pdf",
        kind: AttachmentKind::File,
        extensions: &["pdf"],
    },
    FileType {
        mime: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        kind: AttachmentKind::File,
        extensions: &["docx"],
    },
    FileType {
        mime: "text/plain",
        kind: AttachmentKind::File,
        extensions: &["txt", "text", "log", "md"],
    },
    FileType {
        mime: "text/csv",
        kind: AttachmentKind::File,
        extensions: &["csv"],
    },
    FileType {
        mime: "audio/mpeg",
        kind: AttachmentKind::Audio,
        extensions: &["mp3"],
    },
    FileType {
        mime: "audio/ogg",
        kind: AttachmentKind::Audio,
        extensions: &["ogg", "oga", "opus"],
    },
    FileType {
        mime: "audio/mp4",
        kind: AttachmentKind::Audio,
        extensions: &["m4a"],
    },
    FileType {
        mime: "video/mp4",
        kind: AttachmentKind::Video,
        extensions: &["mp4", "m4v"],
    },
    FileType {
        mime: "video/webm",
        kind: AttachmentKind::Video,
        extensions: &["webm"],
    },
];

/// The known type with this media type.
pub fn known_type(mime: &str) -> Option<&'static FileType> {
    KNOWN_TYPES
        .iter()
        .find(|t| t.mime.eq_ignore_ascii_case(mime))
}

/// Why a file was refused before it was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The bytes are of no allowed type (`detected` names what they look like, if known).
    NotAllowed { detected: Option<String> },
    /// The client's Content-Type or file-name extension names another type than the
    /// bytes are.
    Mismatch {
        claimed: String,
        detected: &'static str,
    },
}

/// The type of a file from its first bytes (`head`, at most [`SNIFF_BYTES`] unless the
/// file is shorter) and its sanitised name. Binary formats are recognised by their
/// signatures; anything without one is text if it is UTF-8 without NUL or other control
/// characters and is not markup (HTML, SVG, XML are refused, since browsers execute them).
/// `text/csv` versus `text/plain` is the one decision the extension makes: both are text.
pub(crate) fn detect(head: &[u8], filename: &str) -> Result<&'static FileType, Refusal> {
    let by_magic = if infer::image::is_jpeg(head) {
        Some("image/jpeg")
    } else if infer::image::is_png(head) {
        Some("image/png")
    } else if infer::image::is_gif(head) {
        Some("image/gif")
    } else if infer::image::is_webp(head) {
        Some("image/webp")
    } else if infer::archive::is_pdf(head) {
        Some("application/pdf")
    } else if infer::doc::is_docx(head) {
        Some("application/vnd.openxmlformats-officedocument.wordprocessingml.document")
    } else if infer::audio::is_mp3(head) {
        Some("audio/mpeg")
    } else if infer::audio::is_ogg(head) || infer::audio::is_ogg_opus(head) {
        Some("audio/ogg")
    } else if infer::audio::is_m4a(head) {
        Some("audio/mp4")
    } else if infer::video::is_mp4(head) {
        Some("video/mp4")
    } else if infer::video::is_webm(head) {
        Some("video/webm")
    } else {
        None
    };
    if let Some(mime) = by_magic {
        return known_type(mime).ok_or(Refusal::NotAllowed {
            detected: Some(mime.to_owned()),
        });
    }
    if let Some(other) = infer::get(head) {
        return Err(Refusal::NotAllowed {
            detected: Some(other.mime_type().to_owned()),
        });
    }
    if !looks_like_text(head) {
        return Err(Refusal::NotAllowed { detected: None });
    }
    if is_markup(head) {
        return Err(Refusal::NotAllowed {
            detected: Some("text/html".to_owned()),
        });
    }
    let mime = if extension(filename).as_deref() == Some("csv") {
        "text/csv"
    } else {
        "text/plain"
    };
    known_type(mime).ok_or(Refusal::NotAllowed { detected: None })
}

/// Checks the client's claims against the detected type: a specific part Content-Type
/// (not `application/octet-stream`) must be the detected one (text types may claim each
/// other), and a file-name extension must be one of the detected type's.
pub(crate) fn check_claims(
    detected: &'static FileType,
    claimed_type: Option<&str>,
    filename: &str,
) -> Result<(), Refusal> {
    let mismatch = |claimed: String| Refusal::Mismatch {
        claimed,
        detected: detected.mime,
    };
    if let Some(claimed) = claimed_type {
        let essence = claimed
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let generic = essence.is_empty() || essence == "application/octet-stream";
        let same = essence == detected.mime
            || (essence.starts_with("text/") && detected.mime.starts_with("text/"))
            || ALIASES
                .iter()
                .any(|(alias, mime)| *alias == essence && *mime == detected.mime);
        if !generic && !same {
            return Err(mismatch(essence));
        }
    }
    if let Some(extension) = extension(filename) {
        let text_to_text = detected.mime.starts_with("text/")
            && known_type("text/plain").is_some_and(|t| t.extensions.contains(&&*extension));
        if !detected.extensions.contains(&&*extension) && !text_to_text {
            return Err(mismatch(format!(".{extension}")));
        }
    }
    Ok(())
}

/// Other names clients use for the known types.
const ALIASES: &[(&str, &str)] = &[
    ("image/jpg", "image/jpeg"),
    ("image/pjpeg", "image/jpeg"),
    ("audio/mp3", "audio/mpeg"),
    ("audio/x-m4a", "audio/mp4"),
    ("audio/m4a", "audio/mp4"),
    ("audio/opus", "audio/ogg"),
    ("application/x-pdf", "application/pdf"),
];

/// The lower-cased extension of a file name, if it has one.
fn extension(filename: &str) -> Option<String> {
    let (stem, extension) = filename.rsplit_once('.')?;
    (!stem.is_empty() && !extension.is_empty()).then(|| extension.to_ascii_lowercase())
}

/// UTF-8 (a character cut at the end of `head` is allowed), no NUL and no control
/// characters other than tab, line feed, carriage return and form feed.
fn looks_like_text(head: &[u8]) -> bool {
    let text = match std::str::from_utf8(head) {
        Ok(text) => text,
        Err(err) if err.error_len().is_none() && head.len() >= SNIFF_BYTES => {
            // Cut inside a character at the sniffing boundary: valid so far.
            match std::str::from_utf8(&head[..err.valid_up_to()]) {
                Ok(text) => text,
                Err(_) => return false,
            }
        }
        Err(_) => return false,
    };
    !text.is_empty() && text.chars().all(is_text_char)
}

fn is_text_char(c: char) -> bool {
    !c.is_control() || matches!(c, '\t' | '\n' | '\r' | '\u{c}')
}

/// HTML, SVG and XML documents: text that a browser would run if it ever sniffed it.
fn is_markup(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(&head[..head.len().min(512)]).to_ascii_lowercase();
    let start = text.trim_start_matches('\u{feff}').trim_start();
    [
        "<!doctype",
        "<html",
        "<svg",
        "<?xml",
        "<script",
        "<head",
        "<body",
        "<iframe",
    ]
    .iter()
    .any(|tag| start.starts_with(tag))
}

/// Checks that the rest of a text file stays text: UTF-8 across chunk boundaries, no NUL
/// or control characters.
#[derive(Debug, Default)]
pub(crate) struct TextCheck {
    carry: Vec<u8>,
}

impl TextCheck {
    /// Feeds the next bytes; `false` as soon as they are not text.
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> bool {
        self.carry.extend_from_slice(bytes);
        let (valid, rest) = match std::str::from_utf8(&self.carry) {
            Ok(text) => (text.chars().all(is_text_char), 0),
            Err(err) if err.error_len().is_none() => {
                let upto = err.valid_up_to();
                let text = std::str::from_utf8(&self.carry[..upto]).unwrap_or_default();
                (text.chars().all(is_text_char), self.carry.len() - upto)
            }
            Err(_) => (false, 0),
        };
        let keep = self.carry.split_off(self.carry.len() - rest);
        self.carry = keep;
        valid
    }

    /// `false` if the file ended inside a character.
    pub(crate) fn finish(&self) -> bool {
        self.carry.is_empty()
    }
}

/// A safe file name from what the client sent: the last path component only, no control
/// or bidirectional-override characters, no characters that are special in file systems
/// or headers, no leading dots or spaces, at most 200 characters (keeping the extension).
/// Empty results become `file`.
pub fn sanitize_filename(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last
        .chars()
        .filter(|c| {
            !c.is_control()
                && !matches!(
                    c,
                    '<' | '>' | ':' | '"' | '|' | '?' | '*' | ';' | '\u{200e}'..='\u{200f}'
                        | '\u{202a}'..='\u{202e}'
                        | '\u{2066}'..='\u{2069}'
                )
        })
        .collect();
    let trimmed = cleaned
        .trim_start_matches(['.', ' '])
        .trim_end_matches(['.', ' '])
        .to_owned();
    let name = if trimmed.chars().count() > MAX_FILENAME_CHARS {
        match trimmed.rsplit_once('.') {
            Some((stem, extension)) if extension.chars().count() <= 10 => {
                let keep = MAX_FILENAME_CHARS - extension.chars().count() - 1;
                format!(
                    "{}.{extension}",
                    stem.chars().take(keep).collect::<String>()
                )
            }
            _ => trimmed.chars().take(MAX_FILENAME_CHARS).collect(),
        }
    } else {
        trimmed
    };
    if name.is_empty() {
        "file".to_owned()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filenames_are_sanitised() {
        let cases = [
            ("report.pdf", "report.pdf"),
            ("../../etc/passwd", "passwd"),
            ("..\\..\\windows\\system32\\cmd.exe", "cmd.exe"),
            (".htaccess", "htaccess"),
            ("...", "file"),
            ("", "file"),
            ("a\u{0}b\r\nc.txt", "abc.txt"),
            ("inv\u{202e}fdp.exe", "invfdp.exe"),
            ("what?.txt", "what.txt"),
            ("Übersicht März.pdf", "Übersicht März.pdf"),
            ("照片.jpg", "照片.jpg"),
        ];
        for (raw, expected) in cases {
            assert_eq!(sanitize_filename(raw), expected, "{raw:?}");
        }
        let long = format!("{}.pdf", "x".repeat(500));
        let kept = sanitize_filename(&long);
        assert_eq!(kept.chars().count(), 200);
        assert!(kept.ends_with(".pdf"));
    }

    #[test]
    fn text_is_detected_and_markup_refused() {
        assert_eq!(
            detect(b"hello, world\n", "a.txt").map(|t| t.mime),
            Ok("text/plain")
        );
        assert_eq!(
            detect(b"a,b\n1,2\n", "data.csv").map(|t| t.mime),
            Ok("text/csv")
        );
        assert!(detect(b"<!DOCTYPE html><script>", "x").is_err());
        assert!(detect(b"\x00\x01\x02binary", "x.txt").is_err());
        // An executable is recognised and refused.
        assert_eq!(
            detect(
                b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff",
                "x.exe"
            ),
            Err(Refusal::NotAllowed {
                detected: Some("application/vnd.microsoft.portable-executable".into())
            })
        );
    }

    #[test]
    fn claims_must_match_the_bytes() {
        let png = known_type("image/png").expect("known");
        assert!(check_claims(png, Some("image/png"), "a.png").is_ok());
        assert!(check_claims(png, Some("application/octet-stream"), "a").is_ok());
        assert!(check_claims(png, None, "a.PNG").is_ok());
        assert!(check_claims(png, Some("image/jpeg"), "a.png").is_err());
        assert!(check_claims(png, None, "a.jpg").is_err());
        assert!(check_claims(png, None, "a.exe").is_err());
        let text = known_type("text/plain").expect("known");
        assert!(check_claims(text, Some("text/markdown"), "notes.md").is_ok());
        assert!(check_claims(text, None, "page.html").is_err());
    }

    #[test]
    fn text_check_spans_chunks() {
        let text = "grüße 照片".as_bytes();
        let mut check = TextCheck::default();
        for chunk in text.chunks(1) {
            assert!(check.feed(chunk));
        }
        assert!(check.finish());
        let mut check = TextCheck::default();
        assert!(!check.feed(b"ok\x00"));
        let mut check = TextCheck::default();
        assert!(check.feed(&text[..2]));
        assert!(check.feed(&text[2..3]));
        assert!(!check.finish());
    }
}
