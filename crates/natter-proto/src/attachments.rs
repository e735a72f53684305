//! Uploaded files: what `POST /v1/uploads` and `GET /v1/attachments/{id}` return, and the
//! summary a message carries.

use serde::{Deserialize, Serialize};

use crate::conversations::wire_enum;
use crate::{AttachmentId, ConversationId, MessageId, MessageType, UserId};

wire_enum!(
    /// What an attachment is, as detected from its bytes.
    AttachmentKind {
        /// JPEG, PNG, GIF or WebP: has width, height and a thumbnail.
        Image => "image",
        /// A document: PDF, DOCX, plain text or CSV.
        File => "file",
        /// MP4 or WebM video.
        Video => "video",
        /// MP3, OGG or M4A audio.
        Audio => "audio",
    }
);

impl AttachmentKind {
    /// The message type of a message with attachments of these kinds: `image` when all
    /// are images; otherwise `video` if any is a video, then `audio`, then `file`.
    pub fn message_type(kinds: impl IntoIterator<Item = Self>) -> MessageType {
        let (mut all_images, mut video, mut audio, mut any) = (true, false, false, false);
        for kind in kinds {
            any = true;
            all_images &= kind == Self::Image;
            video |= kind == Self::Video;
            audio |= kind == Self::Audio;
        }
        match () {
            _ if !any => MessageType::Text,
            _ if all_images => MessageType::Image,
            _ if video => MessageType::Video,
            _ if audio => MessageType::Audio,
            _ => MessageType::File,
        }
    }
}

wire_enum!(
    /// Virus-scan state of an attachment.
    ScanStatus {
        /// Not scanned yet (the scanner did not answer); served only when the server
        /// allows it (`attachments.serve_pending`).
        Pending => "pending",
        /// The scanner found nothing.
        Clean => "clean",
        /// The scanner found malware: never served, and cannot be attached.
        Infected => "infected",
        /// No scanner is configured.
        Skipped => "skipped",
    }
);

/// An attachment as a message carries it: fixed when the message is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessageAttachment {
    /// Attachment id (`GET /v1/attachments/{id}` for the download URL).
    pub id: AttachmentId,
    /// Kind, detected from the bytes.
    pub kind: AttachmentKind,
    /// Media type, detected from the bytes.
    pub content_type: String,
    /// Sanitised file name.
    pub filename: String,
    /// Size in bytes.
    pub size: u64,
    /// Image width in pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Image height in pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// A thumbnail (JPEG, at most 320 px) exists.
    #[serde(default)]
    pub has_thumbnail: bool,
}

/// An uploaded file: `POST /v1/uploads` and `GET /v1/attachments/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Attachment {
    /// Id (UUIDv7).
    pub id: AttachmentId,
    /// Kind, detected from the bytes.
    pub kind: AttachmentKind,
    /// Media type, detected from the bytes (never the client's claim).
    pub content_type: String,
    /// Sanitised file name.
    pub filename: String,
    /// Size in bytes.
    pub size: u64,
    /// Image width in pixels.
    pub width: Option<u32>,
    /// Image height in pixels.
    pub height: Option<u32>,
    /// Virus-scan state.
    pub scan_status: ScanStatus,
    /// Who uploaded it.
    pub uploader_id: UserId,
    /// The conversation of the message it is attached to (absent until attached).
    pub conversation_id: Option<ConversationId>,
    /// The message it is attached to (absent until attached).
    pub message_id: Option<MessageId>,
    /// Upload time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: time::OffsetDateTime,
    /// Signed download URL (absent while the file may not be served: infected, or
    /// pending scan when pending files are not served).
    pub url: Option<String>,
    /// Signed URL of the thumbnail (images only).
    pub thumbnail_url: Option<String>,
    /// When the signed URLs stop working.
    #[serde(with = "time::serde::rfc3339::option")]
    pub url_expires_at: Option<time::OffsetDateTime>,
}

/// The multipart body of `POST /v1/uploads` (for the OpenAPI document).
#[derive(Debug, Clone)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UploadForm {
    /// The file. Its type is detected from the bytes; a part `Content-Type` or file-name
    /// extension that contradicts the bytes is rejected (415 `attachment_type_mismatch`).
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Binary))]
    pub file: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_type_follows_the_attachments() {
        use AttachmentKind::*;
        assert_eq!(
            AttachmentKind::message_type([Image, Image]),
            MessageType::Image
        );
        assert_eq!(
            AttachmentKind::message_type([Image, File]),
            MessageType::File
        );
        assert_eq!(
            AttachmentKind::message_type([Audio, File]),
            MessageType::Audio
        );
        assert_eq!(
            AttachmentKind::message_type([Audio, Video]),
            MessageType::Video
        );
        assert_eq!(AttachmentKind::message_type([]), MessageType::Text);
    }
}
