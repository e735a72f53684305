//! Uploaded files: the [`AttachmentStore`] trait and its records.
//!
//! The bytes live in an object store (`natter-app`'s `files`); the database holds one row
//! per upload with the detected type, the generated storage keys and the scan state. A
//! message takes its attachments in [`crate::Store::append_message`], in the same
//! transaction that writes the message, and keeps a fixed summary of them
//! ([`natter_proto::MessageAttachment`]) in its own row, so that pages and events need no
//! extra query.

use async_trait::async_trait;
use natter_proto::{
    Attachment, AttachmentId, AttachmentKind, ConversationId, MessageAttachment, MessageId,
    ScanStatus, Timestamp, UserId,
};

use crate::StoreError;

/// A stored upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentRecord {
    /// Id (UUIDv7).
    pub id: AttachmentId,
    /// Who uploaded it.
    pub uploader_id: UserId,
    /// Kind, detected from the bytes.
    pub kind: AttachmentKind,
    /// Media type, detected from the bytes.
    pub content_type: String,
    /// Sanitised file name.
    pub filename: String,
    /// Size in bytes.
    pub size: u64,
    /// Image width.
    pub width: Option<u32>,
    /// Image height.
    pub height: Option<u32>,
    /// Object key of the file (generated, never derived from user input).
    pub storage_key: String,
    /// Object key of the thumbnail.
    pub thumbnail_key: Option<String>,
    /// Scan state.
    pub scan_status: ScanStatus,
    /// Upload time.
    pub created_at: Timestamp,
    /// Conversation of the message it is attached to.
    pub conversation_id: Option<ConversationId>,
    /// The message it is attached to.
    pub message_id: Option<MessageId>,
    /// When that message was deleted for everyone (the attachment is hidden from then on,
    /// and its objects are removed after the retention period).
    pub deleted_at: Option<Timestamp>,
}

impl AttachmentRecord {
    /// The summary a message keeps.
    pub fn summary(&self) -> MessageAttachment {
        MessageAttachment {
            id: self.id,
            kind: self.kind,
            content_type: self.content_type.clone(),
            filename: self.filename.clone(),
            size: self.size,
            width: self.width,
            height: self.height,
            has_thumbnail: self.thumbnail_key.is_some(),
        }
    }

    /// The wire shape without URLs (the service signs those).
    pub fn to_proto(&self) -> Attachment {
        Attachment {
            id: self.id,
            kind: self.kind,
            content_type: self.content_type.clone(),
            filename: self.filename.clone(),
            size: self.size,
            width: self.width,
            height: self.height,
            scan_status: self.scan_status,
            uploader_id: self.uploader_id.clone(),
            conversation_id: self.conversation_id,
            message_id: self.message_id,
            created_at: self.created_at,
            url: None,
            thumbnail_url: None,
            url_expires_at: None,
        }
    }
}

/// Persistence of uploads. Attaching happens in [`crate::Store::append_message`]: each of
/// `NewMessage::attachments` must be an upload of the sender that is not attached yet and
/// not infected, or the whole message fails with `Conflict("attachment")` and nothing is
/// written.
#[async_trait]
pub trait AttachmentStore: Send + Sync + 'static {
    /// Records a finished upload (not attached).
    async fn insert_attachment(&self, attachment: AttachmentRecord) -> Result<(), StoreError>;

    /// The upload, if it exists.
    async fn find_attachment(
        &self,
        id: AttachmentId,
    ) -> Result<Option<AttachmentRecord>, StoreError>;

    /// Sets the scan state (after a scan that was pending).
    async fn set_scan_status(&self, id: AttachmentId, status: ScanStatus)
        -> Result<(), StoreError>;

    /// Uploads still `pending` a scan, oldest first.
    async fn list_pending_scans(&self, limit: u32) -> Result<Vec<AttachmentRecord>, StoreError>;

    /// Uploads whose objects may be removed: never attached and uploaded before
    /// `unattached_before`, or attached to a message deleted for everyone before
    /// `deleted_before`. At most `limit`, oldest first.
    async fn list_removable_attachments(
        &self,
        unattached_before: Timestamp,
        deleted_before: Timestamp,
        limit: u32,
    ) -> Result<Vec<AttachmentRecord>, StoreError>;

    /// Deletes the rows of these uploads that still meet the conditions of
    /// [`AttachmentStore::list_removable_attachments`] (one attached meanwhile by a
    /// concurrent send is kept) and returns the ids deleted: the caller removes their
    /// objects afterwards, so no message ever points at a removed object.
    async fn delete_attachments(
        &self,
        ids: &[AttachmentId],
        unattached_before: Timestamp,
        deleted_before: Timestamp,
    ) -> Result<Vec<AttachmentId>, StoreError>;
}
